"""Writes protocol/vectors.json, the shared test vectors (CPython). Run: python -m harness.make_vectors.

The file is committed; a test regenerates it and fails on any difference, so a change to the wire format is
always a visible change to the vectors. Frames that must be rejected but need a valid MIC around bad
plaintext (unknown event, reserved bits) are sealed here by hand with the same keys, as an attacker holding
no key could not do, to prove the decoder checks fields after the MIC.
"""

import json
import struct
import sys
from pathlib import Path
from typing import Any

from protocol import ack, uplink
from protocol import constants as spec
from protocol.keys import DeviceKeys, xor
from protocol.replay import ReplayWindow

PATH = Path(__file__).resolve().parents[1] / "protocol" / "vectors.json"
KEY_A = bytes(range(16))
KEY_B = bytes.fromhex("2b7e151628aed2a6abf7158809cf4f3c")
KEY_C = bytes(16 * [0xFF])


def _fields(up: uplink.Uplink) -> dict[str, int]:
    return {
        "device_id": up.device_id,
        "event": up.event,
        "battery": up.battery,
        "aux": up.aux,
        "age": up.age,
        "flags": up.flags,
    }


def _seal(keys: DeviceKeys, counter: int, body: bytes) -> bytes:
    head = bytes((spec.VERSION_UPLINK,)) + uplink.pseudonym(keys, counter)
    head += xor(body, keys.keystream(spec.DIR_UP, counter, 0))
    return head + keys.mic(spec.DIR_UP, counter, 0, head, spec.UPLINK_MIC_SIZE)


def _seal_ack(keys: DeviceKeys, counter: int, seq: int, state: int, eta: int) -> bytes:
    head = bytes((spec.VERSION_ACK,)) + ack.tag(keys, counter, seq) + bytes((seq,))
    head += xor(bytes((state, eta)), keys.keystream(spec.DIR_DOWN, counter, seq))
    return head + keys.mic(spec.DIR_DOWN, counter, seq, head, 8)


