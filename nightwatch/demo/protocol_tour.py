"""`make demo`: what exists so far, on embedded defaults. Later parts grow it into the whole city."""

import json
import os

from basestation.pseudonyms.resolver import Resolver
from protocol import ack, uplink
from protocol.constants import (
    ACK_HELP_ON_THE_WAY,
    EVENT_CANCEL,
    EVENT_HEARTBEAT,
    EVENT_NAMES,
    EVENT_SOS,
    FLAG_ACK_REQUESTED,
)
from protocol.errors import FrameError
from protocol.keys import DeviceKeys


def run() -> None:
    print("Nightwatch demo: protocol v1 between key rings and the dispatch resolver.\n")
    resolver = Resolver()
    rings = {device_id: os.urandom(16) for device_id in range(1, 1001)}
    for device_id, root in rings.items():
        resolver.add(device_id, root)
    print(f"Provisioned {len(resolver)} key rings; resolver table holds {resolver.table_size} pseudonyms.\n")

    keys = DeviceKeys(rings[42])
    script = [
        uplink.Uplink(1, 42, EVENT_HEARTBEAT, 97, 60),
        uplink.Uplink(2, 42, EVENT_SOS, 96, 0, 0, FLAG_ACK_REQUESTED),
        uplink.Uplink(2, 42, EVENT_SOS, 96, 0, 4, FLAG_ACK_REQUESTED),
        uplink.Uplink(3, 42, EVENT_CANCEL, 96, 1, 0, FLAG_ACK_REQUESTED),
    ]
    for up in script:
        frame = uplink.encode(keys, up)
        print(f"key ring 42 sends {EVENT_NAMES[up.event]:<9} counter {up.counter}: {frame.hex()}")
        try:
            res = resolver.resolve(frame)
        except FrameError as e:
            print(f"  rejected: {e.reason}")
            continue
        verdict = resolver.accept(res.device_id, res.counter)
        fields = uplink.decode(res.keys, frame, res.counter).to_dict()
        outcome = "new" if verdict == "accept" else "copy of a counter already accepted, adds reception only"
        print(f"  resolved to device {res.device_id} ({outcome}): {json.dumps(fields)}")
        if up.event == EVENT_SOS and verdict == "accept":
            down = ack.encode(res.keys, ack.Ack(res.counter, ACK_HELP_ON_THE_WAY, 0, 4))
            got = ack.decode(keys, down, up.counter)
            print(f"  downlink ACK {down.hex()} -> key ring shows {got.to_dict()['state']}")

    forged = bytearray(uplink.encode(keys, uplink.Uplink(9, 42, EVENT_SOS)))
    forged[-1] ^= 1
    try:
        resolver.resolve(bytes(forged))
    except FrameError as e:
        print(f"\nA forged frame (one MIC bit flipped) is rejected: {e.reason}")
    print("\nNext: `nightwatch frame decode --key HEX FRAME` decodes any captured frame from its key alone.")
