"""Server side: from a frame's pseudonym to its device and counter in O(1) (SPEC 7).

Per device the resolver keeps the pseudonyms of the counters it may hear next (up to ``lookahead`` above the
highest accepted counter) and of the few just below (``lookbehind``), so that late copies resolve and count as
duplicates rather than unknown devices. Every one of them sits in one :class:`PseudonymTable`; per-device state
lives in flat arrays indexed by a slot number, so 100k devices cost tens of megabytes, not hundreds. A device that
sent more unheard frames than the lookahead is found again by :meth:`Resolver.recover`, a batched sweep over a
wider horizon that the caller runs on a queue of unresolved frames.
"""

from array import array
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from basestation.pseudonyms.search import find_counters, pseudonyms
from basestation.pseudonyms.table import PseudonymTable
from protocol import uplink
from protocol.constants import (
    COUNTER_MAX,
    DIR_UP,
    LOOKAHEAD,
    LOOKBEHIND,
    PSEUDONYM_OFFSET,
    PSEUDONYM_SIZE,
    REASON_MIC,
    REASON_UNKNOWN_DEVICE,
    RECOVERY_HORIZON,
)
from protocol.errors import FrameError
from protocol.keys import DeviceKeys
from protocol.replay import ACCEPT, ReplayWindow

# Devices whose AES contexts stay built, the most recently heard first: about 3.4 kB each, so 55 MB when full.
# A ring in an alarm retries every few seconds, and building its three contexts again costs more than the rest
# of a frame's decoding. 16k is every ring heard in the last ten minutes of a city of 100k rings with hourly
# heartbeats, and far more than an alarm storm's (simulator/scenarios/alarm-storm.toml: 150 rings).
HOT_KEYS = 16384
# Pseudonyms of counters that left their device's window below (SPEC 7.3), the most recent this many over all
# devices: a recording of such a frame, replayed later, is then known as an old frame of its device and refused
# as a replay, instead of waiting for a recovery sweep that cannot place it (the sweep looks above the window).
# One retires per accepted frame, so in a city of 100k rings heard hourly this is the last hour and more, in under
# 10 MB. What is older than that, or older than a restart, is still an unknown device.
RETIRED = 1 << 17
# The window moves in steps of this many counters, holding up to STEP - 1 more above the lookahead than SPEC 7.3
# requires: a device's pseudonym key (an AES context to build) is then needed on one accept in STEP, not on each.
SLIDE_STEP = 4


@dataclass(frozen=True, slots=True)
class Resolved:
    device_id: int
    counter: int
    keys: DeviceKeys