def _flip(frame: bytes, bit: int) -> bytes:
    out = bytearray(frame)
    out[bit // 8] ^= 0x80 >> (bit % 8)
    return bytes(out)


def build() -> dict[str, Any]:
    vectors: list[dict[str, Any]] = []

    def add(kind: str, name: str, **data: Any) -> None:
        vectors.append({"kind": kind, "name": name, **data})

    for root in (KEY_A, KEY_B):
        k = DeviceKeys(root)
        add(
            "kdf",
            "key derivation",
            root_key=root.hex(),
            k_mic=k.k_mic.hex(),
            k_enc=k.k_enc.hex(),
            k_id=k.k_id.hex(),
        )

    good = [
        ("sos, first counter", KEY_A, uplink.Uplink(1, 1, spec.EVENT_SOS, 100, 0, 0, spec.FLAG_ACK_REQUESTED)),
        (
            "sos retry keeps counter, age moves",
            KEY_A,
            uplink.Uplink(1, 1, spec.EVENT_SOS, 100, 0, 37, spec.FLAG_ACK_REQUESTED),
        ),
        ("escort", KEY_A, uplink.Uplink(2, 1, spec.EVENT_ESCORT, 88, 0, 0, spec.FLAG_ACK_REQUESTED)),
        ("cancel names counter 1", KEY_A, uplink.Uplink(3, 1, spec.EVENT_CANCEL, 88, 2, 0, spec.FLAG_ACK_REQUESTED)),
        ("duress names counter 1", KEY_A, uplink.Uplink(4, 1, spec.EVENT_DURESS, 88, 3, 5, spec.FLAG_ACK_REQUESTED)),
        ("heartbeat hourly, boot", KEY_A, uplink.Uplink(9, 1, spec.EVENT_HEARTBEAT, 77, 60, 0, spec.FLAG_BOOT)),
        ("low battery", KEY_A, uplink.Uplink(10, 1, spec.EVENT_LOW_BATTERY, 9, 60, 0, 0)),
        ("test", KEY_A, uplink.Uplink(11, 1, spec.EVENT_TEST, 255, 0, 0, spec.FLAG_ACK_REQUESTED)),
        ("counter 255", KEY_B, uplink.Uplink(255, 70000, spec.EVENT_SOS, 50)),
        ("counter 256", KEY_B, uplink.Uplink(256, 70000, spec.EVENT_SOS, 50)),
        ("counter 65535", KEY_B, uplink.Uplink(65535, 70000, spec.EVENT_HEARTBEAT, 50, 1440)),
        ("counter 65536", KEY_B, uplink.Uplink(65536, 70000, spec.EVENT_HEARTBEAT, 50, 1440)),
        ("counter 2^20-1 (decode search limit)", KEY_B, uplink.Uplink((1 << 20) - 1, 70000, spec.EVENT_SOS, 0)),
        ("counter 2^24", KEY_B, uplink.Uplink(1 << 24, 70000, spec.EVENT_ESCORT, 1)),
        ("counter 2^32-1 (last)", KEY_C, uplink.Uplink(0xFFFFFFFF, 0xFFFFFFFF, spec.EVENT_SOS, 100, 0, 0xFFFF, 3)),
        ("device id 0, battery unknown", KEY_C, uplink.Uplink(2, 0, spec.EVENT_TEST, 255)),
        ("cancel of the far past", KEY_C, uplink.Uplink(70000, 5, spec.EVENT_CANCEL, 40, 65535)),
        # SPEC 4.4: an alarm without ACK_REQUESTED is valid, and the server answers it all the same.
        ("duress naming counter 256, no ack requested", KEY_B, uplink.Uplink(300, 70000, spec.EVENT_DURESS, 50, 44)),
    ]
    for name, root, up in good:
        k = DeviceKeys(root)
        add(
            "uplink",
            name,
            root_key=root.hex(),
            counter=up.counter,
            fields=_fields(up),
            pseudonym=uplink.pseudonym(k, up.counter).hex(),
            frame=uplink.encode(k, up).hex(),
        )

    ka = DeviceKeys(KEY_A)
    sos = uplink.encode(ka, uplink.Uplink(5, 1, spec.EVENT_SOS, 90, 0, 0, spec.FLAG_ACK_REQUESTED))
    body = struct.pack(">BBHHI", spec.EVENT_SOS, 90, 0, 0, 1)

    def bad_body(ev_flags: int, battery: int = 90, aux: int = 0) -> bytes:
        return _seal(ka, 5, struct.pack(">BBHHI", ev_flags, battery, aux, 0, 1))

    rejects = [
        ("empty", b"", "length"),
        ("one byte short", sos[:-1], "length"),
        ("one byte long", sos + b"\x00", "length"),
        ("version 0", b"\x00" + sos[1:], "version"),
        ("version 2 uplink", b"\x20" + sos[1:], "version"),
        ("an ack where an uplink belongs", b"\x11" + sos[1:], "version"),
        ("MIC bit flipped", _flip(sos, 23 * 8 + 7), "mic"),
        ("pseudonym bit flipped", _flip(sos, 8), "mic"),
        ("body bit flipped", _flip(sos, spec.BODY_OFFSET * 8), "mic"),
        ("random MIC", sos[:17] + bytes.fromhex("00112233445566"), "mic"),
        ("event 0 under a valid MIC", bad_body(0), "event"),
        ("event 9 under a valid MIC", bad_body(9), "event"),
        ("reserved flag under a valid MIC", bad_body(0x40 | spec.EVENT_SOS), "field"),
        ("battery 101 under a valid MIC", bad_body(spec.EVENT_SOS, battery=101), "field"),
        ("sos with aux set under a valid MIC", bad_body(spec.EVENT_SOS, aux=1), "field"),
        ("cancel naming counter 0 under a valid MIC", bad_body(spec.EVENT_CANCEL, aux=5), "field"),
        ("cancel naming itself under a valid MIC", bad_body(spec.EVENT_CANCEL, aux=0), "field"),
        # SPEC 9: byte 0 is read before the length, so these are `version` whatever their size.
        ("a whole ack where an uplink belongs", ack.encode(ka, ack.Ack(5, spec.ACK_RECEIVED)), "version"),
        ("first byte 0x12, uplink length", b"\x12" + sos[1:], "version"),
        ("first byte 0x12, ack length", b"\x12" + sos[1:16], "version"),
        ("first byte 0x12 alone", b"\x12", "version"),
        ("uplink version byte alone", sos[:1], "length"),
    ]
    assert body  # the good body the bad ones vary
    for name, frame, reason in rejects:
        add("uplink_reject", name, root_key=KEY_A.hex(), counter=5, frame=frame.hex(), reason=reason)
    for name, key, counter in (("right frame, wrong counter", KEY_A, 6), ("right frame, other device's key", KEY_B, 5)):
        add("uplink_reject", name, root_key=key.hex(), counter=counter, frame=sos.hex(), reason="mic")

    acks = [
        ("received", KEY_A, ack.Ack(1, spec.ACK_RECEIVED, 0, 0)),
        ("help on the way, eta 4 min", KEY_A, ack.Ack(1, spec.ACK_HELP_ON_THE_WAY, 1, 4)),
        ("cancel confirmed (also the answer to duress)", KEY_A, ack.Ack(4, spec.ACK_CANCELLED, 0, 0)),
        ("last counter, seq 255", KEY_C, ack.Ack(0xFFFFFFFF, spec.ACK_HELP_ON_THE_WAY, 255, 255)),
        ("unavailable: nobody can come now, call 112", KEY_A, ack.Ack(1, spec.ACK_UNAVAILABLE, 2, 0)),
        ("help after unavailable: a responder came on duty", KEY_A, ack.Ack(1, spec.ACK_HELP_ON_THE_WAY, 3, 9)),
        ("closed: the alarm is over", KEY_A, ack.Ack(1, spec.ACK_CLOSED, 4, 0)),
        ("closed as the last ack of a counter, seq 255", KEY_B, ack.Ack(70000, spec.ACK_CLOSED, spec.ACK_SEQ_MAX, 0)),
    ]
    for name, root, a in acks:
        add(
            "ack",
            name,
            root_key=root.hex(),
            counter=a.counter,
            state=spec.ACK_STATE_NAMES[a.state],
            seq=a.seq,
            eta_min=a.eta_min,
            frame=ack.encode(DeviceKeys(root), a).hex(),
        )
    help1 = ack.encode(ka, ack.Ack(1, spec.ACK_HELP_ON_THE_WAY, 1, 4))
    ack_rejects = [
        ("help for another alarm of the same ring", KEY_A, 2, help1, "unknown_device"),
        ("help for another ring", KEY_B, 1, help1, "unknown_device"),
        ("state byte flipped: received forged into help", KEY_A, 1, _flip(help1, 6 * 8 + 7), "mic"),
        ("MIC bit flipped", KEY_A, 1, _flip(help1, 15 * 8), "mic"),
        ("truncated", KEY_A, 1, help1[:15], "length"),
        ("uplink version byte", KEY_A, 1, b"\x10" + help1[1:], "version"),
        ("state 0 under a valid MIC", KEY_A, 1, _seal_ack(ka, 1, 0, 0, 0), "field"),
        ("state 9 under a valid MIC", KEY_A, 1, _seal_ack(ka, 1, 0, 9, 0), "field"),
        ("state 6, one past unavailable, under a valid MIC", KEY_A, 1, _seal_ack(ka, 1, 5, 6, 0), "field"),
        ("state 255 under a valid MIC", KEY_A, 1, _seal_ack(ka, 1, spec.ACK_SEQ_MAX, 255, 0), "field"),
        # SPEC 9: byte 0 is read before the length, so these are `version` whatever their size.
        ("a whole uplink where an ack belongs", KEY_A, 5, sos, "version"),
        ("first byte 0x12, ack length", KEY_A, 1, b"\x12" + help1[1:], "version"),
        ("first byte 0x12, uplink length", KEY_A, 1, b"\x12" + help1[1:] + bytes(8), "version"),
        ("first byte 0x12 alone", KEY_A, 1, b"\x12", "version"),
        ("empty", KEY_A, 1, b"", "length"),
        ("ack version byte alone", KEY_A, 1, help1[:1], "length"),
        ("one byte long", KEY_A, 1, help1 + b"\x00", "length"),
    ]
    for name, root, counter, frame, reason in ack_rejects:
        add("ack_reject", name, root_key=root.hex(), counter=counter, frame=frame.hex(), reason=reason)

    replays = [
        ("in order", 0, 0, [1, 2, 3]),
        ("copy of each counter", 0, 0, [1, 1, 2, 2, 1]),
        ("late copy inside the window, then again", 0, 0, [10, 5, 5, 9]),
        ("window edge: 31 below is late, 32 below is too old", 0, 0, [40, 9, 8]),
        ("jump beyond the window clears it", 0, 0, [3, 100, 3, 99, 100]),
        ("restored state", 50, 0b1011, [50, 49, 48, 47, 51, 48]),
        ("last counter", 0xFFFFFFFE, 1, [0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFF]),
    ]
    for name, highest, bitmap, seq in replays:
        w = ReplayWindow(highest, bitmap)
        verdicts = [w.accept(c) for c in seq]
        add("replay", name, highest=highest, bitmap=bitmap, counters=seq, verdicts=verdicts)

    resolves: list[tuple[str, int, int, str | None]] = [
        ("next counter", 100, 101, None),
        ("last counter in the lookahead", 100, 100 + spec.LOOKAHEAD, None),
        ("one past the lookahead: needs recovery", 100, 101 + spec.LOOKAHEAD, "unknown_device"),
        ("latest accepted (a copy)", 100, 100, None),
        ("oldest in the lookbehind", 100, 101 - spec.LOOKBEHIND, None),
        ("one below the lookbehind", 100, 100 - spec.LOOKBEHIND, "unknown_device"),
        ("fresh device, counter 1", 0, 1, None),
    ]
    for name, highest, counter, why in resolves:
        frame = uplink.encode(ka, uplink.Uplink(counter, 1, spec.EVENT_HEARTBEAT, 80, 60))
        add(
            "resolve",
            name,
            root_key=KEY_A.hex(),
            highest=highest,
            frame=frame.hex(),
            counter=counter if why is None else None,
            reason=why,
        )

    return {
        "protocol_version": 1,
        "about": "Shared test vectors for Nightwatch protocol v1; see protocol/SPEC.md section 11.",
        "events": {str(code): name for code, name in spec.EVENT_NAMES.items()},
        "lookahead": spec.LOOKAHEAD,
        "lookbehind": spec.LOOKBEHIND,
        "vectors": vectors,
    }


def render() -> str:
    return json.dumps(build(), indent=1) + "\n"


if __name__ == "__main__":
    PATH.write_text(render())
    print(f"wrote {len(build()['vectors'])} vectors to {PATH}", file=sys.stderr)
