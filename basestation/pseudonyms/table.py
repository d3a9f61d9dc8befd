"""A compact multimap from 48-bit pseudonyms to device slots (CPython, server side).

A Python dict of 100k devices x 24 pseudonyms costs about 170 MB, mostly in int objects. This table stores the
same in two flat ``array`` buffers, 12 bytes a slot: open addressing with linear probing. Pseudonyms are AES
output, so their low bits index the table directly with no hashing. A key is stored as ``pid + 1`` so that 0
marks an empty slot; removals leave a tombstone, and the table is rebuilt when those pile up.
"""

from array import array
from collections.abc import Iterator

_EMPTY = 0
_TOMB = (1 << 64) - 1
_MAX_LOAD = 0.6


class PseudonymTable:
    def __init__(self, expected: int = 1024) -> None:
        self._alloc(max(1024, expected))
        self._live = 0

    def _alloc(self, entries: int) -> None:
        cap = 1
        while cap * _MAX_LOAD < entries:
            cap <<= 1
        self._keys = array("Q", bytes(8 * cap))
        self._vals = array("I", bytes(4 * cap))
        self._mask = cap - 1
        self._used = 0  # live entries plus tombstones

    def __len__(self) -> int:
        return self._live

    @property
    def capacity(self) -> int:
        return self._mask + 1

    @property
    def nbytes(self) -> int:
        return self._keys.itemsize * len(self._keys) + self._vals.itemsize * len(self._vals)

    def insert(self, pid: int, val: int) -> None:
        if (self._used + 1) > _MAX_LOAD * self.capacity:
            self._rebuild(self._live + 1)
        keys, mask = self._keys, self._mask
        i = pid & mask
        while True:
            k = keys[i]
            if k in (_EMPTY, _TOMB):
                if k == _EMPTY:
                    self._used += 1
                keys[i] = pid + 1
                self._vals[i] = val
                self._live += 1
                return
            i = (i + 1) & mask

    def find(self, pid: int) -> list[int]:
        keys, mask, want = self._keys, self._mask, pid + 1
        i = pid & mask
        out: list[int] = []
        while (k := keys[i]) != _EMPTY:
            if k == want:
                out.append(self._vals[i])
            i = (i + 1) & mask
        return out

    def remove(self, pid: int, val: int) -> bool:
        keys, mask, want = self._keys, self._mask, pid + 1
        i = pid & mask
        while (k := keys[i]) != _EMPTY:
            if k == want and self._vals[i] == val:
                keys[i] = _TOMB
                self._live -= 1
                return True
            i = (i + 1) & mask
        return False

    def items(self) -> Iterator[tuple[int, int]]:
        for i, k in enumerate(self._keys):
            if k not in (_EMPTY, _TOMB):
                yield k - 1, self._vals[i]

    def _rebuild(self, entries: int) -> None:
        old = list(self.items())
        # Grow only when live entries need it; otherwise the same size, just without tombstones.
        self._alloc(max(entries, self._live) * 2 if entries > _MAX_LOAD * self.capacity / 2 else entries)
        self._live = 0
        for pid, val in old:
            self.insert(pid, val)
