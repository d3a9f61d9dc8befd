"""The key ring application on fakes: what goes on air and what the wearer feels, for each gesture."""

from firmware import feedback
from protocol import ack
from protocol.constants import (
    ACK_CANCELLED,
    ACK_CLOSED,
    ACK_HELP_ON_THE_WAY,
    ACK_RECEIVED,
    ACK_REQUEST_GAP,
    ACK_UNAVAILABLE,
    EVENT_CANCEL,
    EVENT_DURESS,
    EVENT_ESCORT,
    EVENT_HEARTBEAT,
    EVENT_LOW_BATTERY,
    EVENT_SOS,
    EVENT_TEST,
    FLAG_ACK_REQUESTED,
    FLAG_BOOT,
)
from tests.firmware.mp.sim import DEVICE_ID, Sim


def _booted() -> Sim:
    s = Sim()
    s.run_for(5000)  # past the boot heartbeat's receive window
    return s


def _held_sos(then_ms: int) -> Sim:
    """A booted ring whose wearer has held SOS (2.1 s), ``then_ms`` after the release."""
    s = _booted()
    s.press(2100)
    s.run_for(then_ms)
    return s


def _uplinks(s: Sim, radio: str, since: int = 0) -> list:
    return [s.decode(r["frame"]) for r in s.frames(radio) if r["t_ms"] >= since]


def test_boot_heartbeat_has_boot_flag_and_asks_for_ack():
    s = Sim()
    assert not s.frames("ble")  # heartbeats go by LoRa only
    ups = _uplinks(s, "lora")
    assert len(ups) == 1
    up = ups[0]
    assert up.event == EVENT_HEARTBEAT and up.flags == FLAG_BOOT | FLAG_ACK_REQUESTED
    assert up.device_id == DEVICE_ID and up.aux == 60 and up.battery == 100


def test_sos_hold_sends_at_once_on_both_radios_with_one_counter():
    s = _booted()
    s.button(True)
    t0 = s.t
    s.run_for(2000)
    sos_at = next(r["t_ms"] for r in s.records("pattern") if r["value"] == "sos")
    assert sos_at == t0 + 2000
    first = next(r for r in s.records("radio") if r["t_ms"] >= sos_at)
    assert first["t_ms"] - sos_at <= 10  # the goal: pattern to first frame within 10 ms
    s.button(False)
    s.run_for(60000)
    ble = _uplinks(s, "ble", sos_at)
    lora = _uplinks(s, "lora", sos_at)
    assert len(ble) >= 6 and len(lora) >= 3
    counters = set(u.counter for u in ble + lora)
    assert len(counters) == 1
    for u in ble + lora:
        assert u.event == EVENT_SOS and u.flags & FLAG_ACK_REQUESTED
    ages = [u.age for u in ble]
    assert ages == sorted(ages) and ages[-1] >= 30  # copies carry the time since the SOS


def test_lora_copies_respect_the_duty_cycle():
    s = _held_sos(300000)
    last = {}
    from firmware.airtime import sub_band

    for r in s.frames("lora"):
        band = sub_band(r["freq_hz"])
        if band in last:
            assert r["t_ms"] - last[band] >= 100 * r["toa_ms"] - 1, (band, r["t_ms"], last[band])
        last[band] = r["t_ms"]


def test_ack_received_then_help_stops_retries_and_changes_feedback():
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


def test_forged_or_foreign_ack_changes_nothing():
    s = _held_sos(500)
    before = s.app.player.pattern
    assert s.ack(ACK_HELP_ON_THE_WAY, forge=True)  # heard, but its MIC fails
    assert s.ack(ACK_HELP_ON_THE_WAY, counter=s.app.alarm.counter + 1)  # for another counter
    assert s.app.player.pattern == before and s.app.alarm.state == 0
    assert s.notes("downlink") == ["ignored", "ignored"]


def test_not_reached_is_felt_at_each_retry_without_ack():
    s = _booted()
    s.press(2100)
    t0 = s.t
    s.run_for(45000)
    pulses = s.vibration(t0)
    triples = 0
    for i in range(len(pulses) - 2):
        if [p[1] for p in pulses[i : i + 3]] == [120, 120, 120]:
            triples += 1
    assert triples >= 2, pulses


def _cancel_scenario(word: str):
    s = _held_sos(3000)
    alarm = s.app.alarm.counter
    t0 = s.t
    s.word(word)
    s.run_for(3000)
    return s, alarm, t0


