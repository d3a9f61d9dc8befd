"""Device root keys at rest: sealed with AES-256-GCM under a key from the settings, bound to the device id.

A stolen database then holds no usable key. A sealed key is ``0x01 || nonce (12) || ciphertext+tag (32)``; a
16-byte value is an unsealed key, which only a service told ``insecure_unsealed_keys`` writes, and which says so
in its log at start (keys provisioned before sealing was the default stay as they were, and still open).

The sealing key is the ``key_sealing_key`` setting or, by default, a file the service makes on its first start
(``key_file``): lose it and no ring's key opens again.
"""

import errno
import logging
import os
import re
import stat
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

SEALED = 0x01
_NONCE = 12

log = logging.getLogger("nightwatch.dispatch.keystore")


class KeyStoreError(ValueError):
    pass


class KeySealer:
    def __init__(self, key: bytes | None) -> None:
        if key is not None and len(key) != 32:
            raise KeyStoreError("the key-sealing key must be 32 bytes (64 hex digits)")
        self._aead = AESGCM(key) if key is not None else None
        self._told_unsealed = False

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
            if self._aead is not None and not self._told_unsealed:
                # Once: the service opens every key at start. Provisioned before sealing was the default, or with
                # insecure_unsealed_keys; whoever has the database has them, and nothing seals them afterwards yet.
                self._told_unsealed = True
                log.warning("device keys stored unsealed in the database, device %d's among them", device_id)
            return stored
        if stored[:1] != bytes((SEALED,)):
            raise KeyStoreError(f"device {device_id}: unknown key format")
        if self._aead is None:
            raise KeyStoreError(f"device {device_id}: key is sealed and no sealing key is set")
        try:
            return self._aead.decrypt(stored[1 : 1 + _NONCE], stored[1 + _NONCE :], _aad(device_id))
        except Exception:
            raise KeyStoreError(
                f"device {device_id}: its key does not open with this sealing key; the database was sealed under"
                " another key_sealing_key or key_sealing_key_file"
            ) from None


def key_file(path: Path) -> tuple[bytes, bool]:
    """The sealing key in ``path`` (64 hex digits), made there first if there is no such file; True if made now.

    Made with O_EXCL and mode 0600 in one call, so it is never readable by others, not even for an instant, and
    two services starting together cannot each write a key of their own. A file others may read or write is
    refused rather than used: whoever can read it can open every ring's key."""
    made = False
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        pass
    except OSError as e:
        raise KeyStoreError(
            f"key_sealing_key_file {path}: cannot be made ({os.strerror(e.errno or errno.EIO)})"
        ) from None
    else:
        try:
            os.write(fd, os.urandom(32).hex().encode() + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
        made = True
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as e:
        raise KeyStoreError(
            f"key_sealing_key_file {path}: cannot be read ({os.strerror(e.errno or errno.EIO)})"
        ) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise KeyStoreError(f"key_sealing_key_file {path}: not a regular file")
        if st.st_mode & 0o077:
            raise KeyStoreError(
                f"key_sealing_key_file {path}: mode {stat.S_IMODE(st.st_mode):04o} lets others at the key that opens"
                f" every ring's key; refusing to start (chmod 600 {path})"
            )
        text = os.read(fd, 4096).decode("ascii", "replace").strip()
    finally:
        os.close(fd)
    if not re.fullmatch(r"[0-9a-fA-F]{64}", text):
        # Never the content: it is the key, or most of it.
        raise KeyStoreError(f"key_sealing_key_file {path}: does not hold a key (64 hex digits)")
    return bytes.fromhex(text), made


def _aad(device_id: int) -> bytes:
    # Bound to its row: a sealed key copied onto another device id will not open.
    return b"nightwatch-device-key:" + device_id.to_bytes(4, "big")
