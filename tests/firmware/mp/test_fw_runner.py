"""The host runner end to end, on the inline timeline form."""

from firmware.config import Config
from firmware.host.runner import Run
from firmware.host.timeline import TimelineError, parse
from protocol import uplink
from protocol.constants import EVENT_HEARTBEAT, EVENT_LOW_BATTERY, EVENT_SOS, FLAG_BOOT
from protocol.keys import DeviceKeys

KEY = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
EXAMPLE = "down@1000,up@3500,ack-received@5200,ack-help@9000,battery-12@60000,powercut@70000,end@120000"


def _run(spec: str, settings=None):
    out = []
    run = Run(Config(7, KEY, 1, settings), parse(spec), out.append)
    summary = run.run()
    return out, summary


def _decode(frame_hex: str):
    keys = DeviceKeys(KEY)
    frame = bytes.fromhex(frame_hex)
    for c in range(1, 200):
        if uplink.verify(keys, frame, c):
            return uplink.decode(keys, frame, c)
    raise AssertionError("undecodable " + frame_hex)


def test_timeline_parse():
    ev = parse("up@5, down@1\n# comment\npress-300@10 battery-12@20")
    assert ev == [(1, "down", 0), (5, "up", 0), (10, "down", 0), (20, "battery", 12), (310, "up", 0), (60310, "end", 0)]
    assert parse("down@1,end@50,up@60") == [(1, "down", 0), (50, "end", 0)]
    for bad in ("down", "down@x", "jump@5", "battery-101@5", "down@-1"):
        try:
            parse(bad)
        except TimelineError:
            continue
        raise AssertionError("accepted " + bad)


def test_example_timeline():
    out, summary = _run(EXAMPLE)
    kinds = set(r["kind"] for r in out)
    for k in ("radio", "led", "vibe", "buzzer", "sleep", "downlink", "ack", "powercut", "boot"):
        assert k in kinds, k
    for r in out:
        assert isinstance(r["t_ms"], int)
    radios = [r for r in out if r["kind"] == "radio"]
    ups = [(r["t_ms"], _decode(r["frame"])) for r in radios]
    sos = [u for t, u in ups if u.event == EVENT_SOS]
    assert sos and len(set(u.counter for u in sos)) == 1
    downs = [r for r in out if r["kind"] == "downlink"]
    assert [d["heard"] for d in downs] == [True, True]
    assert [r["value"] for r in out if r["kind"] == "ack"] == [1, 2]
    # After the power cut: a boot frame, a counter past everything before, and the low battery reported.
    after = [u for t, u in ups if t >= 70000]
    before = [u for t, u in ups if t < 70000]
    assert after[0].flags & FLAG_BOOT and after[0].event == EVENT_LOW_BATTERY and after[0].battery == 12
    assert after[0].counter > max(u.counter for u in before)
    assert summary["pattern_to_first_frame_ms"] == [0]
    assert summary["frames"]["ble"] == len([r for r in radios if r["radio"] == "ble"])
    assert summary["deep_sleeps"] >= 1


def test_deep_sleep_wakes_on_button_and_timer():
    out, _summary = _run("press-150@20000,end@7300000", {"heartbeat_min": 60})
    wakes = [r for r in out if r["kind"] == "wake" and r["mode"] == "deep"]
    assert wakes[0]["reason"] == "button" and wakes[0]["t_ms"] == 20000
    assert "timer" in [w["reason"] for w in wakes]
    pats = [r["value"] for r in out if r["kind"] == "pattern"]
    assert pats == ["ignored S"]
    beats = [(r["t_ms"], _decode(r["frame"])) for r in out if r["kind"] == "radio" and r["radio"] == "lora"]
    beat_times = [t for t, u in beats if u.event == EVENT_HEARTBEAT]
    # Kept across deep sleep (the wake by the button does not move it). Nobody answers the boot frame's ACK
    # request here, so the period doubles to two hours (SPEC 7.5).
    assert beat_times[0] == 0 and len(beat_times) == 2 and abs(beat_times[1] - 7200000) <= 10


def test_ack_with_radio_off_is_missed():
    out, summary = _run("ack-received@30000,end@40000")
    d = next(r for r in out if r["kind"] == "downlink")
    assert d["heard"] is False
    assert summary["frames"]["lora"] == 1
