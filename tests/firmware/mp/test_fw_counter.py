"""Counters never repeat: a power cut at every byte of every write, on two kinds of flash (SPEC 7.1)."""

from firmware.counter_store import NAMES, RECORD_SIZE, CounterStore, pack, unpack
from firmware.fakes import FakeStorage, PowerCut
from protocol.constants import COUNTER_BLOCK
from tests.firmware.mp.cuts import take_through_cut


def test_record_round_trip_and_torn_records():
    rec = pack(1234)
    assert len(rec) == RECORD_SIZE and unpack(rec) == 1234
    assert unpack(None) == -1
    assert unpack(rec[:-1]) == -1
    for i in range(RECORD_SIZE):
        torn = bytearray(rec)
        torn[i] ^= 0x10
        assert unpack(bytes(torn)) == -1, i


def test_fresh_store_starts_at_start_and_reserves_blocks():
    st = FakeStorage()
    cs = CounterStore(st, 1)
    got = [cs.take() for _ in range(20)]
    assert got == list(range(1, 21))
    assert st.writes == 3  # 1-8, 9-16, 17-24


def test_reboot_skips_at_most_one_block():
    st = FakeStorage()
    cs = CounterStore(st, 1)
    for _ in range(3):
        last = cs.take()
    cs2 = CounterStore(st, 1)
    nxt = cs2.take()
    assert last < nxt <= last + COUNTER_BLOCK


def test_counter_start_from_provisioning():
    st = FakeStorage()
    assert CounterStore(st, 500).take() == 500
    # A stored mark above the provisioned start wins.
    assert CounterStore(st, 1).take() == 500 + COUNTER_BLOCK


def _cut_everywhere(erased: bool) -> int:
    """Take counters; at each write, cut the power at every byte in turn; check no counter repeats."""
    checked = 0
    for warmup in range(0, 3 * COUNTER_BLOCK + 2):
        for cut in range(RECORD_SIZE + 1):
            st = FakeStorage(erased)
            cs = CounterStore(st, 1)
            issued = []
            for _ in range(warmup):
                issued.append(cs.take())
            take_through_cut(st, cs, cut, issued)
            # Power back: a new store, a few more counters, and a second cut-free reboot.
            cs = CounterStore(st, 1)
            for _ in range(COUNTER_BLOCK + 3):
                issued.append(cs.take())
            cs = CounterStore(st, 1)
            issued.append(cs.take())
            for i in range(1, len(issued)):
                assert issued[i] > issued[i - 1], (erased, warmup, cut, issued)
            checked += 1
    return checked


def test_power_cut_at_every_byte_keeps_old_bytes():
    assert _cut_everywhere(False) > 300


def test_power_cut_at_every_byte_after_erase():
    assert _cut_everywhere(True) > 300


def test_cut_during_first_ever_write_restarts_from_start():
    st = FakeStorage()
    cs = CounterStore(st, 1)
    st.cut_after(5)
    try:
        cs.take()
    except PowerCut:
        pass
    else:
        raise AssertionError("no cut")
    assert unpack(st.read(NAMES[1])) == -1  # torn
    # Nothing was returned, so starting at 1 again reuses nothing.
    assert CounterStore(st, 1).take() == 1


def test_an_exhausted_store_keeps_nothing_to_resume_and_stays_exhausted_after_a_wake():
    # RTC memory holds 32 bits a field; an exhausted store's next counter is one past the last and does not fit.
    from firmware.counter_store import CounterExhaustedError
    from protocol.constants import COUNTER_MAX

    st = FakeStorage()
    cs = CounterStore(st, COUNTER_MAX - 1)
    assert [cs.take(), cs.take()] == [COUNTER_MAX - 1, COUNTER_MAX]
    assert cs.retained() == (0, 0)
    woken = CounterStore(st, 1)
    assert not woken.resume(*cs.retained())
    try:
        woken.take()
    except CounterExhaustedError:
        pass
    else:
        raise AssertionError("a counter was handed out again after exhaustion")


def test_a_store_in_use_keeps_its_block_for_the_wake():
    st = FakeStorage()
    cs = CounterStore(st, 1)
    cs.take()
    nxt, reserved = cs.retained()
    assert (nxt, reserved) == (2, COUNTER_BLOCK)
    woken = CounterStore(st, 1)
    assert woken.resume(nxt, reserved) and woken.take() == 2
