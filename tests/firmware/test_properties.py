"""Property tests (hypothesis, CPython) for the press recogniser, the counter store and the ledger."""

from hypothesis import example, given, settings
from hypothesis import strategies as st

from firmware import press
from firmware.airtime import SUB_BANDS, UPLINK_CHANNELS, AirtimeLedger, sub_band, time_on_air_ms
from firmware.counter_store import CounterStore
from firmware.fakes import FakeStorage
from firmware.press import PressConfig
from protocol.constants import (
    ACK_CANCELLED,
    ACK_HELP_ON_THE_WAY,
    ACK_RECEIVED,
    COUNTER_BLOCK,
    EVENT_CANCEL,
    EVENT_DURESS,
    EVENT_ESCORT,
    EVENT_SOS,
)
from tests.firmware.mp.cuts import take_through_cut
from tests.firmware.mp.pressing import drive

CFG = PressConfig()


def _drive(edges: list[tuple[int, bool]], until: int) -> list[tuple[int, int, str]]:
    """Deadline-driven, as the device runs: poll at each edge and at each deadline."""
    return drive(CFG, edges, until, by_deadline=True)


presses_st = st.lists(st.tuples(st.integers(1, 4000), st.integers(1, 3000)), min_size=1, max_size=12)


def _edges(spans: list[tuple[int, int]]) -> tuple[list[tuple[int, bool]], list[tuple[int, int]]]:
    edges = []
    downs = []
    t = 0
    for gap, length in spans:
        t += gap
        edges.append((t, True))
        edges.append((t + length, False))
        downs.append((t, length))
        t += length
    return edges, downs


@given(presses_st)
@settings(max_examples=300, deadline=None)
def test_hold_fires_exactly_for_presses_reaching_hold(spans: list[tuple[int, int]]) -> None:
    edges, downs = _edges(spans)
    out = _drive(edges, edges[-1][0] + 5000)
    holds = [t for t, g, _w in out if g == press.HOLD]
    # Releases shorter than debounce merge presses; compute the merged presses the same way.
    merged: list[list[int]] = []
    for t, length in downs:
        if merged and t - merged[-1][1] < CFG.debounce_ms:
            merged[-1][1] = t + length
        else:
            merged.append([t, t + length])
    # A release at the very instant the hold completes is a tie, and the release wins.
    expected = [a + CFG.hold_ms for a, b in merged if b - a > CFG.hold_ms]
    assert len(holds) == len(expected)
    for fired, due in zip(holds, expected, strict=True):
        # On time, or, when a release was pending at that instant, as soon as it proves to be a bounce.
        assert due <= fired < due + CFG.debounce_ms


@given(presses_st)
@example([(100, 100)] * 8 + [(100, 800)])  # eight clicks and a long press: nine, one too many (found by hypothesis)
@settings(max_examples=300, deadline=None)
def test_words_are_well_formed_and_never_during_a_press(spans: list[tuple[int, int]]) -> None:
    edges, _downs = _edges(spans)
    out = _drive(edges, edges[-1][0] + 5000)
    for _t, g, word in out:
        if g == press.WORD:
            assert word and len(word) <= CFG.max_presses
            assert set(word) <= {"S", "L"} and "L" not in word[:-1]


@given(st.text(alphabet="S", min_size=1, max_size=8).flatmap(lambda w: st.sampled_from([w, w[:-1] + "L"])), st.data())
@settings(max_examples=300, deadline=None)
def test_any_word_pressed_within_tolerances_is_recognised(word: str, data: st.DataObject) -> None:
    edges = []
    t = 100
    for c in word:
        length = data.draw(
            st.integers(CFG.debounce_ms + 5, CFG.click_max_ms - 40)
            if c == "S"
            else st.integers(CFG.click_max_ms + 5, CFG.arm_ms - 1)
        )
        edges.append((t, True))
        edges.append((t + length, False))
        t += length + data.draw(st.integers(CFG.debounce_ms + 5, CFG.gap_ms - 40))
    out = _drive(edges, t + 3000)
    assert [(g, w) for _t, g, w in out] == [(press.WORD, word)]


ops_st = st.lists(
    st.one_of(
        st.tuples(st.just("take"), st.integers(1, 20)),
        st.tuples(st.just("cut"), st.integers(0, 12)),
        st.tuples(st.just("reboot"), st.just(0)),
        st.tuples(st.just("sleep"), st.just(0)),
    ),
    max_size=30,
)


@given(ops_st, st.booleans(), st.integers(1, 1000))
@settings(max_examples=400, deadline=None)
def test_counter_never_repeats_and_skips_at_most_a_block(ops: list[tuple[str, int]], erased: bool, start: int) -> None:
    storage = FakeStorage(erased)
    cs = CounterStore(storage, start)
    issued: list[int] = []
    for op, n in ops:
        if op == "take":
            for _ in range(n):
                issued.append(cs.take())
        elif op == "cut":
            take_through_cut(storage, cs, n, issued)
            cs = CounterStore(storage, start)
        elif op == "sleep":
            # Deep sleep: RAM is lost, RTC memory keeps the next counter and the reservation it lives in.
            before = cs.peek()
            kept = (cs.peek(), cs.reserved)
            cs = CounterStore(storage, start)
            resumed = cs.resume(*kept)
            assert not resumed or cs.peek() == before  # a wake skips nothing
        else:
            cs = CounterStore(storage, start)
        nxt = cs.peek()
        if issued:
            # At most one block of counters goes unused: a cut right after reserving the next block loses that
            # block, and the server's lookahead (16) absorbs it.
            assert issued[-1] < nxt <= issued[-1] + 1 + COUNTER_BLOCK
    assert issued == sorted(set(issued))


