"""The pure core: frame checks, duplicate suppression and the envelope. No I/O; time is always passed in."""

import json
import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from basestation.gateway.record import ReceivedFrame
from protocol.constants import PSEUDONYM_OFFSET, PSEUDONYM_SIZE
from protocol.errors import FrameError
from protocol.uplink import check_shape

ENVELOPE_VERSION = 1


def frame_problem(frame: bytes) -> str | None:
    """None for a 24-byte v1 uplink, else the codec's reason ('length' or 'version'). Needs no key."""
    try:
        check_shape(frame)
    except FrameError as err:
        return err.reason
    return None


def pseudonym(frame: bytes) -> bytes:
    """Bytes 1-6 of an uplink: derived from the counter alone (SPEC 3), so every copy and every retry of
    one alarm shares them, while no two counters of a device do."""
    return frame[PSEUDONYM_OFFSET : PSEUDONYM_OFFSET + PSEUDONYM_SIZE]


@dataclass(frozen=True, slots=True)
class Sighting:
    forward: bool  # first copy, or first copy after the window ran out
    copies: int  # copies of these exact bytes heard (within the memory)
    repeats: int  # frames heard with this pseudonym: identical copies and retries with a newer age byte


class _Seen:
    __slots__ = ("copies", "forwarded_at", "last_heard")

    def __init__(self, now: float) -> None:
        self.forwarded_at = now
        self.last_heard = now
        self.copies = 1


class Deduper:
    """Forward a distinct frame once, at once; suppress this gateway's own later copies for ``window_s``.

    A BLE burst repeats the same 24 bytes every 20-100 ms. Forwarding each copy would multiply broker
    traffic by the burst length with no new information; the dispatch service dedupes across gateways, so
    one copy per gateway and window is enough. A copy heard after the window is forwarded again: it may be
    a retry whose first copy was lost upstream, and it costs the dispatch service one duplicate check.

    Counts are kept longer (``memory_s``) than the window, per frame and per pseudonym: the spool uses the
    pseudonym count to tell what a device repeats (alarm bursts; retries, which keep the counter but not
    the ``age`` byte) from what it sends once (heartbeats). Memory is bounded by ``max_entries`` each; the
    least recently heard is forgotten first.
    """

    def __init__(self, window_s: float = 5.0, memory_s: float = 600.0, max_entries: int = 50_000) -> None:
        if window_s < 0 or memory_s < window_s or max_entries < 1:
            raise ValueError("need 0 <= window_s <= memory_s and max_entries >= 1")
        self.window_s = window_s
        self.memory_s = memory_s
        self.max_entries = max_entries
        self._seen: OrderedDict[bytes, _Seen] = OrderedDict()
        self._names: OrderedDict[bytes, _Seen] = OrderedDict()

    def __len__(self) -> int:
        return len(self._seen)

    def observe(self, frame: bytes, now: float) -> Sighting:
        """Record one copy heard at ``now`` (a monotonic clock) and say whether to forward it."""
        self._forget(self._seen, now)
        self._forget(self._names, now)
        repeats = self._count(self._names, pseudonym(frame), now).copies
        seen = self._count(self._seen, frame, now)
        if seen.copies == 1:
            return Sighting(True, 1, repeats)
        # A clock that went backwards counts as inside the window: suppressing is the safe side here,
        # since the first copy is already on its way.
        if now - seen.forwarded_at >= self.window_s:
            seen.forwarded_at = now
            return Sighting(True, seen.copies, repeats)
        return Sighting(False, seen.copies, repeats)

    def _count(self, table: "OrderedDict[bytes, _Seen]", key: bytes, now: float) -> _Seen:
        seen = table.get(key)
        if seen is None:
            seen = table[key] = _Seen(now)
            if len(table) > self.max_entries:
                table.popitem(last=False)
            return seen
        seen.copies += 1
        seen.last_heard = now
        table.move_to_end(key)
        return seen

    def _forget(self, table: "OrderedDict[bytes, _Seen]", now: float) -> None:
        horizon = now - self.memory_s
        while table:
            oldest = next(iter(table.values()))
            if oldest.last_heard >= horizon:
                break
            table.popitem(last=False)


# What the envelope can carry of a radio's metadata (docs/schemas/uplink-envelope.schema.json). A forwarder that
# reports nonsense (an RSSI of +90 dBm, a frequency of -1) loses that field, never the frame: the service refuses
# an envelope outside the schema, and the frame may be an alarm.
_RANGES: dict[str, tuple[float, float]] = {
    "rssi": (-200, 50),
    "snr": (-50, 50),
    "freq_mhz": (0, 10_000),
    "tmst": (0, 0xFFFFFFFF),
    "chan": (0, 255),
    "rfch": (0, 255),
}
_INTEGERS = frozenset({"tmst", "chan", "rfch"})
_DATR_MAX = 32
_EUI = re.compile(r"[0-9a-f]{16}")


def _carried(name: str, value: object) -> bool:
    if value is None:
        return False
    if name in _RANGES:
        low, high = _RANGES[name]
        kind = int if name in _INTEGERS else (int, float)
        return isinstance(value, kind) and not isinstance(value, bool) and low <= value <= high
    if name == "datr":
        return isinstance(value, str) and len(value) <= _DATR_MAX
    return isinstance(value, str) and _EUI.fullmatch(value) is not None  # forwarder


def envelope(record: ReceivedFrame, gateway_id: str) -> dict[str, Any]:
    """The uplink envelope of docs/mqtt.md. Fields the radio did not report, or reported beyond what the
    envelope can carry, are left out."""
    env: dict[str, Any] = {
        "v": ENVELOPE_VERSION,
        "gateway_id": gateway_id,
        "rx_time_ms": round(record.rx_time * 1000),
        "radio": record.radio,
        "frame": record.frame.hex(),
    }
    optional: dict[str, Any] = {
        "rssi": record.rssi,
        "snr": record.snr,
        "freq_mhz": record.freq_mhz,
        "datr": record.datr,
        "tmst": record.tmst,
        "forwarder": record.forwarder,
        "chan": record.chan,
        "rfch": record.rfch,
    }
    env.update((k, v) for k, v in optional.items() if _carried(k, v))
    return env


def encode_envelope(record: ReceivedFrame, gateway_id: str) -> bytes:
    return json.dumps(envelope(record, gateway_id), separators=(",", ":")).encode()