def test_cancel_and_duress_look_and_feel_the_same():
    s1, alarm1, t1 = _cancel_scenario("SSS")
    s2, alarm2, t2 = _cancel_scenario("SSL")

    # Same pulses and LED changes relative to the end of the gesture, different events on air.
    def seen(s, t0):
        ends = [r["t_ms"] for r in s.records("pattern") if r["value"] in ("cancel", "duress")]
        t_end = ends[0]
        out = []
        for r in s.board.rec.records:
            if r["t_ms"] >= t_end and r["kind"] in ("led", "vibe", "buzzer"):
                out.append((r["t_ms"] - t_end, r["kind"], r.get("led", r.get("on", r.get("hz")))))
        return out

    assert seen(s1, t1) == seen(s2, t2)
    assert s1.app.player.pattern == feedback.IDLE and s2.app.player.pattern == feedback.IDLE
    c1 = _uplinks(s1, "ble", t1)
    c2 = _uplinks(s2, "ble", t2)
    assert c1[0].event == EVENT_CANCEL and c1[0].cancels == alarm1
    assert c2[0].event == EVENT_DURESS and c2[0].cancels == alarm2


def test_duress_answered_with_cancelled_stays_silent():
    s, _alarm, _t0 = _cancel_scenario("SSL")
    n_before = len(s.board.rec.records)
    assert s.ack(ACK_CANCELLED, counter=s.app.cancel.counter)
    s.run_for(5000)
    assert s.app.cancel is None
    assert not [r for r in s.board.rec.records[n_before:] if r["kind"] in ("led", "vibe", "buzzer")]


def test_cancel_retries_until_acknowledged():
    s, _alarm, t0 = _cancel_scenario("SSS")
    s.run_for(30000)
    copies = _uplinks(s, "ble", t0)
    assert len(copies) >= 4 and len(set(u.counter for u in copies)) == 1
    s.ack(ACK_CANCELLED, counter=s.app.cancel.counter)
    t_ack = s.t
    s.run_for(120000)
    assert not [r for r in s.frames("ble") if r["t_ms"] > t_ack and s.decode(r["frame"]).event == EVENT_CANCEL]


def test_cancel_word_outside_an_alarm_is_escort():
    s = _booted()
    s.word("SSS")
    s.run_for(1000)
    ups = _uplinks(s, "ble", 5000)
    assert [u.event for u in ups] == [EVENT_ESCORT]


def test_cancel_window_closes_after_last_ack():
    s = _booted()
    s.press(2100)
    assert not s.ack(ACK_RECEIVED)  # the modem is still sending the first LoRa copy: not heard
    s.run_for(500)
    assert s.ack(ACK_RECEIVED)
    s.run_for(15 * 60 * 1000 + 1000)
    assert s.app.alarm is None and s.app.can_deep_sleep()
    s.word("SSS")  # now an ESCORT, not a cancel
    s.run_for(1000)
    assert s.notes("pattern")[-1] == "escort"


def test_sos_escalates_an_escort():
    s = _booted()
    s.word("SSS")
    s.run_for(1000)
    escort = s.app.alarm.counter
    s.run_for(3000)
    s.press(2100)
    assert s.app.alarm.event == EVENT_SOS and s.app.alarm.counter > escort


def test_test_pattern_reports_ok_or_failure():
    s = _booted()
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
    s2 = _booted()
    s2.word("SSSSS")
    s2.run_for(60000)
    tests = [u for u in _uplinks(s2, "ble", 5000) if u.event == EVENT_TEST]
    assert len(tests) == 3
    assert s2.app.alarm is None and not s2.app.player.busy()
    assert [p[1] for p in s2.vibration(5000)[-3:]] == [120, 120, 120]  # TEST_FAILED


def _answering_server(s: Sim, minutes: int) -> None:
    """Run ``minutes``, answering every heartbeat that asks for an ACK, as dispatch does."""
    for _ in range(minutes * 60):
        s.run_for(1000)  # the receive window after a heartbeat is 3 s: this step lands inside it
        beat = s.app.beat
        if beat is not None and beat.flags & FLAG_ACK_REQUESTED and s.board.lora.mode == "rx":
            s.ack(ACK_RECEIVED, counter=beat.counter)


