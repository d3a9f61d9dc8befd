"""The key ring application on fakes, an alarm's life: an SOS held and sent on both radios, its copies, what
the wearer feels at each ACK (received, help on the way, unavailable, closed), forged, foreign, late and repeated
ACKs, cancel and duress alike to the wearer, ESCORT and TEST words, a new counter for every hold, and an alarm's
age across the tick counter's wrap. Heartbeats, the battery and deep sleep are test_fw_keyring_heartbeats.py's."""

from firmware import feedback
from protocol import ack
from protocol.constants import (
    ACK_CANCELLED,
    ACK_CLOSED,
    ACK_HELP_ON_THE_WAY,
    ACK_RECEIVED,
    ACK_UNAVAILABLE,
    EVENT_CANCEL,
    EVENT_DURESS,
    EVENT_ESCORT,
    EVENT_SOS,
    EVENT_TEST,
    FLAG_ACK_REQUESTED,
)
from tests.firmware.mp.keyring_cases import booted, uplinks
from tests.firmware.mp.sim import Sim


def _held_sos(then_ms: int) -> Sim:
    """A booted ring whose wearer has held SOS (2.1 s), ``then_ms`` after the release."""
    s = booted()
    s.press(2100)
    s.run_for(then_ms)
    return s


def test_sos_hold_sends_at_once_on_both_radios_with_one_counter() -> None:
    s = booted()
    s.button(True)
    t0 = s.t
    s.run_for(2000)
    sos_at = next(r["t_ms"] for r in s.records("pattern") if r["value"] == "sos")
    assert sos_at == t0 + 2000
    first = next(r for r in s.records("radio") if r["t_ms"] >= sos_at)
    assert first["t_ms"] - sos_at <= 10  # the goal: pattern to first frame within 10 ms
    s.button(False)
    s.run_for(60000)
    ble = uplinks(s, "ble", sos_at)
    lora = uplinks(s, "lora", sos_at)
    assert len(ble) >= 6 and len(lora) >= 3
    counters = set(u.counter for u in ble + lora)
    assert len(counters) == 1
    for u in ble + lora:
        assert u.event == EVENT_SOS and u.flags & FLAG_ACK_REQUESTED
    ages = [u.age for u in ble]
    assert ages == sorted(ages) and ages[-1] >= 30  # copies carry the time since the SOS


def test_lora_copies_respect_the_duty_cycle() -> None:
    s = _held_sos(300000)
    last: dict[int, int] = {}
    from firmware.airtime import sub_band

    for r in s.frames("lora"):
        band = sub_band(r["freq_hz"])
        if band in last:
            assert r["t_ms"] - last[band] >= 100 * r["toa_ms"] - 1, (band, r["t_ms"], last[band])
        last[band] = r["t_ms"]


def test_ack_received_then_help_stops_retries_and_changes_feedback() -> None:
    s = _held_sos(1000)
    assert s.ack(ACK_RECEIVED)
    t_ack = s.t
    s.run_for(4000)
    assert s.app.player.pattern == feedback.RECEIVED
    assert s.vibration(t_ack, t_ack + 2000) == [(0, 500), (800, 500)]
    assert s.ack(ACK_HELP_ON_THE_WAY)
    t_help = s.t
    s.run_for(60000)
    assert s.app.player.pattern == feedback.HELP
    assert s.vibration(t_help, t_help + 3000) == [(0, 500), (800, 500), (1600, 500)]
    assert not [r for r in s.frames("ble") if r["t_ms"] > t_ack]  # no more copies once heard
    # A late "received" does not downgrade "help on the way".
    s.ack(ACK_RECEIVED)
    assert s.app.player.pattern == feedback.HELP


def test_forged_or_foreign_ack_changes_nothing() -> None:
    s = _held_sos(500)
    before = s.app.player.pattern
    assert s.ack(ACK_HELP_ON_THE_WAY, forge=True)  # heard, but its MIC fails
    assert s.ack(ACK_HELP_ON_THE_WAY, counter=s.app.alarm.counter + 1)  # for another counter
    assert s.app.player.pattern == before and s.app.alarm.state == 0
    assert s.notes("downlink") == ["ignored", "ignored"]


def test_not_reached_is_felt_at_each_retry_without_ack() -> None:
    s = booted()
    s.press(2100)
    t0 = s.t
    s.run_for(45000)
    pulses = s.vibration(t0)
    triples = 0
    for i in range(len(pulses) - 2):
        if [p[1] for p in pulses[i : i + 3]] == [120, 120, 120]:
            triples += 1
    assert triples >= 2, pulses


