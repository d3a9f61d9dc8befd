"""The server's resolver: O(1) by pseudonym, sliding with accepted counters, recovering after unheard frames."""

import os

import pytest

from basestation.pseudonyms.resolver import SLIDE_STEP, Resolver, search_key
from protocol import uplink
from protocol.constants import EVENT_HEARTBEAT, EVENT_SOS, LOOKAHEAD, LOOKBEHIND, RECOVERY_HORIZON
from protocol.errors import FrameError
from protocol.keys import DeviceKeys

HELD = LOOKAHEAD + SLIDE_STEP - 1  # a fresh device's pseudonyms: SPEC 7.3's lookahead, plus the slide's step


def _frame(root: bytes, counter: int, device_id: int = 1, event: int = EVENT_SOS) -> bytes:
    return uplink.encode(DeviceKeys(root), uplink.Uplink(counter, device_id, event))


@pytest.fixture
def fleet() -> tuple[Resolver, dict[int, bytes]]:
    r = Resolver()
    roots = {i: os.urandom(16) for i in range(1, 51)}
    for i, root in roots.items():
        r.add(i, root)
    return r, roots


def test_resolves_every_device_and_counter_in_its_lookahead(fleet: tuple[Resolver, dict[int, bytes]]) -> None:
    r, roots = fleet
    assert r.table_size == 50 * HELD
    for i, root in roots.items():
        for c in (1, LOOKAHEAD):
            got = r.resolve(_frame(root, c, i))
            assert (got.device_id, got.counter) == (i, c)


def test_table_slides_with_accepted_counters(fleet: tuple[Resolver, dict[int, bytes]]) -> None:
    r, roots = fleet
    assert r.resolve(_frame(roots[3], 10, 3)).device_id == 3
    assert r.accept(3, 10) == "accept"
    assert r.window(3) == range(10 - LOOKBEHIND + 1, 10 + HELD + 1)
    assert r.table_size == 49 * HELD + LOOKBEHIND + HELD
    assert r.resolve(_frame(roots[3], 10 + LOOKAHEAD, 3)).counter == 10 + LOOKAHEAD
    # A late copy of the accepted counter still resolves, and the replay window calls it what it is.
    copy = r.resolve(_frame(roots[3], 10, 3))
    assert r.accept(copy.device_id, copy.counter) == "replay"
    with pytest.raises(FrameError) as e:
        r.resolve(_frame(roots[3], 10 - LOOKBEHIND, 3))
    assert e.value.reason == "unknown_device"


def test_forged_mic_and_unknown_device_are_told_apart(fleet: tuple[Resolver, dict[int, bytes]]) -> None:
    r, roots = fleet
    forged = bytearray(_frame(roots[1], 2))
    forged[-1] ^= 1
    with pytest.raises(FrameError) as e:
        r.resolve(bytes(forged))
    assert e.value.reason == "mic"
    with pytest.raises(FrameError) as e:
        r.resolve(_frame(os.urandom(16), 2))
    assert e.value.reason == "unknown_device"


def test_recovers_a_device_that_sent_many_unheard_frames(fleet: tuple[Resolver, dict[int, bytes]]) -> None:
    r, roots = fleet
    far = 1 + LOOKAHEAD + 3000  # three thousand heartbeats nobody heard
    frame = _frame(roots[42], far, 42, EVENT_HEARTBEAT)
    with pytest.raises(FrameError):
        r.resolve(frame)
    found = r.recover([frame, _frame(os.urandom(16), 5), b"junk"])
    assert [(f, x.device_id, x.counter) for f, x in found.items()] == [(frame, 42, far)]
    r.accept(42, far)
    # Re-centred: the next frame of that device resolves in O(1) again.
    assert r.resolve(_frame(roots[42], far + 1, 42)).counter == far + 1


def test_recovery_stops_at_its_horizon(fleet: tuple[Resolver, dict[int, bytes]]) -> None:
    r, roots = fleet
    beyond = LOOKAHEAD + RECOVERY_HORIZON + 1
    assert r.recover([_frame(roots[7], beyond, 7)]) == {}
    assert [x.counter for x in r.recover([_frame(roots[7], beyond - 1, 7)]).values()] == [beyond - 1]


def test_restored_replay_state_refuses_old_counters() -> None:
    r = Resolver()
    root = os.urandom(16)
    r.add(9, root, highest=500, bitmap=0b1)
    assert r.accept(9, r.resolve(_frame(root, 500, 9)).counter) == "replay"
    assert r.accept(9, r.resolve(_frame(root, 501, 9)).counter) == "accept"
    assert r.replay_state(9) == (501, 0b11)


def test_shared_pseudonyms_are_tried_in_turn() -> None:
    r = Resolver()
    a, b = os.urandom(16), os.urandom(16)
    r.add(1, a)
    r.add(2, b)
    # Force what a 48-bit clash would do: device 2's slot also claims device 1's pseudonym of counter 1.
    frame = _frame(a, 1, 1)
    pid = int.from_bytes(frame[1:7], "big")
    pos = r._slot_of[2] * r._span + 1 % r._span  # where device 2 keeps its counter 1
    r._table.remove(r._pids[pos], pos)
    r._table.insert(pid, pos)
    r._pids[pos] = pid
    assert sorted(r.candidates(frame[1:7])) == [(1, 1), (2, 1)]
    assert r.resolve(frame).device_id == 1
    r.remove(1)
    assert r.candidates(frame[1:7]) == [(2, 1)]
    with pytest.raises(FrameError) as e:
        r.resolve(frame)
    assert e.value.reason == "mic"


def test_removed_slots_are_reused_cleanly() -> None:
    r = Resolver()
    roots = {i: os.urandom(16) for i in range(5)}
    for i, root in roots.items():
        r.add(i, root)
    r.remove(2)
    r.add(9, roots[2])  # same key, new id: takes the freed slot
    assert 2 not in r
    assert r.resolve(_frame(roots[2], 3, 9)).device_id == 9
    assert r.table_size == 5 * HELD


def test_search_key_finds_any_counter_below_2_20() -> None:
    root = os.urandom(16)
    keys = DeviceKeys(root)
    for c in (1, 777_777, (1 << 20) - 1):
        assert search_key(keys, _frame(root, c)) == c
    with pytest.raises(FrameError) as e:
        search_key(keys, _frame(root, 1 << 20))
    assert e.value.reason == "unknown_device"


def test_the_window_moves_in_steps_and_always_covers_spec_7_3() -> None:
    # Accepting one counter after another: at every point each counter SPEC 7.3 names resolves, and the
    # pseudonyms are recomputed only once per SLIDE_STEP accepts.
    root = os.urandom(16)
    r = Resolver()
    r.add(1, root)
    slides, accepts = 0, 4 * SLIDE_STEP
    for h in range(1, accepts + 1):
        before = r.window(1)
        assert r.accept(1, h) == "accept"
        slides += r.window(1) != before
        for c in (max(1, h - LOOKBEHIND + 1), h + LOOKAHEAD):
            assert r.resolve(_frame(root, c)).counter == c
    assert slides <= accepts // SLIDE_STEP + 1
