"""A second implementation written from SPEC.md alone, with `cryptography` primitives and no project code.

If SPEC.md and the codec ever disagree, these tests say so: the vectors must come out of the spec's text.
"""

import json
import struct
from pathlib import Path

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.cmac import CMAC

VECTORS = Path(__file__).resolve().parents[2] / "protocol" / "vectors.json"


def aes(key: bytes, block: bytes) -> bytes:
    enc = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return enc.update(block) + enc.finalize()


def cmac(key: bytes, msg: bytes) -> bytes:
    c = CMAC(algorithms.AES(key))
    c.update(msg)
    return c.finalize()


def derive(root: bytes) -> tuple[bytes, bytes, bytes]:  # SPEC 5.1
    return tuple(aes(root, bytes([label, 0x4E, 0x57, 0x01]) + bytes(12)) for label in (1, 2, 3))  # type: ignore[return-value]


def block(domain: int, direction: int, counter: int, seq: int, last: int) -> bytes:  # SPEC 5.2
    return bytes([domain, direction]) + counter.to_bytes(4, "big") + bytes([seq]) + bytes(8) + bytes([last])


def uplink(root: bytes, counter: int, f: dict[str, int]) -> bytes:  # SPEC 3, 4.1
    k_mic, k_enc, k_id = derive(root)
    body = struct.pack(">BBHHI", (f["flags"] << 4) | f["event"], f["battery"], f["aux"], f["age"], f["device_id"])
    ks = aes(k_enc, block(0x41, 0, counter, 0, 1))
    head = b"\x10" + aes(k_id, block(0x50, 0, counter, 0, 0))[:6] + bytes(a ^ b for a, b in zip(body, ks, strict=False))
    return head + cmac(k_mic, block(0x42, 0, counter, 0, len(head)) + head)[:7]


def ack(root: bytes, counter: int, state: int, seq: int, eta: int) -> bytes:  # SPEC 6
    k_mic, k_enc, k_id = derive(root)
    ks = aes(k_enc, block(0x41, 1, counter, seq, 1))
    head = b"\x11" + aes(k_id, block(0x50, 1, counter, seq, 0))[:4] + bytes([seq, state ^ ks[0], eta ^ ks[1]])
    return head + cmac(k_mic, block(0x42, 1, counter, seq, len(head)) + head)[:8]


STATES = {"received": 1, "help_on_the_way": 2, "cancelled": 3, "closed": 4, "unavailable": 5}  # SPEC 6.1


def shape_reason(frame: bytes, version: int, size: int) -> str | None:  # SPEC 9: byte 0, then the length
    if not frame:
        return "length"
    if frame[0] != version:
        return "version"
    return None if len(frame) == size else "length"


def test_spec_text_reproduces_every_vector() -> None:
    doc = json.loads(VECTORS.read_text())
    checked = 0
    for v in doc["vectors"]:
        if v["kind"] == "kdf":
            assert [k.hex() for k in derive(bytes.fromhex(v["root_key"]))] == [
                v["k_mic"],
                v["k_enc"],
                v["k_id"],
            ]
        elif v["kind"] == "uplink":
            assert uplink(bytes.fromhex(v["root_key"]), v["counter"], v["fields"]).hex() == v["frame"], v["name"]
        elif v["kind"] == "ack":
            got = ack(bytes.fromhex(v["root_key"]), v["counter"], STATES[v["state"]], v["seq"], v["eta_min"])
            assert got.hex() == v["frame"], v["name"]
        else:
            continue
        checked += 1
    assert checked >= 20


def test_worked_example_in_the_spec_is_current() -> None:
    import re

    text = (VECTORS.parent / "SPEC.md").read_text()
    root = bytes(range(16))
    fields = {"flags": 1, "event": 1, "battery": 80, "aux": 0, "age": 0, "device_id": 7}
    frame = re.search(r"^\| frame \| `([0-9a-f]+)` \|$", text, re.M)
    reply = re.search(r"^\| ACK \| `([0-9a-f]+)` \|$", text, re.M)
    assert frame is not None and reply is not None
    assert frame.group(1) == uplink(root, 41, fields).hex()
    assert reply.group(1) == ack(root, 41, 2, 0, 4).hex()


def test_spec_check_order_gives_every_shape_reason_of_the_vectors() -> None:
    doc = json.loads(VECTORS.read_text())
    shapes = {"uplink_reject": (0x10, 24), "ack_reject": (0x11, 16)}
    checked = 0
    for v in doc["vectors"]:
        if v["kind"] in shapes and v["reason"] in ("length", "version"):
            assert shape_reason(bytes.fromhex(v["frame"]), *shapes[v["kind"]]) == v["reason"], v["name"]
            checked += 1
        elif v["kind"] in shapes:
            # Any later reason needs a frame of the right shape.
            assert shape_reason(bytes.fromhex(v["frame"]), *shapes[v["kind"]]) is None, v["name"]
    assert checked >= 15


def test_spec_states_are_every_state_of_the_vectors() -> None:
    doc = json.loads(VECTORS.read_text())
    assert {v["state"] for v in doc["vectors"] if v["kind"] == "ack"} == set(STATES)