def _cancel_scenario(word: str) -> tuple[Sim, int, int]:
    s = _held_sos(3000)
    alarm = s.app.alarm.counter
    t0 = s.t
    s.word(word)
    s.run_for(3000)
    return s, alarm, t0


def test_cancel_and_duress_look_and_feel_the_same() -> None:
    s1, alarm1, t1 = _cancel_scenario("SSS")
    s2, alarm2, t2 = _cancel_scenario("SSL")

    # Same pulses and LED changes relative to the end of the gesture, different events on air.
    def seen(s: Sim, t0: int) -> list[tuple[int, str, object]]:
        ends = [r["t_ms"] for r in s.records("pattern") if r["value"] in ("cancel", "duress")]
        t_end = ends[0]
        out: list[tuple[int, str, object]] = []
        for r in s.board.rec.records:
            if r["t_ms"] >= t_end and r["kind"] in ("led", "vibe", "buzzer"):
                out.append((r["t_ms"] - t_end, r["kind"], r.get("led", r.get("on", r.get("hz")))))
        return out

    assert seen(s1, t1) == seen(s2, t2)
    assert s1.app.player.pattern == feedback.IDLE and s2.app.player.pattern == feedback.IDLE
    c1 = uplinks(s1, "ble", t1)
    c2 = uplinks(s2, "ble", t2)
    assert c1[0].event == EVENT_CANCEL and c1[0].cancels == alarm1
    assert c2[0].event == EVENT_DURESS and c2[0].cancels == alarm2


def test_duress_answered_with_cancelled_stays_silent() -> None:
    s, _alarm, _t0 = _cancel_scenario("SSL")
    n_before = len(s.board.rec.records)
    assert s.ack(ACK_CANCELLED, counter=s.app.cancel.counter)
    s.run_for(5000)
    assert s.app.cancel is None
    assert not [r for r in s.board.rec.records[n_before:] if r["kind"] in ("led", "vibe", "buzzer")]


def test_cancel_retries_until_acknowledged() -> None:
    s, _alarm, t0 = _cancel_scenario("SSS")
    s.run_for(30000)
    copies = uplinks(s, "ble", t0)
    assert len(copies) >= 4 and len(set(u.counter for u in copies)) == 1
    s.ack(ACK_CANCELLED, counter=s.app.cancel.counter)
    t_ack = s.t
    s.run_for(120000)
    assert not [r for r in s.frames("ble") if r["t_ms"] > t_ack and s.decode(r["frame"]).event == EVENT_CANCEL]


def test_cancel_word_outside_an_alarm_is_escort() -> None:
    s = booted()
    s.word("SSS")
    s.run_for(1000)
    ups = uplinks(s, "ble", 5000)
    assert [u.event for u in ups] == [EVENT_ESCORT]


def test_cancel_window_closes_after_last_ack() -> None:
    s = booted()
    s.press(2100)
    assert not s.ack(ACK_RECEIVED)  # the modem is still sending the first LoRa copy: not heard
    s.run_for(500)
    assert s.ack(ACK_RECEIVED)
    s.run_for(15 * 60 * 1000 + 1000)
    assert s.app.alarm is None and s.app.can_deep_sleep()
    s.word("SSS")  # now an ESCORT, not a cancel
    s.run_for(1000)
    assert s.notes("pattern")[-1] == "escort"


def test_sos_escalates_an_escort() -> None:
    s = booted()
    s.word("SSS")
    s.run_for(1000)
    escort = s.app.alarm.counter
    s.run_for(3000)
    s.press(2100)
    assert s.app.alarm.event == EVENT_SOS and s.app.alarm.counter > escort


def test_test_pattern_reports_ok_or_failure() -> None:
    s = booted()
    s.word("SSSSS")
    s.run_for(1000)
    assert s.app.alarm.event == EVENT_TEST
    assert s.ack(ACK_RECEIVED)
    t_ack = s.t
    s.run_for(3000)
    assert s.app.alarm is None and s.notes("ack") == [ACK_RECEIVED]
    assert [p[1] for p in s.vibration(t_ack)] == [500, 500]  # TEST_OK: two long pulses, then idle
    assert not s.app.player.busy()
    # Without an ACK: three attempts, then the failure pattern, then idle.
    s2 = booted()
    s2.word("SSSSS")
    s2.run_for(60000)
    tests = [u for u in uplinks(s2, "ble", 5000) if u.event == EVENT_TEST]
    assert len(tests) == 3
    assert s2.app.alarm is None and not s2.app.player.busy()
    assert [p[1] for p in s2.vibration(5000)[-3:]] == [120, 120, 120]  # TEST_FAILED


