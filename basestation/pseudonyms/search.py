"""Batched pseudonym search (CPython, numpy): thousands of AES blocks per call instead of one per counter.

Used where the server must find a counter it did not expect: the resolver's recovery sweep for a device that
sent many unheard frames, and `nightwatch frame decode`, which finds a frame from the key alone. The block
layout is SPEC 5.2's, built column-wise so one ECB call encrypts every candidate.
"""

import numpy as np
import numpy.typing as npt
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from protocol.constants import BLOCK_PSEUDONYM, COUNTER_MAX, COUNTER_MIN

_BLOCK_DTYPE = np.dtype(
    [("domain", "u1"), ("dir", "u1"), ("counter", ">u4"), ("seq", "u1"), ("pad", "V8"), ("last", "u1")]
)
assert _BLOCK_DTYPE.itemsize == 16

Pseudonyms = npt.NDArray[np.uint64]


def pseudonyms(k_id: bytes, direction: int, seq: int, start: int, count: int, size: int) -> Pseudonyms:
    """The ``size``-byte pseudonyms of counters ``start .. start+count-1`` as big-endian integers."""
    blocks = np.zeros(count, dtype=_BLOCK_DTYPE)
    blocks["domain"] = BLOCK_PSEUDONYM
    blocks["dir"] = direction
    blocks["seq"] = seq
    blocks["counter"] = np.arange(start, start + count, dtype=np.uint64)
    enc = Cipher(algorithms.AES(k_id), modes.ECB()).encryptor()
    out = np.frombuffer(enc.update(blocks.tobytes()), dtype=np.uint8).reshape(count, 16)
    wide = np.zeros((count, 8), dtype=np.uint8)
    wide[:, 8 - size :] = out[:, :size]
    return wide.view(">u8").reshape(count).astype(np.uint64)


def find_counters(
    k_id: bytes,
    target: bytes,
    direction: int,
    seq: int,
    first: int,
    last: int,
    chunk: int = 1 << 16,
) -> list[int]:
    """Every counter in ``first..last`` whose pseudonym equals ``target`` (usually none or one)."""
    first = max(first, COUNTER_MIN)
    last = min(last, COUNTER_MAX)
    want = np.uint64(int.from_bytes(target, "big"))
    found: list[int] = []
    start = first
    while start <= last:
        n = min(chunk, last - start + 1)
        hits = np.flatnonzero(pseudonyms(k_id, direction, seq, start, n, len(target)) == want)
        found.extend(start + int(i) for i in hits)
        start += n
    return found