def test_heartbeat_period_and_ack_request_gap_in_coverage():
    s = Sim(settings={"heartbeat_min": 1})
    _answering_server(s, 30)
    beats = [u for u in _uplinks(s, "lora") if u.event == EVENT_HEARTBEAT]
    assert 30 <= len(beats) <= 31
    times = [r["t_ms"] for r in s.frames("lora")]
    for i in range(1, len(times)):
        assert 59000 <= times[i] - times[i - 1] <= 61000
    asked = [u.counter for u in beats if u.flags & FLAG_ACK_REQUESTED]
    # The boot frame, then one in every ACK_REQUEST_GAP: each answered ACK moves the mark up.
    assert asked[0] == 1 and asked[1:] == list(range(1 + ACK_REQUEST_GAP, beats[-1].counter + 1, ACK_REQUEST_GAP))
    assert all(u.aux == 1 for u in beats)


def test_heartbeat_backs_off_out_of_coverage_and_recovers():
    s = Sim(settings={"heartbeat_min": 1})
    s.run_for(3 * 24 * 3600 * 1000)
    beats = [(r["t_ms"], s.decode(r["frame"])) for r in s.frames("lora")]
    periods = [u.aux for _t, u in beats]
    # SPEC 7.5: each unanswered ACK request doubles the period, up to a day.
    assert periods == sorted(periods) and periods[-1] == 1440
    for i in range(1, len(beats)):
        prev_t, prev = beats[i - 1]
        t, _u = beats[i]
        assert abs(t - prev_t - prev.aux * 60000) < 100 or prev.flags & FLAG_ACK_REQUESTED
    # Back in coverage: the next heartbeat asks, gets an answer, and the period is the configured one again.
    beat = None
    for _ in range(25 * 3600):
        s.run_for(1000)
        beat = s.app.beat
        if beat is not None and s.board.lora.mode == "rx":
            break
    assert beat is not None and beat.flags & FLAG_ACK_REQUESTED
    assert s.ack(ACK_RECEIVED, counter=beat.counter)
    assert s.app.beat_min == 1
    t0 = s.t
    s.run_for(61000)
    later = [u for u in _uplinks(s, "lora", t0 + 1) if u.event == EVENT_HEARTBEAT]
    assert len(later) == 1 and later[0].aux == 1


def test_acked_heartbeat_stops_ack_requests_for_a_while():
    s = Sim(settings={"heartbeat_min": 1})
    s.run_for(500)
    s.ack(ACK_RECEIVED, counter=1)  # the boot frame's ACK
    assert s.app.last_acked == 1
    s.run_for(12 * 60000)
    beats = [u for u in _uplinks(s, "lora") if u.event == EVENT_HEARTBEAT][1:]
    for u in beats:
        assert bool(u.flags & FLAG_ACK_REQUESTED) == (u.counter - 1 >= ACK_REQUEST_GAP), u.counter


def test_low_battery_reported_at_once_with_feedback():
    s = _booted()
    s.board.battery.level = 12
    s.run_for(11000)
    lows = [u for u in _uplinks(s, "lora", 5000) if u.event == EVENT_LOW_BATTERY]
    assert len(lows) == 1 and lows[0].battery == 12
    assert any(r["hz"] == 440 for r in s.records("buzzer"))
    # Recovery needs the clear threshold (hysteresis), then heartbeats are plain again.
    s.board.battery.level = 17
    s.run_for(61 * 60000)
    assert s.app.low_battery
    s.board.battery.level = 25
    s.run_for(61 * 60000)
    assert not s.app.low_battery


def test_deep_sleep_only_when_idle_and_snapshot_restores():
    s = _booted()
    assert s.app.can_deep_sleep()
    s.button(True)
    assert not s.app.can_deep_sleep()
    s.button(False)
    s.run_for(2000)
    snap = s.app.snapshot(s.clock.ticks_ms())
    from firmware.keyring import Keyring

    app2 = Keyring(s.board.hardware(), s.cfg, s.keys, 0, snap, 1000)
    assert app2.last_acked == s.app.last_acked
    assert app2.next_deadline(0) == s.app.heartbeat_at - s.clock.ticks_ms() - 1000


def test_clock_near_ticks_wrap():
    s = Sim(clock_start=(1 << 30) - 3000)
    s.run_for(5000)
    s.press(2100)
    s.run_for(10000)
    ups = _uplinks(s, "ble", 5000)
    assert ups and ups[0].event == EVENT_SOS and len(set(u.counter for u in ups)) == 1


def test_low_battery_crossed_during_deep_sleep_is_reported_on_wake():
    from firmware.keyring import Keyring

    s = _booted()
    snap = s.app.snapshot(s.clock.ticks_ms())
    s.board.battery.level = 9
    s.clock.advance(60000)
    app = Keyring(s.board.hardware(), s.cfg, s.keys, s.clock.ticks_ms(), snap, 60000)
    assert app.low_battery and app.heartbeat_at == s.clock.ticks_ms()


