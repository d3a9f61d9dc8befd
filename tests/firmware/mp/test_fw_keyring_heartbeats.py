"""The key ring application on fakes, between alarms: the boot heartbeat, the heartbeat's period and its ACK
requests in coverage, its back-off out of it, low battery reported at once (awake or after a deep sleep), deep
sleep only when idle and restored from its snapshot, and heartbeats across deep sleeps walking the channels. An
alarm's life is test_fw_keyring_alarms.py's."""

from protocol.constants import (
    ACK_RECEIVED,
    ACK_REQUEST_GAP,
    EVENT_HEARTBEAT,
    EVENT_LOW_BATTERY,
    FLAG_ACK_REQUESTED,
    FLAG_BOOT,
)
from tests.firmware.mp.keyring_cases import booted, uplinks
from tests.firmware.mp.sim import DEVICE_ID, Sim


def test_boot_heartbeat_has_boot_flag_and_asks_for_ack() -> None:
    s = Sim()
    assert not s.frames("ble")  # heartbeats go by LoRa only
    ups = uplinks(s, "lora")
    assert len(ups) == 1
    up = ups[0]
    assert up.event == EVENT_HEARTBEAT and up.flags == FLAG_BOOT | FLAG_ACK_REQUESTED
    assert up.device_id == DEVICE_ID and up.aux == 60 and up.battery == 100


def _answering_server(s: Sim, minutes: int) -> None:
    """Run ``minutes``, answering every heartbeat that asks for an ACK, as dispatch does."""
    for _ in range(minutes * 60):
        s.run_for(1000)  # the receive window after a heartbeat is 3 s: this step lands inside it
        beat = s.app.beat
        if beat is not None and beat.flags & FLAG_ACK_REQUESTED and s.board.lora.mode == "rx":
            s.ack(ACK_RECEIVED, counter=beat.counter)


def test_heartbeat_period_and_ack_request_gap_in_coverage() -> None:
    s = Sim(settings={"heartbeat_min": 1})
    _answering_server(s, 30)
    beats = [u for u in uplinks(s, "lora") if u.event == EVENT_HEARTBEAT]
    assert 30 <= len(beats) <= 31
    times = [r["t_ms"] for r in s.frames("lora")]
    for i in range(1, len(times)):
        assert 59000 <= times[i] - times[i - 1] <= 61000
    asked = [u.counter for u in beats if u.flags & FLAG_ACK_REQUESTED]
    # The boot frame, then one in every ACK_REQUEST_GAP: each answered ACK moves the mark up.
    assert asked[0] == 1 and asked[1:] == list(range(1 + ACK_REQUEST_GAP, beats[-1].counter + 1, ACK_REQUEST_GAP))
    assert all(u.aux == 1 for u in beats)


def test_heartbeat_backs_off_out_of_coverage_and_recovers() -> None:
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
    later = [u for u in uplinks(s, "lora", t0 + 1) if u.event == EVENT_HEARTBEAT]
    assert len(later) == 1 and later[0].aux == 1


def test_acked_heartbeat_stops_ack_requests_for_a_while() -> None:
    s = Sim(settings={"heartbeat_min": 1})
    s.run_for(500)
    s.ack(ACK_RECEIVED, counter=1)  # the boot frame's ACK
    assert s.app.last_acked == 1
    s.run_for(12 * 60000)
    beats = [u for u in uplinks(s, "lora") if u.event == EVENT_HEARTBEAT][1:]
    for u in beats:
        assert bool(u.flags & FLAG_ACK_REQUESTED) == (u.counter - 1 >= ACK_REQUEST_GAP), u.counter


def test_low_battery_reported_at_once_with_feedback() -> None:
    s = booted()
    s.board.battery.level = 12
    s.run_for(11000)
    lows = [u for u in uplinks(s, "lora", 5000) if u.event == EVENT_LOW_BATTERY]
    assert len(lows) == 1 and lows[0].battery == 12
    assert any(r["hz"] == 440 for r in s.records("buzzer"))
    # Recovery needs the clear threshold (hysteresis), then heartbeats are plain again.
    s.board.battery.level = 17
    s.run_for(61 * 60000)
    assert s.app.low_battery
    s.board.battery.level = 25
    s.run_for(61 * 60000)
    assert not s.app.low_battery


def test_deep_sleep_only_when_idle_and_snapshot_restores() -> None:
    s = booted()
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


def test_low_battery_crossed_during_deep_sleep_is_reported_on_wake() -> None:
    from firmware.keyring import Keyring

    s = booted()
    snap = s.app.snapshot(s.clock.ticks_ms())
    s.board.battery.level = 9
    s.clock.advance(60000)
    app = Keyring(s.board.hardware(), s.cfg, s.keys, s.clock.ticks_ms(), snap, 60000)
    assert app.low_battery and app.heartbeat_at == s.clock.ticks_ms()


def _heartbeats_across_deep_sleep(s: Sim, n: int) -> list[tuple[int, int]]:
    """(counter, freq) of the next ``n`` heartbeats, each sent by a Keyring rebuilt from RTC memory."""
    out: list[tuple[int, int]] = []
    while len(out) < n:
        deep = s.sleep_and_wake()
        for r in s.frames("lora")[len(out) + 1 :]:  # the boot frame went out before any sleep
            assert deep, "a heartbeat without a deep sleep before it"
            out.append((s.decode(r["frame"]).counter, r["freq_hz"]))
    return out


def test_heartbeats_after_deep_sleep_walk_the_channels_and_skip_no_counter() -> None:
    # Each heartbeat is sent by a Keyring rebuilt from the snapshot: channel state in RAM would be lost, and the
    # eight channels must still all be used, once per eight consecutive counters (RP002 3.3).
    from firmware.airtime import UPLINK_CHANNELS

    s = Sim(settings={"heartbeat_min": 1})
    beats = _heartbeats_across_deep_sleep(s, 24)
    counters = [c for c, _f in beats]
    assert counters == list(range(2, 26))  # the wake resumes the block reserved in flash (docs finding 3)
    runs: dict[int, list[int]] = {}
    for c, f in beats:
        runs.setdefault(c // 8, []).append(f)
    for run in runs.values():
        assert len(set(run)) == len(run), run  # no channel twice within an aligned run of eight
    assert sorted(runs[1]) == sorted(UPLINK_CHANNELS) and sorted(runs[2]) == sorted(UPLINK_CHANNELS)


def test_two_rings_with_the_same_counters_do_not_hop_in_step() -> None:
    a = Sim(settings={"heartbeat_min": 1})
    b = Sim(settings={"heartbeat_min": 1}, device_id=DEVICE_ID + 1)
    fa = [f for _c, f in _heartbeats_across_deep_sleep(a, 16)]
    fb = [f for _c, f in _heartbeats_across_deep_sleep(b, 16)]
    assert sum(1 for i in range(16) if fa[i] == fb[i]) <= 6  # 2 expected for independent walks; 16 in step