class Resolver:
    def __init__(
        self,
        lookahead: int = LOOKAHEAD,
        lookbehind: int = LOOKBEHIND,
        horizon: int = RECOVERY_HORIZON,
        expected_devices: int = 1024,
        step: int = SLIDE_STEP,
        retired: int = RETIRED,
    ) -> None:
        self.lookahead = lookahead
        self.step = step
        self.lookbehind = lookbehind
        self.horizon = horizon
        self._span = lookahead + lookbehind + step - 1
        self._slot_of: dict[int, int] = {}
        self._ids: list[int | None] = []  # slot -> device id, None for a freed slot
        self._free: list[int] = []
        self._derived: list[bytes] = []  # slot -> k_mic || k_enc || k_id
        self._replay: list[ReplayWindow] = []
        self._base = array("q")  # slot -> counter of the first pseudonym held; 0 if none
        self._pids = array("Q")  # slot * span + counter % span -> pseudonym of that counter
        self._count = array("B")  # slot -> how many pseudonyms are held
        self._table = PseudonymTable(expected_devices * (lookahead + step - 1))
        self._hot: OrderedDict[int, DeviceKeys] = OrderedDict()
        # A ring of the retired: entry i holds a pseudonym, the slot and the counter it was of, and ``_old`` maps
        # each pseudonym to its entry. Grown as counters retire, then written over oldest first.
        self.retired = retired
        self._old = PseudonymTable()
        self._old_pids = array("Q")
        self._old_slots = array("I")
        self._old_counters = array("Q")
        self._old_next = 0

    def __len__(self) -> int:
        return len(self._slot_of)

    def __contains__(self, device_id: int) -> bool:
        return device_id in self._slot_of

    @property
    def table_size(self) -> int:
        return len(self._table)

    @property
    def table_bytes(self) -> int:
        return self._table.nbytes + self._pids.itemsize * len(self._pids)

    def add(self, device_id: int, root_key: bytes, highest: int = 0, bitmap: int = 0) -> None:
        """Register a device; ``highest`` and ``bitmap`` restore its replay state from storage."""
        if device_id in self._slot_of:
            self.remove(device_id)
        keys = DeviceKeys(root_key)
        if self._free:
            slot = self._free.pop()
            self._ids[slot] = device_id
            self._derived[slot] = keys.derived
            self._replay[slot] = ReplayWindow(highest, bitmap)
        else:
            slot = len(self._ids)
            self._ids.append(device_id)
            self._derived.append(keys.derived)
            self._replay.append(ReplayWindow(highest, bitmap))
            self._base.append(0)
            self._count.append(0)
            self._pids.extend([0] * self._span)
        self._slot_of[device_id] = slot
        self._fill(slot, keys)

    def remove(self, device_id: int) -> None:
        slot = self._slot_of.pop(device_id)
        self._clear(slot)
        self._ids[slot] = None
        self._hot.pop(slot, None)
        self._free.append(slot)

    def highest(self, device_id: int) -> int:
        return self._replay[self._slot_of[device_id]].highest

    def window(self, device_id: int) -> range:
        """The counters whose pseudonyms are in the table for this device."""
        slot = self._slot_of[device_id]
        return range(self._base[slot], self._base[slot] + self._count[slot])

    def keys(self, device_id: int) -> DeviceKeys:
        return self._keys(self._slot_of[device_id])

    def _keys(self, slot: int) -> DeviceKeys:
        keys = self._hot.get(slot)
        if keys is None:
            keys = DeviceKeys(derived=self._derived[slot])
            self._hot[slot] = keys
            if len(self._hot) > HOT_KEYS:
                self._hot.popitem(last=False)
        else:
            self._hot.move_to_end(slot)
        return keys

    # A device's pseudonyms sit in a ring of ``span`` positions indexed by counter modulo span, and the table maps
    # each pseudonym straight to its position: a lookup finds device and counter without scanning, and sliding
    # the window rewrites only the positions of the counters that entered it.

    def _counter_at(self, slot: int, pos: int) -> int:
        base = self._base[slot]
        return base + ((pos - slot * self._span) - base) % self._span

    def _clear(self, slot: int) -> None:
        base, off = self._base[slot], slot * self._span
        for c in range(base, base + self._count[slot]):
            pos = off + c % self._span
            self._table.remove(self._pids[pos], pos)
        self._count[slot] = 0

    def _fill(self, slot: int, keys: DeviceKeys) -> None:
        """Point the slot's pseudonyms at the counters around its highest accepted one.

        Only the counters that leave or enter the window are touched: an accept moves it by one, and this runs
        for nearly every frame the service accepts.
        """
        highest = self._replay[slot].highest
        lo = max(1, highest - self.lookbehind + 1)
        hi = min(COUNTER_MAX, highest + self.lookahead + self.step - 1)
        base, count, off, span = self._base[slot], self._count[slot], slot * self._span, self._span
        top = base + count - 1
        if count and (hi < base or lo > top):
            if lo > top:
                for c in range(base, top + 1):
                    self._retire(slot, c, self._pids[off + c % span])
            self._clear(slot)
            count = 0
        if count:
            table, pids = self._table, self._pids
            for c in range(base, min(top, lo - 1) + 1):
                pos = off + c % span
                table.remove(pids[pos], pos)
                self._retire(slot, c, pids[pos])
            for c in range(max(base, hi + 1), top + 1):
                pos = off + c % span
                table.remove(pids[pos], pos)
            new = [*range(lo, min(hi, base - 1) + 1), *range(max(lo, top + 1), hi + 1)]
        else:
            new = list(range(lo, hi + 1))
        if len(new) > 4:
            fresh = pseudonyms(keys.k_id, DIR_UP, 0, new[0], new[-1] - new[0] + 1, PSEUDONYM_SIZE)
            computed = {c: int(fresh[c - new[0]]) for c in new}
        else:
            computed = {c: int.from_bytes(uplink.pseudonym(keys, c), "big") for c in new}
        for c, pid in computed.items():
            pos = off + c % span
            self._pids[pos] = pid
            self._table.insert(pid, pos)
        self._base[slot] = lo
        self._count[slot] = hi - lo + 1

    def _retire(self, slot: int, counter: int, pid: int) -> None:
        if not self.retired:
            return
        i = self._old_next
        if i < len(self._old_pids):
            self._old.remove(self._old_pids[i], i)
            self._old_pids[i], self._old_slots[i], self._old_counters[i] = pid, slot, counter
        else:
            self._old_pids.append(pid)
            self._old_slots.append(slot)
            self._old_counters.append(counter)
        self._old.insert(pid, i)
        self._old_next = (i + 1) % self.retired

    def behind(self, frame: bytes) -> tuple[int, int, str] | None:
        """(device id, counter, verdict) of a frame that resolved to no device because its counter has left its
        device's window below, and whose MIC verifies under it; else None. The verdict is the replay window's
        (``replay``, ``too_old``), or ``behind_window`` for a counter never accepted: the window no longer
        recognises it (SPEC 7.3), so it is not accepted late. For frames ``resolve`` found no device for only."""
        pid = int.from_bytes(frame[PSEUDONYM_OFFSET : PSEUDONYM_OFFSET + PSEUDONYM_SIZE], "big")
        for i in self._old.find(pid):
            slot = self._old_slots[i]
            device_id = self._ids[slot]
            counter = self._old_counters[i]
            # A freed or reused slot, or a window since put back over this counter (a device added again).
            if device_id is None or counter >= self._base[slot]:
                continue
            if uplink.verify(self._keys(slot), frame, counter):
                verdict = self._replay[slot].check(counter)
                return device_id, counter, "behind_window" if verdict == ACCEPT else verdict
        return None

    def candidates(self, pid: bytes) -> list[tuple[int, int]]:
        """(device id, counter) pairs whose pseudonym is ``pid``: almost always none or one."""
        out: list[tuple[int, int]] = []
        for pos in self._table.find(int.from_bytes(pid, "big")):
            slot = pos // self._span
            out.append((self._ids[slot], self._counter_at(slot, pos)))  # type: ignore[arg-type]
        return out

    def resolve(self, frame: bytes) -> Resolved:
        """The device and counter of a frame whose MIC verifies, or FrameError (length, version, unknown, mic)."""
        pid = uplink.check_shape(frame)
        found = self.candidates(pid)
        for device_id, counter in found:
            keys = self._keys(self._slot_of[device_id])
            if uplink.verify(keys, frame, counter):
                return Resolved(device_id, counter, keys)
        raise FrameError(REASON_MIC if found else REASON_UNKNOWN_DEVICE)

    def accept(self, device_id: int, counter: int) -> str:
        """Replay check and update (SPEC 8); slides the device's pseudonyms when its highest counter moves."""
        slot = self._slot_of[device_id]
        window = self._replay[slot]
        before = window.highest
        verdict = window.accept(counter)
        if verdict == ACCEPT and window.highest != before:
            held_top = self._base[slot] + self._count[slot] - 1
            if window.highest + self.lookahead > held_top:
                self._fill(slot, self._keys(slot))
        return verdict

    def replay_state(self, device_id: int) -> tuple[int, int]:
        """(highest, bitmap) to persist after an accept."""
        w = self._replay[self._slot_of[device_id]]
        return w.highest, w.bitmap

    def recover(self, frames: Iterable[bytes], device_ids: Iterable[int] | None = None) -> dict[bytes, Resolved]:
        """Sweep ``horizon`` counters past each device's window for frames nothing resolved (SPEC 7.5).

        One batched AES call per device, so run it on a queue of unresolved frames, not per frame. Returns each
        found frame with its device and counter, verified; accepting it re-centres that device's window.
        """
        pending: dict[int, bytes] = {}
        for f in frames:
            try:
                pending[int.from_bytes(uplink.check_shape(f), "big")] = f
            except FrameError:
                continue
        found: dict[bytes, Resolved] = {}
        slots = list(self._slot_of.values()) if device_ids is None else [self._slot_of[d] for d in device_ids]
        for slot in slots:
            if not pending:
                break
            start = self._replay[slot].highest + self.lookahead + 1
            count = min(self.horizon, COUNTER_MAX - start + 1)
            if count <= 0:
                continue
            k_id = self._derived[slot][32:48]
            cands = pseudonyms(k_id, DIR_UP, 0, start, count, PSEUDONYM_SIZE)
            wanted = np.fromiter(pending.keys(), dtype=np.uint64, count=len(pending))
            for i in np.flatnonzero(np.isin(cands, wanted)):
                pid = int(cands[i])
                # Fresh keys, not the hot cache: a sweep may run in a worker thread beside the event loop.
                keys = DeviceKeys(derived=self._derived[slot])
                frame = pending[pid]
                if uplink.verify(keys, frame, start + int(i)):
                    found[frame] = Resolved(self._ids[slot], start + int(i), keys)  # type: ignore[arg-type]
                    del pending[pid]
        return found


def search_key(keys: DeviceKeys, frame: bytes, first: int = 1, last: int = (1 << 20) - 1) -> int:
    """The counter of an uplink from one known key, searching ``first..last`` (for tools, not the hot path)."""
    pid = uplink.check_shape(frame)
    matches = find_counters(keys.k_id, pid, DIR_UP, 0, first, last)
    for counter in matches:
        if uplink.verify(keys, frame, counter):
            return counter
    if matches:
        raise FrameError(REASON_MIC, "pseudonym of counter " + str(matches[0]) + " but the MIC fails")
    raise FrameError(REASON_UNKNOWN_DEVICE, "no counter in " + str(first) + ".." + str(last) + " matches")