def test_sos_held_again_after_help_is_a_new_alarm_with_a_new_counter():
    # The wearer's alarm was answered, then ended without the ring hearing it; ten minutes later they press
    # again. A repeated counter would be a copy of the old alarm, which dispatch answers as the old alarm.
    s = _held_sos(500)
    first = s.app.alarm.counter
    assert s.ack(ACK_RECEIVED) and s.ack(ACK_HELP_ON_THE_WAY)
    s.run_for(600000)
    t0 = s.t
    s.press(2100)
    s.run_for(20000)
    again = _uplinks(s, "ble", t0)
    assert len(again) >= 3 and set(u.counter for u in again) == {s.app.alarm.counter}
    assert s.app.alarm.counter > first and again[0].event == EVENT_SOS
    assert s.app.alarm.state == 0 and s.app.alarm.next_at is not None  # retrying until its own ACK
    # The old alarm's ACKs no longer change anything: the ring listens for its newest press only.
    s.ack(ACK_CLOSED, counter=first)
    assert s.app.alarm is not None and s.notes("downlink")[-1] == "ignored"


def test_every_hold_is_a_new_counter_even_before_any_answer():
    s = _held_sos(3000)
    first = s.app.alarm.counter
    s.press(2100)
    s.run_for(3000)
    assert s.app.alarm.counter == first + 1


def test_closed_ends_the_alarm_with_its_own_pulse_and_stops_listening():
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


def test_unavailable_is_felt_as_five_short_and_help_can_still_follow():
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


def test_an_older_or_repeated_ack_seq_changes_nothing():
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


def _heartbeats_across_deep_sleep(s: Sim, n: int) -> list:
    """(counter, freq) of the next ``n`` heartbeats, each sent by a Keyring rebuilt from RTC memory."""
    out = []
    while len(out) < n:
        deep = s.sleep_and_wake()
        for r in s.frames("lora")[len(out) + 1 :]:  # the boot frame went out before any sleep
            assert deep, "a heartbeat without a deep sleep before it"
            out.append((s.decode(r["frame"]).counter, r["freq_hz"]))
    return out


def test_heartbeats_after_deep_sleep_walk_the_channels_and_skip_no_counter():
    # Each heartbeat is sent by a Keyring rebuilt from the snapshot: channel state in RAM would be lost, and the
    # eight channels must still all be used, once per eight consecutive counters (RP002 3.3).
    from firmware.airtime import UPLINK_CHANNELS

    s = Sim(settings={"heartbeat_min": 1})
    beats = _heartbeats_across_deep_sleep(s, 24)
    counters = [c for c, _f in beats]
    assert counters == list(range(2, 26))  # the wake resumes the block reserved in flash (docs finding 3)
    runs = {}
    for c, f in beats:
        runs.setdefault(c // 8, []).append(f)
    for run in runs.values():
        assert len(set(run)) == len(run), run  # no channel twice within an aligned run of eight
    assert sorted(runs[1]) == sorted(UPLINK_CHANNELS) and sorted(runs[2]) == sorted(UPLINK_CHANNELS)


def test_two_rings_with_the_same_counters_do_not_hop_in_step():
    a = Sim(settings={"heartbeat_min": 1})
    b = Sim(settings={"heartbeat_min": 1}, device_id=DEVICE_ID + 1)
    fa = [f for _c, f in _heartbeats_across_deep_sleep(a, 16)]
    fb = [f for _c, f in _heartbeats_across_deep_sleep(b, 16)]
    assert sum(1 for i in range(16) if fa[i] == fb[i]) <= 6  # 2 expected for independent walks; 16 in step


def test_an_alarm_unanswered_for_days_keeps_its_age_at_the_top():
    # The tick counter wraps (a difference turns negative after 6.2 days, small again after 12.4): the age a
    # frame carries must still only grow, and stay at the field's top.
    s = _booted()
    s.press(2100)
    ages = []
    for _ in range(13 * 24 * 3):
        s.run_for(20 * 60 * 1000)  # thirteen days, past both wraps, twenty minutes at a time
        ages += [u.age for u in _uplinks(s, "lora") if u.event == EVENT_SOS]
        s.board.rec.records.clear()  # what was read: a MicroPython heap holds no 13 days of records
    assert ages == sorted(ages), ages
    assert ages[-1] == 0xFFFF