@given(st.lists(st.tuples(st.integers(0, 30000), st.sampled_from([7, 9, 12])), max_size=120))
@settings(max_examples=150, deadline=None)
def test_ledger_keeps_every_band_within_its_hourly_budget(sends: list[tuple[int, int]]) -> None:
    led = AirtimeLedger(0)
    t = 0
    log: list[tuple[int, int, float]] = []
    for k, (gap, sf) in enumerate(sends):
        t += gap
        freq, wait = led.pick(UPLINK_CHANNELS, t, k)
        t += wait
        toa = time_on_air_ms(24, sf)
        led.record(freq, toa, t)
        log.append((t, sub_band(freq), toa))
    # Any one-hour window starting at a transmission.
    for start, _b, _toa in log:
        for band in (1, 2):
            used = sum(toa for t0, b, toa in log if b == band and start <= t0 < start + 3600000)
            budget = SUB_BANDS[band][2] / 10000 * 3600000
            assert used <= budget + 1483


actions_st = st.lists(
    st.tuples(
        st.sampled_from(["press", "ack_received", "ack_help", "ack_cancelled", "battery", "wait"]),
        st.integers(20, 5000),
    ),
    max_size=25,
)


@given(actions_st)
@settings(max_examples=60, deadline=None)
def test_keyring_frames_are_consistent_whatever_the_wearer_does(actions: list[tuple[str, int]]) -> None:
    from tests.firmware.mp.sim import Sim

    s = Sim()
    states = {"ack_received": ACK_RECEIVED, "ack_help": ACK_HELP_ON_THE_WAY, "ack_cancelled": ACK_CANCELLED}
    for action, n in actions:
        if action == "press":
            s.press(n, 150)
        elif action == "battery":
            s.board.battery.level = n % 101
        elif action == "wait":
            s.run_for(n * 10)
        else:
            target = s.app.alarm or s.app.cancel
            if target is not None:
                s.ack(states[action], counter=target.counter)
            s.run_for(n)
    s.run_for(30000)
    by_counter: dict[int, int] = {}
    for r in s.records("radio"):
        up = s.decode(r["frame"])
        assert by_counter.setdefault(up.counter, up.event) == up.event  # one counter, one event
        if up.event in (EVENT_CANCEL, EVENT_DURESS):
            assert by_counter[up.cancels] in (EVENT_SOS, EVENT_ESCORT)
    # And the LoRa copies obeyed the duty cycle.
    last: dict[int, int] = {}
    for r in s.frames("lora"):
        band = sub_band(r["freq_hz"])
        if band in last:
            assert r["t_ms"] - last[band] >= 100 * r["toa_ms"] - 1
        last[band] = r["t_ms"]


# Chi-square of eight channel counts against an even spread, 7 degrees of freedom: 24.3 has probability 0.001 for
# channels drawn independently at random (the walk is more even than that); all on one channel gives 7 x n.
CHI2_BOUND = 24.3


def _chi2(counts: list[int]) -> float:
    n = sum(counts)
    e = n / len(counts)
    return sum((c - e) ** 2 / e for c in counts)


@given(
    st.integers(1, 0xFFFFFFFF),
    st.integers(1, 0xFFFF0000),
    st.lists(st.tuples(st.integers(0, 47), st.integers(2, 90)), max_size=4),
)
@settings(max_examples=25, deadline=None)
def test_channels_even_and_duty_cycle_kept_over_many_wakes(
    device_id: int, counter_start: int, alarms: list[tuple[int, int]]
) -> None:
    # 48 wakes from deep sleep, each sending a heartbeat from a Keyring rebuilt from RTC memory; before wake k of
    # an (k, n) in ``alarms`` the wearer holds an SOS that stays unanswered for n s (copies 2-60 s apart, both bands
    # in use), then is answered, and the cancel window runs out.
    from tests.firmware.mp.sim import Sim

    s = Sim(settings={"heartbeat_min": 1}, counter_start=counter_start, device_id=device_id)
    alarm_frames: set[int] = set()
    for k in range(48):
        for at, n in alarms:
            if at == k:
                first = len(s.frames("lora"))
                s.press(2100)
                s.run_for(n * 1000)
                while not s.ack(ACK_HELP_ON_THE_WAY):  # not heard while the modem is sending a copy
                    s.run_for(300)
                s.run_for(16 * 60000)
                alarm_frames.update(range(first, len(s.frames("lora"))))
        while not s.sleep_and_wake():
            pass
    lora = s.frames("lora")
    # Evenness over the heartbeats: an alarm's copies alternate the two sub-bands as the duty cycle forces, and the
    # bands hold three and five channels, so their copies cannot be even over the eight.
    counts = [0] * len(UPLINK_CHANNELS)
    for i in range(1, len(lora)):  # after the boot frame
        if i not in alarm_frames:
            counts[UPLINK_CHANNELS.index(lora[i]["freq_hz"])] += 1
    assert sum(counts) >= 48  # one more when the cancel window closed shortly before a heartbeat was due
    assert _chi2(counts) < CHI2_BOUND, counts
    last: dict[int, int] = {}
    for r in lora:
        band = sub_band(r["freq_hz"])
        if band in last:
            assert r["t_ms"] - last[band] >= 100 * r["toa_ms"] - 1, (band, r["t_ms"], last[band])
        last[band] = r["t_ms"]
