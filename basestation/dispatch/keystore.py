"""Device root keys at rest: sealed with AES-256-GCM under a key from the settings, bound to the device id.

A stolen database then holds no usable key. A sealed key is ``0x01 || nonce (12) || ciphertext+tag (32)``; a
16-byte value is an unsealed key, which only a service without a sealing key writes (tests, the demo), and which
it says so in its log at start.
"""

import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

SEALED = 0x01
_NONCE = 12


class KeyStoreError(ValueError):
    pass


class KeySealer:
    def __init__(self, key: bytes | None) -> None:
        if key is not None and len(key) != 32:
            raise KeyStoreError("the key-sealing key must be 32 bytes (64 hex digits)")
        self._aead = AESGCM(key) if key is not None else None

    @property
    def sealing(self) -> bool:
        return self._aead is not None

    def seal(self, device_id: int, root_key: bytes) -> bytes:
        if self._aead is None:
            return root_key
        nonce = os.urandom(_NONCE)
        return bytes((SEALED,)) + nonce + self._aead.encrypt(nonce, root_key, _aad(device_id))

    def open(self, device_id: int, stored: bytes) -> bytes:
        if len(stored) == 16:
            return stored
        if stored[:1] != bytes((SEALED,)):
            raise KeyStoreError(f"device {device_id}: unknown key format")
        if self._aead is None:
            raise KeyStoreError(f"device {device_id}: key is sealed and no sealing key is set")
        try:
            return self._aead.decrypt(stored[1 : 1 + _NONCE], stored[1 + _NONCE :], _aad(device_id))
        except Exception:
            raise KeyStoreError(f"device {device_id}: key does not open with this sealing key") from None


def _aad(device_id: int) -> bytes:
    # Bound to its row: a sealed key copied onto another device id will not open.
    return b"nightwatch-device-key:" + device_id.to_bytes(4, "big")
