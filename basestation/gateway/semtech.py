"""Semtech UDP packet-forwarder protocol, version 2: datagram parsing and building, no I/O.

Every datagram is a 4-byte header (version, 2-byte token, identifier) followed, for some identifiers, by an
8-byte gateway EUI and/or a JSON object. Anything a forwarder (or anyone else on the network) sends is
untrusted: every way parsing can fail surfaces as ``SemtechError`` with a short reason, nothing else.
"""

import base64
import binascii
import json
import math
from dataclasses import dataclass
from typing import Any

from basestation.gateway.record import ReceivedFrame

PROTOCOL_VERSION = 2
PUSH_DATA = 0x00
PUSH_ACK = 0x01
PULL_DATA = 0x02
PULL_RESP = 0x03
PULL_ACK = 0x04
TX_ACK = 0x05

_HEADER = 4
_EUI = 8
MAX_DATAGRAM = 65_507  # largest UDP payload over IPv4


class SemtechError(ValueError):
    """A datagram or rxpk this module refuses; ``reason`` is a short counter key."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Rxpk:
    """One received packet from a PUSH_DATA, the fields the relay uses."""

    data: bytes
    tmst: int | None
    time: str | None
    freq_mhz: float | None
    datr: str | None
    rssi: float | None
    lsnr: float | None
    stat: int
    modu: str | None
    chan: int | None
    rfch: int | None


@dataclass(frozen=True, slots=True)
class PushData:
    token: int
    eui: str
    rxpk: list[Rxpk]
    bad_rxpk: list[str]  # reasons of the entries that were refused; the good ones still count


@dataclass(frozen=True, slots=True)
class PullData:
    token: int
    eui: str


@dataclass(frozen=True, slots=True)
class TxAck:
    token: int
    eui: str
    error: str  # "NONE" when the forwarder accepted the downlink


Packet = PushData | PullData | TxAck


def parse(datagram: bytes) -> Packet:
    """Parse one upstream datagram (forwarder to server). Raises only ``SemtechError``."""
    if len(datagram) < _HEADER:
        raise SemtechError("short", f"{len(datagram)} bytes")
    if datagram[0] != PROTOCOL_VERSION:
        raise SemtechError("version", str(datagram[0]))
    token = int.from_bytes(datagram[1:3], "big")
    ident = datagram[3]
    if ident in (PUSH_DATA, PULL_DATA, TX_ACK):
        if len(datagram) < _HEADER + _EUI:
            raise SemtechError("short", "no gateway EUI")
        eui = datagram[_HEADER : _HEADER + _EUI].hex()
        body = datagram[_HEADER + _EUI :]
    else:
        raise SemtechError("identifier", hex(ident))
    if ident == PULL_DATA:
        return PullData(token, eui)
    if ident == TX_ACK:
        return TxAck(token, eui, _tx_ack_error(body))
    root = _json_object(body)
    rxpk = root.get("rxpk", [])
    if not isinstance(rxpk, list):
        raise SemtechError("json", "rxpk is not an array")
    good: list[Rxpk] = []
    bad: list[str] = []
    for item in rxpk:
        try:
            good.append(_rxpk(item))
        except SemtechError as err:
            bad.append(err.reason)
    return PushData(token, eui, good, bad)


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        root = json.loads(body)
    except (ValueError, RecursionError) as err:  # UnicodeDecodeError is a ValueError
        raise SemtechError("json", type(err).__name__) from None
    if not isinstance(root, dict):
        raise SemtechError("json", "root is not an object")
    return root


def _tx_ack_error(body: bytes) -> str:
    # An empty TX_ACK body means success (older forwarders send none).
    if not body.strip(b"\0 \t\r\n"):
        return "NONE"
    ack = _json_object(body.rstrip(b"\0")).get("txpk_ack", {})
    if not isinstance(ack, dict):
        raise SemtechError("json", "txpk_ack is not an object")
    error = ack.get("error", "NONE")
    if not isinstance(error, str) or not error.isascii() or len(error) > 32:
        raise SemtechError("json", "txpk_ack.error")
    return error


def _opt_number(item: dict[str, Any], key: str) -> float | None:
    value = item.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise SemtechError("field", key)
    return float(value)


def _opt_int(item: dict[str, Any], key: str, low: int, high: int) -> int | None:
    value = item.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise SemtechError("field", key)
    return value


def _opt_str(item: dict[str, Any], key: str) -> str | None:
    value = item.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 64:
        raise SemtechError("field", key)
    return value


def _rxpk(item: object) -> Rxpk:
    if not isinstance(item, dict):
        raise SemtechError("rxpk", "not an object")
    data = item.get("data")
    if not isinstance(data, str):
        raise SemtechError("field", "data")
    try:
        # Padding is optional in the protocol; restore it so the strict decoder accepts both forms.
        raw = base64.b64decode(data + "=" * (-len(data) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise SemtechError("field", "data") from None
    size = _opt_int(item, "size", 0, 0xFFFF)
    if size is not None and size != len(raw):
        raise SemtechError("field", "size")
    stat = _opt_int(item, "stat", -1, 1)
    datr = item.get("datr")
    if datr is not None and not isinstance(datr, str):
        # FSK reports a number; the key rings use LoRa only, but keep the value readable.
        if isinstance(datr, bool) or not isinstance(datr, int):
            raise SemtechError("field", "datr")
        datr = str(datr)
    if isinstance(datr, str) and len(datr) > 32:
        raise SemtechError("field", "datr")
    return Rxpk(
        data=raw,
        tmst=_opt_int(item, "tmst", 0, 0xFFFFFFFF),
        time=_opt_str(item, "time"),
        freq_mhz=_opt_number(item, "freq"),
        datr=datr,
        rssi=_opt_number(item, "rssi"),
        lsnr=_opt_number(item, "lsnr"),
        stat=1 if stat is None else stat,
        modu=_opt_str(item, "modu"),
        chan=_opt_int(item, "chan", 0, 0xFF),
        rfch=_opt_int(item, "rfch", 0, 0xFF),
    )


def to_record(pkt: Rxpk, eui: str, now: float) -> ReceivedFrame:
    """The neutral record. Receive time is the gateway's own clock: forwarders without GPS have no
    trustworthy ``time``, and one clock for every source keeps envelopes comparable."""
    return ReceivedFrame(
        frame=pkt.data,
        radio="lora",
        rx_time=now,
        rssi=pkt.rssi,
        snr=pkt.lsnr,
        freq_mhz=pkt.freq_mhz,
        datr=pkt.datr,
        tmst=pkt.tmst,
        forwarder=eui,
        chan=pkt.chan,
        rfch=pkt.rfch,
    )


def _header(token: int, ident: int) -> bytes:
    return bytes((PROTOCOL_VERSION,)) + token.to_bytes(2, "big") + bytes((ident,))


def push_ack(token: int) -> bytes:
    return _header(token, PUSH_ACK)


def pull_ack(token: int) -> bytes:
    return _header(token, PULL_ACK)


def pull_resp(token: int, txpk: dict[str, Any]) -> bytes:
    return _header(token, PULL_RESP) + json.dumps({"txpk": txpk}, separators=(",", ":")).encode()


def rxpk_entry(frame: bytes, tmst: int = 1_000_000, **fields: Any) -> dict[str, Any]:
    """One rxpk object as a packet forwarder reports a LoRa packet (PROTOCOL.TXT section 4); ``fields``
    override the defaults. For forwarder stand-ins: tests, the benchmark, the demo and the simulator."""
    pkt: dict[str, Any] = {
        "time": "2026-11-22T02:00:00.000000Z",
        "tmst": tmst,
        "chan": 2,
        "rfch": 0,
        "freq": 868.5,
        "stat": 1,
        "modu": "LORA",
        "datr": "SF9BW125",
        "codr": "4/5",
        "rssi": -97,
        "lsnr": 7.5,
        "size": len(frame),
        "data": base64.b64encode(frame).decode(),
    }
    pkt.update(fields)
    return pkt


def push_data(token: int, eui: str, rxpk: list[dict[str, Any]]) -> bytes:
    """What a forwarder sends; the relay never does, but tests and the benchmark build real datagrams."""
    body = json.dumps({"rxpk": rxpk}, separators=(",", ":")).encode()
    return _header(token, PUSH_DATA) + bytes.fromhex(eui) + body


def pull_data(token: int, eui: str) -> bytes:
    return _header(token, PULL_DATA) + bytes.fromhex(eui)


def tx_ack(token: int, eui: str, error: str = "NONE") -> bytes:
    body = json.dumps({"txpk_ack": {"error": error}}, separators=(",", ":")).encode()
    return _header(token, TX_ACK) + bytes.fromhex(eui) + body


def parse_pull_resp(datagram: bytes) -> tuple[int, dict[str, Any]]:
    """Token and txpk of a PULL_RESP: what a forwarder does with ours (tests, benchmark)."""
    if len(datagram) < _HEADER or datagram[0] != PROTOCOL_VERSION or datagram[3] != PULL_RESP:
        raise SemtechError("identifier", "not a PULL_RESP")
    txpk = _json_object(datagram[_HEADER:]).get("txpk")
    if not isinstance(txpk, dict):
        raise SemtechError("json", "no txpk")
    return int.from_bytes(datagram[1:3], "big"), txpk
