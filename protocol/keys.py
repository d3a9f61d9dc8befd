"""Per-device keys and the AES input blocks built from them (SPEC 5)."""

import struct

from protocol.constants import (
    BLOCK_KEYSTREAM,
    BLOCK_MIC,
    BLOCK_PSEUDONYM,
    LABEL_ENC,
    LABEL_ID,
    LABEL_MIC,
    PROTOCOL_VERSION,
)
from protocol.crypto import Aes, Cmac

ROOT_KEY_SIZE = 16


def _kdf_block(label: int) -> bytes:
    # SPEC 5.1: label | "NW" | version | 12 zero bytes.
    return bytes((label, 0x4E, 0x57, PROTOCOL_VERSION)) + bytes(12)


def _block(domain: int, direction: int, counter: int, seq: int, last: int) -> bytes:
    # SPEC 5.2: domain | dir | counter (u32 BE) | seq | 8 zero bytes | last.
    return struct.pack(">BBIB8xB", domain, direction, counter, seq, last)


def pseudonym_block(direction: int, counter: int, seq: int) -> bytes:
    return _block(BLOCK_PSEUDONYM, direction, counter, seq, 0)


def keystream_block(direction: int, counter: int, seq: int) -> bytes:
    return _block(BLOCK_KEYSTREAM, direction, counter, seq, 1)


def mic_block(direction: int, counter: int, seq: int, length: int) -> bytes:
    return _block(BLOCK_MIC, direction, counter, seq, length)


def parse_root_key(text: str) -> bytes:
    """A root key as 32 hex digits; the error names the problem, never the key."""
    try:
        key = bytes.fromhex(text.strip())
    except ValueError:
        raise ValueError("root key must be hexadecimal") from None
    if len(key) != ROOT_KEY_SIZE:
        raise ValueError("root key must be 16 bytes (32 hex digits)")
    return key


class DeviceKeys:
    """The three keys derived from one device's root key, each keyed once for reuse."""

    def __init__(self, root_key: bytes) -> None:
        if len(root_key) != ROOT_KEY_SIZE:
            raise ValueError("root key must be 16 bytes")
        root = Aes(root_key)
        self.k_mic = root.encrypt(_kdf_block(LABEL_MIC))
        self.k_enc = root.encrypt(_kdf_block(LABEL_ENC))
        self.k_id = root.encrypt(_kdf_block(LABEL_ID))
        self._mic = Cmac(self.k_mic)
        self._enc = Aes(self.k_enc)
        self._id = Aes(self.k_id)

    def pseudonym(self, direction: int, counter: int, seq: int, size: int) -> bytes:
        return self._id.encrypt(pseudonym_block(direction, counter, seq))[:size]

    def keystream(self, direction: int, counter: int, seq: int) -> bytes:
        return self._enc.encrypt(keystream_block(direction, counter, seq))

    def mic(self, direction: int, counter: int, seq: int, msg: bytes, size: int) -> bytes:
        return self._mic.tag(mic_block(direction, counter, seq, len(msg)) + msg)[:size]


def xor(data: bytes, stream: bytes) -> bytes:
    out = bytearray(len(data))
    for i in range(len(data)):
        out[i] = data[i] ^ stream[i]
    return bytes(out)


def equal(a: bytes, b: bytes) -> bool:
    # Constant time in the content: a MIC compare must not tell an attacker how many bytes matched.
    if len(a) != len(b):
        return False
    diff = 0
    for i in range(len(a)):
        diff |= a[i] ^ b[i]
    return diff == 0