def test_clock_near_ticks_wrap() -> None:
    s = Sim(clock_start=(1 << 30) - 3000)
    s.run_for(5000)
    s.press(2100)
    s.run_for(10000)
    ups = uplinks(s, "ble", 5000)
    assert ups and ups[0].event == EVENT_SOS and len(set(u.counter for u in ups)) == 1


def test_sos_held_again_after_help_is_a_new_alarm_with_a_new_counter() -> None:
    # The wearer's alarm was answered, then ended without the ring hearing it; ten minutes later they press
    # again. A repeated counter would be a copy of the old alarm, which dispatch answers as the old alarm.
    s = _held_sos(500)
    first = s.app.alarm.counter
    assert s.ack(ACK_RECEIVED) and s.ack(ACK_HELP_ON_THE_WAY)
    s.run_for(600000)
    t0 = s.t
    s.press(2100)
    s.run_for(20000)
    again = uplinks(s, "ble", t0)
    assert len(again) >= 3 and set(u.counter for u in again) == {s.app.alarm.counter}
    assert s.app.alarm.counter > first and again[0].event == EVENT_SOS
    assert s.app.alarm.state == 0 and s.app.alarm.next_at is not None  # retrying until its own ACK
    # The old alarm's ACKs no longer change anything: the ring listens for its newest press only.
    s.ack(ACK_CLOSED, counter=first)
    assert s.app.alarm is not None and s.notes("downlink")[-1] == "ignored"


def test_every_hold_is_a_new_counter_even_before_any_answer() -> None:
    s = _held_sos(3000)
    first = s.app.alarm.counter
    s.press(2100)
    s.run_for(3000)
    assert s.app.alarm.counter == first + 1


def test_closed_ends_the_alarm_with_its_own_pulse_and_stops_listening() -> None:
    s = _held_sos(500)
    assert s.ack(ACK_RECEIVED) and s.ack(ACK_HELP_ON_THE_WAY)
    s.run_for(5000)
    t_closed = s.t
    assert s.ack(ACK_CLOSED)
    s.run_for(5000)
    assert s.app.alarm is None and s.app.player.pattern == feedback.IDLE
    assert s.vibration(t_closed, t_closed + 5000) == [(0, 1500)]  # one very long pulse
    assert s.board.lora.mode != "rx"
    assert "closed" in s.notes("feedback")


def test_unavailable_is_felt_as_five_short_and_help_can_still_follow() -> None:
    s = _held_sos(500)
    assert s.ack(ACK_RECEIVED)
    s.run_for(4000)
    t_none = s.t
    assert s.ack(ACK_UNAVAILABLE)
    s.run_for(3000)
    assert s.app.player.pattern == feedback.UNAVAILABLE
    assert len(s.vibration(t_none, t_none + 3000)) == 5 and all(ms == 120 for _, ms in s.vibration(t_none))
    assert s.board.lora.mode == "rx"  # still listening: someone may yet be sent
    assert s.ack(ACK_HELP_ON_THE_WAY)
    assert s.app.player.pattern == feedback.HELP


def test_an_older_or_repeated_ack_seq_changes_nothing() -> None:
    s = _held_sos(500)
    counter = s.app.alarm.counter
    late_received = ack.encode(s.keys, ack.Ack(counter, ACK_RECEIVED, 0, 0))
    help_now = ack.encode(s.keys, ack.Ack(counter, ACK_HELP_ON_THE_WAY, 1, 5))
    assert s.board.lora.deliver(help_now)
    s.app.poll(s.clock.ticks_ms())
    assert s.app.alarm.state == ACK_HELP_ON_THE_WAY
    for frame in (late_received, help_now):  # delivered late, or replayed
        assert s.board.lora.deliver(frame)
        s.app.poll(s.clock.ticks_ms())
    assert s.app.alarm.state == ACK_HELP_ON_THE_WAY and s.app.player.pattern == feedback.HELP
    assert s.notes("downlink") == ["ignored", "ignored"]


def test_an_alarm_unanswered_for_days_keeps_its_age_at_the_top() -> None:
    # The tick counter wraps (a difference turns negative after 6.2 days, small again after 12.4): the age a
    # frame carries must still only grow, and stay at the field's top.
    s = booted()
    s.press(2100)
    ages = []
    for _ in range(13 * 24 * 3):
        s.run_for(20 * 60 * 1000)  # thirteen days, past both wraps, twenty minutes at a time
        ages += [u.age for u in uplinks(s, "lora") if u.event == EVENT_SOS]
        s.board.rec.records.clear()  # what was read: a MicroPython heap holds no 13 days of records
    assert ages == sorted(ages), ages
    assert ages[-1] == 0xFFFF
