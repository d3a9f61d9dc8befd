"""Frame counters that never repeat, even across a power cut at any instant (SPEC 7.2, 7.4).

The store keeps a reserved high-water mark ``hw`` in flash: every counter up to ``hw`` may have been used.
Counters are handed out from RAM until the reservation is spent; then the next block of ``COUNTER_BLOCK`` is
reserved *before* its first counter is returned. A reboot resumes at ``hw + 1``, skipping at most one block,
which the server's lookahead window (16) covers.

Two records, A and B, are written in turn, each ``magic | hw (u32 BE) | crc32``. A write always goes to the
record that does not hold the newest valid mark, so a power cut part-way leaves the newest mark intact in the
other record; a torn record fails its CRC and is ignored. Flash wear: one 12-byte write per 8 frames.
"""

import struct
from binascii import crc32

from protocol.constants import COUNTER_BLOCK, COUNTER_MAX, COUNTER_MIN

NAMES = ("ctr_a", "ctr_b")
_MAGIC = b"NWC1"
_FORMAT = ">4sI"
RECORD_SIZE = 12


class CounterExhaustedError(Exception):
    """2**32 - 1 frames were sent: the device must be re-provisioned with a new key."""


def pack(hw: int) -> bytes:
    body = struct.pack(_FORMAT, _MAGIC, hw)
    return body + struct.pack(">I", crc32(body) & 0xFFFFFFFF)


def unpack(data):  # -> int, or -1 when the record is missing or torn
    if data is None or len(data) != RECORD_SIZE:
        return -1
    body = bytes(data[:8])
    if struct.unpack(">I", data[8:12])[0] != crc32(body) & 0xFFFFFFFF:
        return -1
    magic, hw = struct.unpack(_FORMAT, body)
    if magic != _MAGIC:
        return -1
    return hw


class CounterStore:
    """``storage`` has ``read(name) -> bytes | None`` and ``write(name, data)``; a write may be cut short."""

    def __init__(self, storage, start: int = COUNTER_MIN, block: int = COUNTER_BLOCK) -> None:
        if not COUNTER_MIN <= start <= COUNTER_MAX:
            raise ValueError("counter start out of range")
        self._storage = storage
        self._block = block
        marks = [unpack(storage.read(name)) for name in NAMES]
        self._newest = 0 if marks[0] >= marks[1] else 1
        hw = marks[self._newest]
        self._hw = hw
        self._next = max(start, hw + 1)
        self._reserved = self._next - 1  # nothing reserved in this boot yet

    @property
    def reserved(self) -> int:
        """The end of the block reserved in flash during this boot (what ``resume`` needs after deep sleep)."""
        return self._reserved

    def resume(self, next_counter: int, reserved: int) -> bool:
        """Continue inside the block reserved before a deep sleep instead of skipping the rest of it.

        ``next_counter`` and ``reserved`` come from RTC memory, which survives deep sleep but not a power cut or
        a crash (the board hands them over only after a deep-sleep wake). They are taken only if flash still
        holds exactly that reservation, so no counter that may have been used is handed out again. Without
        this, every hourly wake would skip the rest of a block: 8 counters an hour, and the server's lookahead
        of 16 would be outrun by two unheard heartbeats.
        """
        if reserved != self._hw or not self._hw - self._block < next_counter <= reserved + 1:
            return False
        self._next = next_counter
        self._reserved = reserved
        return True

    def peek(self) -> int:
        """The counter ``take`` will return next."""
        return self._next

    def retained(self) -> "tuple[int, int]":
        """What RTC memory keeps for ``resume``, each in 32 bits. An exhausted store has nothing to resume: it
        keeps (0, 0), which ``resume`` declines, so the wake finds it exhausted still and no counter is reused."""
        if self._next > COUNTER_MAX:
            return 0, 0
        return self._next, self._reserved

    def take(self) -> int:
        counter = self._next
        if counter > COUNTER_MAX:
            raise CounterExhaustedError()
        if counter > self._reserved:
            hw = min(counter + self._block - 1, COUNTER_MAX)
            target = 1 - self._newest
            self._storage.write(NAMES[target], pack(hw))  # may not return: power cut
            self._newest = target
            self._reserved = hw
        self._next = counter + 1
        return counter
