"""Downlink requests from the broker to LoRa transmissions (txpk), and routes learned from uplinks. Pure.

A downlink names the uplink it answers; the relay remembers which forwarder heard that uplink best (and its
``tmst``), so the ACK goes out through that forwarder. A key ring listens for ACKs on one frequency and data
rate (869.525 MHz SF9, inverted IQ: docs/keyring.md), continuously while an alarm is open and for 3 s after a
heartbeat that asks for one, so by default the ACK is sent at once on those; a request may instead ask for a
send timed on the uplink's ``tmst``.
"""

import base64
import json
import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from basestation.gateway.record import ReceivedFrame
from protocol.constants import ACK_SIZE, UPLINK_SIZE, VERSION_ACK

_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_EUI = re.compile(r"^[0-9a-f]{16}$")


@dataclass(frozen=True, slots=True)
class RadioDefaults:
    """Where key rings listen for ACKs, unless a request says otherwise (GatewaySettings.downlink_*)."""

    freq_mhz: float = 869.525
    datr: str = "SF9BW125"
    power_dbm: int = 14


class DownlinkError(ValueError):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Downlink:
    id: str
    frame: bytes
    uplink: bytes | None
    forwarder: str | None
    delay_ms: int | None  # None: send at once; else this long after the uplink's tmst
    freq_mhz: float | None
    datr: str | None
    power_dbm: int | None
    ipol: bool


def parse_downlink(payload: bytes) -> Downlink:
    """Validate a message from ``nightwatch/v1/down/{id}``. Raises only ``DownlinkError``."""
    try:
        doc = json.loads(payload)
    except (ValueError, RecursionError):
        raise DownlinkError("json") from None
    if not isinstance(doc, dict):
        raise DownlinkError("json")
    ident = doc.get("id")
    if not isinstance(ident, str) or not _ID.match(ident):
        raise DownlinkError("id")
    if doc.get("radio", "lora") != "lora":
        raise DownlinkError("radio")  # BLE gateways only listen
    frame = _hex(doc.get("frame"), ACK_SIZE, "frame")
    if frame[0] != VERSION_ACK:
        raise DownlinkError("frame")
    uplink = None if doc.get("uplink") is None else _hex(doc.get("uplink"), UPLINK_SIZE, "uplink")
    forwarder = doc.get("forwarder")
    if forwarder is not None and (not isinstance(forwarder, str) or not _EUI.match(forwarder.lower())):
        raise DownlinkError("forwarder")
    delay = doc.get("delay_ms")
    if delay is not None and (isinstance(delay, bool) or not isinstance(delay, int) or not 0 <= delay <= 60_000):
        raise DownlinkError("delay_ms")
    freq = doc.get("freq_mhz")
    if freq is not None and (isinstance(freq, bool) or not isinstance(freq, int | float) or freq <= 0):
        raise DownlinkError("freq_mhz")
    datr = doc.get("datr")
    if datr is not None and (not isinstance(datr, str) or not re.fullmatch(r"SF\d{1,2}BW\d{3}", datr)):
        raise DownlinkError("datr")
    power = doc.get("power_dbm")
    if power is not None and (isinstance(power, bool) or not isinstance(power, int) or not 0 <= power <= 30):
        raise DownlinkError("power_dbm")
    ipol = doc.get("ipol", True)
    if not isinstance(ipol, bool):
        raise DownlinkError("ipol")
    return Downlink(
        id=ident,
        frame=frame,
        uplink=uplink,
        forwarder=None if forwarder is None else forwarder.lower(),
        delay_ms=delay,
        freq_mhz=None if freq is None else float(freq),
        datr=datr,
        power_dbm=power,
        ipol=ipol,
    )


def _hex(value: object, size: int, reason: str) -> bytes:
    if not isinstance(value, str) or len(value) != 2 * size:
        raise DownlinkError(reason)
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise DownlinkError(reason) from None


class Routes:
    """Which forwarder heard a LoRa uplink best, for the last ``size`` distinct uplinks."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._best: OrderedDict[bytes, ReceivedFrame] = OrderedDict()

    def heard(self, rec: ReceivedFrame) -> None:
        if rec.radio != "lora" or rec.forwarder is None:
            return
        old = self._best.get(rec.frame)
        if old is None or _quality(rec) > _quality(old):
            self._best[rec.frame] = rec
            self._best.move_to_end(rec.frame)
            if len(self._best) > self.size:
                self._best.popitem(last=False)

    def get(self, frame: bytes) -> ReceivedFrame | None:
        return self._best.get(frame)


def _quality(rec: ReceivedFrame) -> float:
    # SNR decides at the edge of coverage; RSSI breaks ties when the forwarder does not report SNR.
    return (rec.snr if rec.snr is not None else -100.0) * 1000 + (rec.rssi or -200.0)


def build_txpk(dl: Downlink, heard: ReceivedFrame | None, radio: RadioDefaults) -> tuple[str, dict[str, Any]]:
    """The forwarder EUI to send through and the txpk."""
    forwarder = dl.forwarder or (heard.forwarder if heard is not None else None)
    if forwarder is None:
        raise DownlinkError("no_route")
    txpk: dict[str, Any] = {
        "freq": dl.freq_mhz if dl.freq_mhz is not None else radio.freq_mhz,
        "datr": dl.datr if dl.datr is not None else radio.datr,
        "rfch": 0,
        "powe": dl.power_dbm if dl.power_dbm is not None else radio.power_dbm,
        "modu": "LORA",
        "codr": "4/5",
        "ipol": dl.ipol,
        "size": len(dl.frame),
        "data": base64.b64encode(dl.frame).decode(),
    }
    if dl.delay_ms is None:
        txpk["imme"] = True
    elif heard is None or heard.tmst is None or heard.forwarder != forwarder:
        raise DownlinkError("no_tmst")  # a timed send needs that forwarder's own counter
    else:
        txpk["imme"] = False
        txpk["tmst"] = (heard.tmst + dl.delay_ms * 1000) & 0xFFFFFFFF  # the counter wraps at 2^32 µs
    return forwarder, txpk


class RecentIds:
    """Which downlink ids were seen lately, so each request is carried out once.

    The dispatch service publishes every downlink on each broker a gateway uses (docs/gateway.md, "Mirror
    broker"), so a gateway with a mirror receives two copies; a second transmission would cost the ring's
    channel airtime under its duty cycle and tell the ring nothing new. An id is remembered for ``memory_s``
    from its first copy (not refreshed by later ones) and at most ``max_entries`` of them, oldest forgotten
    first. A copy later than that is carried out again: an ACK is stale by then, and a repeated ACK is harmless
    to the ring, whereas remembering without bound is not harmless to the gateway.
    """

    def __init__(self, memory_s: float = 600.0, max_entries: int = 10_000) -> None:
        if memory_s <= 0 or max_entries < 1:
            raise ValueError("need memory_s > 0 and max_entries >= 1")
        self.memory_s = memory_s
        self.max_entries = max_entries
        self._first: OrderedDict[str, float] = OrderedDict()  # id -> when first seen, oldest first

    def __len__(self) -> int:
        return len(self._first)

    def first(self, ident: str, now: float) -> bool:
        """True for the first copy of ``ident`` (remembered from ``now``, a monotonic clock), False for a copy
        of one seen less than ``memory_s`` ago."""
        while self._first and now - next(iter(self._first.values())) >= self.memory_s:
            self._first.popitem(last=False)
        if ident in self._first:
            return False
        self._first[ident] = now
        if len(self._first) > self.max_entries:
            self._first.popitem(last=False)
        return True
