"""Server side: from a frame's pseudonym to its device and counter in O(1) (SPEC 7).

The resolver keeps, per device, the pseudonyms of the counters it may hear next (up to ``lookahead`` above the
highest accepted counter) and of the few just below it (``lookbehind``, so late copies resolve and count as
duplicates instead of unknown). All of them sit in one dict keyed by the pseudonym's integer value. A device
that sent more unheard frames than the lookahead is found again by :meth:`Resolver.recover`, a batched sweep
over a wider horizon; the caller decides how often to run it.
"""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from protocol import uplink
from protocol.constants import (
    COUNTER_MAX,
    DIR_UP,
    LOOKAHEAD,
    LOOKBEHIND,
    PSEUDONYM_SIZE,
    REASON_MIC,
    REASON_UNKNOWN_DEVICE,
    RECOVERY_HORIZON,
)
from protocol.errors import FrameError
from protocol.keys import DeviceKeys
from protocol.replay import ACCEPT, ReplayWindow
from protocol.search import find_counters, pseudonyms


@dataclass(eq=False, slots=True)
class Device:
    device_id: int
    keys: DeviceKeys
    replay: ReplayWindow
    # counter -> pseudonym for every counter currently in the table
    window: dict[int, int] = field(default_factory=dict)

    @property
    def highest(self) -> int:
        return self.replay.highest


@dataclass(frozen=True, slots=True)
class Resolved:
    device: Device
    counter: int


class Resolver:
    def __init__(
        self, lookahead: int = LOOKAHEAD, lookbehind: int = LOOKBEHIND, horizon: int = RECOVERY_HORIZON
    ) -> None:
        self.lookahead = lookahead
        self.lookbehind = lookbehind
        self.horizon = horizon
        self._devices: dict[int, Device] = {}
        # pseudonym -> device, or a tuple of devices in the rare case two share one
        self._table: dict[int, Device | tuple[Device, ...]] = {}

    def __len__(self) -> int:
        return len(self._devices)

    def __iter__(self) -> Iterator[Device]:
        return iter(self._devices.values())

    @property
    def table_size(self) -> int:
        return len(self._table)

    def get(self, device_id: int) -> Device | None:
        return self._devices.get(device_id)

    def add(self, device_id: int, root_key: bytes, highest: int = 0, bitmap: int = 0) -> Device:
        """Register a device; ``highest`` and ``bitmap`` restore its replay state from storage."""
        if device_id in self._devices:
            self.remove(device_id)
        dev = Device(device_id, DeviceKeys(root_key), ReplayWindow(highest, bitmap))
        self._devices[device_id] = dev
        self._fill(dev)
        return dev

    def remove(self, device_id: int) -> None:
        dev = self._devices.pop(device_id)
        for pid in dev.window.values():
            self._unlink(pid, dev)
        dev.window.clear()

    def _range(self, dev: Device) -> range:
        lo = max(1, dev.highest - self.lookbehind + 1)
        hi = min(COUNTER_MAX, dev.highest + self.lookahead)
        return range(lo, hi + 1)

    def _fill(self, dev: Device) -> None:
        want = self._range(dev)
        for counter in [c for c in dev.window if c not in want]:
            self._unlink(dev.window.pop(counter), dev)
        missing = [c for c in want if c not in dev.window]
        if not missing:
            return
        # One batched AES call for the whole run; after an accept that is usually one or two counters.
        pids = pseudonyms(dev.keys.k_id, DIR_UP, 0, missing[0], missing[-1] - missing[0] + 1, PSEUDONYM_SIZE)
        for counter in missing:
            pid = int(pids[counter - missing[0]])
            dev.window[counter] = pid
            self._link(pid, dev)

    def _link(self, pid: int, dev: Device) -> None:
        cur = self._table.get(pid)
        if cur is None:
            self._table[pid] = dev
        elif isinstance(cur, tuple):
            self._table[pid] = (*cur, dev)
        else:
            self._table[pid] = (cur, dev)

    def _unlink(self, pid: int, dev: Device) -> None:
        cur = self._table.get(pid)
        if cur is dev:
            del self._table[pid]
        elif isinstance(cur, tuple):
            rest = tuple(d for d in cur if d is not dev)
            self._table[pid] = rest[0] if len(rest) == 1 else rest

    def candidates(self, pid: bytes) -> list[tuple[Device, int]]:
        key = int.from_bytes(pid, "big")
        hit = self._table.get(key)
        if hit is None:
            return []
        devs = hit if isinstance(hit, tuple) else (hit,)
        return [(d, c) for d in devs for c, p in d.window.items() if p == key]

    def resolve(self, frame: bytes) -> Resolved:
        """The device and counter of a frame whose MIC verifies, or FrameError (length, version, unknown, mic)."""
        pid = uplink.check_shape(frame)
        found = self.candidates(pid)
        for dev, counter in found:
            if uplink.verify(dev.keys, frame, counter):
                return Resolved(dev, counter)
        raise FrameError(REASON_MIC if found else REASON_UNKNOWN_DEVICE)

    def accept(self, dev: Device, counter: int) -> str:
        """Replay check and update (SPEC 8); slides the device's table when its highest counter moves."""
        before = dev.highest
        verdict = dev.replay.accept(counter)
        if verdict == ACCEPT and dev.highest != before:
            self._fill(dev)
        return verdict

    def recover(self, frames: Iterable[bytes], devices: Iterable[Device] | None = None) -> list[Resolved]:
        """Sweep ``horizon`` counters past each device's table for frames nothing resolved (SPEC 7.3).

        Costs one batched AES call per device, so the caller runs it on a queue of unresolved frames, not per
        frame. A found frame is returned verified; the caller then accepts it, which re-centres the table.
        """
        pending: dict[int, bytes] = {}
        for f in frames:
            try:
                pending[int.from_bytes(uplink.check_shape(f), "big")] = f
            except FrameError:
                continue
        found: list[Resolved] = []
        if not pending:
            return found
        import numpy as np

        wanted = np.fromiter(pending.keys(), dtype=np.uint64, count=len(pending))
        for dev in self._devices.values() if devices is None else devices:
            start = dev.highest + self.lookahead + 1
            count = min(self.horizon, COUNTER_MAX - start + 1)
            if count <= 0:
                continue
            pids = pseudonyms(dev.keys.k_id, DIR_UP, 0, start, count, PSEUDONYM_SIZE)
            for i in np.flatnonzero(np.isin(pids, wanted)):
                counter = start + int(i)
                frame = pending.get(int(pids[i]))
                if frame is not None and uplink.verify(dev.keys, frame, counter):
                    found.append(Resolved(dev, counter))
                    del pending[int(pids[i])]
            if not pending:
                break
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
