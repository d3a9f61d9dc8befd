"""No static identifier on the air: consecutive frames of one device share no bytes beyond the version.

Random 24-byte strings agree at a given position with probability 1/256, so "share no bytes" is shown as: no
position beyond the version byte agrees between consecutive frames more often than chance allows, even when
the device sends exactly the same event, battery and age each time (the case a static field would betray).
"""

import itertools

from protocol import uplink
from protocol.constants import EVENT_HEARTBEAT, UPLINK_SIZE, VERSION_UPLINK
from protocol.keys import DeviceKeys

PAIRS = 4000


def _frames(keys: DeviceKeys, first: int, n: int) -> list[bytes]:
    return [uplink.encode(keys, uplink.Uplink(c, 7, EVENT_HEARTBEAT, 80, 60)) for c in range(first, first + n)]


def test_consecutive_frames_share_no_bytes_beyond_the_version() -> None:
    keys = DeviceKeys(bytes.fromhex("00112233445566778899aabbccddeeff"))
    frames = _frames(keys, 1, PAIRS + 1)
    assert all(f[0] == VERSION_UPLINK for f in frames)
    equal_at = [0] * UPLINK_SIZE
    for a, b in itertools.pairwise(frames):
        for i in range(1, UPLINK_SIZE):
            equal_at[i] += a[i] == b[i]
    # Expected 4000/256 = 15.6 per position; a field that stayed put would score 4000.
    assert max(equal_at[1:]) < 40, equal_at


def test_no_four_byte_run_repeats_between_consecutive_frames() -> None:
    keys = DeviceKeys(bytes(16))
    frames = _frames(keys, 1000, 2001)
    for a, b in itertools.pairwise(frames):
        grams = {a[i : i + 4] for i in range(1, UPLINK_SIZE - 3)}
        assert not any(b[i : i + 4] in grams for i in range(1, UPLINK_SIZE - 3))


def test_two_devices_with_the_same_fields_look_unrelated() -> None:
    up = uplink.Uplink(1, 7, EVENT_HEARTBEAT, 80, 60)
    a = uplink.encode(DeviceKeys(bytes(16)), up)
    b = uplink.encode(DeviceKeys(bytes(15) + b"\x01"), up)
    assert a[0] == b[0]
    assert sum(x == y for x, y in zip(a[1:], b[1:], strict=True)) <= 2
