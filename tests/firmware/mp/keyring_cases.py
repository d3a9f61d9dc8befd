"""What the key ring application's tests share (test_fw_keyring_alarms.py, test_fw_keyring_heartbeats.py), on
both runtimes: a ring past its boot, and the uplinks it sent."""

from protocol.uplink import Uplink
from tests.firmware.mp.sim import Sim


def booted() -> Sim:
    """A ring on fakes, booted and past its boot heartbeat's receive window."""
    s = Sim()
    s.run_for(5000)  # past the boot heartbeat's receive window
    return s


def uplinks(s: Sim, radio: str, since: int = 0) -> list[Uplink]:
    """The uplinks ``s`` sent on ``radio`` ("lora" or "ble") from ``since`` on, decoded."""
    return [s.decode(r["frame"]) for r in s.frames(radio) if r["t_ms"] >= since]
