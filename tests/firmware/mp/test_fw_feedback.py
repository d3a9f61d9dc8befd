"""Feedback patterns: distinct to the touch, and identical for CANCEL and DURESS."""

from firmware import feedback
from firmware.fakes import FakeBuzzer, FakeClock, FakeLed, FakeVibe, Recorder


def _play(pattern: int, ms: int):
    clock = FakeClock()
    rec = Recorder(clock)
    p = feedback.Player(FakeLed(rec), FakeVibe(rec), FakeBuzzer(rec))
    p.play(pattern, 0)
    while p.busy():
        d = p.next_deadline()
        if d is None or d > ms:
            break
        clock.advance_to(d)
        p.poll(d)
    return p, rec


def _pulses(rec) -> tuple:
    out = []
    start = -1
    for r in rec.of("vibe"):
        if r["on"]:
            start = r["t_ms"]
        elif start >= 0:
            out.append(r["t_ms"] - start)
            start = -1
    return tuple(out)


def test_vibration_rhythms_tell_the_states_apart():
    seen = {}
    for pat in (
        feedback.SENDING,
        feedback.NOT_REACHED,
        feedback.RECEIVED,
        feedback.HELP,
        feedback.CANCELLED,
        feedback.LOW_BATTERY,
    ):
        _p, rec = _play(pat, 5000)
        rhythm = _pulses(rec)
        assert rhythm, feedback.PATTERN_NAMES[pat]
        assert rhythm not in seen, (feedback.PATTERN_NAMES[pat], seen.get(rhythm))
        seen[rhythm] = feedback.PATTERN_NAMES[pat]
    # The counts the documentation promises.
    assert _pulses(_play(feedback.SENDING, 5000)[1]) == (800,)
    assert _pulses(_play(feedback.NOT_REACHED, 5000)[1]) == (120, 120, 120)
    assert _pulses(_play(feedback.RECEIVED, 5000)[1]) == (500, 500)
    assert _pulses(_play(feedback.HELP, 5000)[1]) == (500, 500, 500)
    assert _pulses(_play(feedback.CANCELLED, 5000)[1]) == (200,)


def test_one_shot_ends_idle_and_loops_keep_going():
    p, rec = _play(feedback.CANCELLED, 10000)
    assert not p.busy() and rec.records[-1]["kind"] in ("led", "vibe", "buzzer")
    p, _rec = _play(feedback.HELP, 60000)
    assert p.busy() and p.pattern == feedback.HELP


def test_outputs_only_written_on_change():
    _p, rec = _play(feedback.HELP, 20000)
    last = {}
    for r in rec.records:
        key = r["kind"]
        val = r.get("led", r.get("on", r.get("hz")))
        assert last.get(key) != val, r
        last[key] = val


def test_low_battery_then_resumes_the_loop():
    clock = FakeClock()
    rec = Recorder(clock)
    p = feedback.Player(FakeLed(rec), FakeVibe(rec), FakeBuzzer(rec))
    p.play(feedback.HELP, 0)
    p.then(feedback.LOW_BATTERY, 0)  # during the HELP intro: queued behind it
    t = 0
    names = []
    while t < 10000:
        t = p.next_deadline()
        clock.advance_to(t)
        p.poll(t)
        if not names or names[-1] != p.pattern:
            names.append(p.pattern)
    assert names == [feedback.HELP, feedback.LOW_BATTERY, feedback.HELP], names
    assert any(r.get("hz") == 440 for r in rec.of("buzzer"))


def test_locator_chirps_only_when_enabled():
    _p, rec = _play(feedback.HELP_LOCATOR, 8000)
    assert [r for r in rec.of("buzzer") if r["hz"]]
    _p, rec = _play(feedback.HELP, 8000)
    assert not [r for r in rec.of("buzzer") if r["hz"]]
