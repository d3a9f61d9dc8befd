"""The example timeline files shipped with the runner do what their comments say."""

from firmware.config import Config
from firmware.host.runner import Run
from firmware.host.timeline import load
from protocol import uplink
from protocol.constants import EVENT_DURESS, EVENT_SOS
from protocol.keys import DeviceKeys

KEY = bytes.fromhex("000102030405060708090a0b0c0d0e0f")


def test_sos_help_duress():
    out = []
    Run(Config(42, KEY), load("firmware/host/timelines/sos_help_duress.txt"), out.append).run()
    keys = DeviceKeys(KEY)
    events = []
    for r in out:
        if r["kind"] == "radio":
            frame = bytes.fromhex(r["frame"])
            for c in range(1, 50):
                if uplink.verify(keys, frame, c):
                    events.append(uplink.decode(keys, frame, c).event)
    assert EVENT_SOS in events and events[-1] == EVENT_DURESS
    pats = [r["value"] for r in out if r["kind"] == "pattern"]
    assert pats == ["sos", "duress"]
    feel = [r["value"] for r in out if r["kind"] == "feedback"]
    assert feel[-3:] == ["received", "help", "cancelled"]
    assert [r["heard"] for r in out if r["kind"] == "downlink"] == [True, True, True]
    first_sos = next(r["t_ms"] for r in out if r["kind"] == "pattern")
    assert first_sos == 3000
