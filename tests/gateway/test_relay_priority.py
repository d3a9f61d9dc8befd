"""The relay's steps without the network: shape check, dedupe, and the spool's priority when full."""

import json
from pathlib import Path

from basestation.gateway.record import ReceivedFrame
from basestation.gateway.relay import Relay
from basestation.gateway.spool import Spool
from harness.gateway import ROOT_KEY, settings_for
from protocol import uplink
from protocol.constants import EVENT_HEARTBEAT, EVENT_SOS
from protocol.keys import DeviceKeys

KEYS = DeviceKeys(ROOT_KEY)


def lora(frame: bytes, t: float) -> ReceivedFrame:
    return ReceivedFrame(frame, "lora", t, rssi=-100.0, tmst=int(t * 1e6), forwarder="00000000000000a1")


def test_full_spool_sheds_heartbeats_and_keeps_every_alarm_copy(tmp_path: Path) -> None:
    now = [1000.0]
    spool = Spool(tmp_path / "s.db", max_frames=6, young_s=15.0)
    relay = Relay(settings_for(tmp_path, 1), spool, clock=lambda: now[0], monotonic=lambda: now[0])

    def hear(frame: bytes) -> None:
        relay.on_frames([lora(frame, now[0])])
        now[0] += 10.0

    sos = [uplink.encode(KEYS, uplink.Uplink(500, 7, EVENT_SOS, 90, 0, age, 0)) for age in (0, 20, 50)]
    beats = [uplink.encode(KEYS, uplink.Uplink(c, 8, EVENT_HEARTBEAT, 90, 60, 0, 0)) for c in range(1, 30)]
    # The broker is away (no sink): an alarm heard once over LoRa, then hours of heartbeats from a
    # whole street, with the alarm's retries arriving in between.
    hear(sos[0])
    for b in beats[:5]:
        hear(b)
    hear(sos[1])  # the retry: same counter, newer age, so the first copy is protected from now on
    for b in beats[5:20]:
        hear(b)
    hear(sos[2])
    for b in beats[20:]:
        hear(b)
    kept = [p for _, p in spool.after(0, 1000)]
    frames_kept = [bytes.fromhex(json.loads(p)["frame"]) for p in kept]
    assert [f for f in frames_kept if f in sos] == sos  # every alarm copy, in order
    assert spool.depth == 6  # back at the bound: only heartbeats were shed
    assert spool.evicted == len(sos) + len(beats) - 6
    assert frames_kept[-3:] == beats[-3:]  # the newest heartbeats stayed


def test_malformed_frames_counted_by_radio_and_reason(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.db")
    relay = Relay(settings_for(tmp_path, 1), spool)
    good = uplink.encode(KEYS, uplink.Uplink(1, 7, EVENT_SOS))
    relay.on_frames([lora(good[:10], 1.0), lora(b"\x11" + good[1:], 1.0), lora(good, 1.0)])
    relay.on_frame(ReceivedFrame(good + b"x", "ble", 1.0))
    assert dict(relay.stats.malformed) == {"lora.length": 1, "lora.version": 1, "ble.length": 1}
    assert relay.stats.forwarded == 1 and spool.depth == 1
    snap = relay.snapshot()
    assert snap["malformed_total"] == 3 and snap["spool_depth"] == 1 and snap["heard"] == {"lora": 3, "ble": 1}
