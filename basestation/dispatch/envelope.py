"""Parsing the gateways' uplink envelope (docs/mqtt.md) into one reception record. Pure: bytes in, record out.

Everything a gateway sends is untrusted input: a malformed envelope is a counted outcome with a reason, never a
crash. Unknown fields are ignored so gateways can add fields before the service knows them.
"""

import json
import math
import re
from dataclasses import dataclass
from typing import Any, Literal

UP_PREFIX = "nightwatch/v1/up/"
_GATEWAY_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_HEX = re.compile(r"^[0-9a-fA-F]*$")
MAX_PAYLOAD = 4096

Radio = Literal["ble", "lora"]


class EnvelopeError(ValueError):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.reason = "malformed_envelope"
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Reception:
    """One copy of a frame as one gateway heard it."""

    gateway_id: str
    rx_time_ms: int
    radio: Radio
    frame: bytes
    rssi: float | None = None
    snr: float | None = None
    freq_mhz: float | None = None
    datr: str | None = None
    tmst: int | None = None
    forwarder: str | None = None


def gateway_of(topic: str) -> str:
    if not topic.startswith(UP_PREFIX):
        raise EnvelopeError("not an uplink topic")
    gw = topic[len(UP_PREFIX) :]
    if not _GATEWAY_ID.match(gw):
        raise EnvelopeError("bad gateway id in topic")
    return gw


def _number(doc: dict[str, Any], key: str, lo: float, hi: float) -> float | None:
    v = doc.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or not lo <= v <= hi:
        raise EnvelopeError(f"{key} out of range")
    return float(v)


def _integer(doc: dict[str, Any], key: str, lo: int, hi: int) -> int | None:
    v = doc.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise EnvelopeError(f"{key} must be an integer in {lo}..{hi}")
    return v


def _text(doc: dict[str, Any], key: str, pattern: re.Pattern[str] | None, max_len: int) -> str | None:
    v = doc.get(key)
    if v is None:
        return None
    if not isinstance(v, str) or len(v) > max_len or (pattern is not None and not pattern.match(v)):
        raise EnvelopeError(f"{key} malformed")
    return v


def parse(topic: str, payload: bytes) -> Reception:
    """A reception from one MQTT uplink message, or EnvelopeError saying what is wrong."""
    gw = gateway_of(topic)
    if len(payload) > MAX_PAYLOAD:
        raise EnvelopeError("payload too large")
    try:
        doc = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        raise EnvelopeError("not JSON") from None
    if not isinstance(doc, dict):
        raise EnvelopeError("not a JSON object")
    if doc.get("v") != 1:
        raise EnvelopeError("unknown envelope version")
    if doc.get("gateway_id") != gw:
        # A gateway may publish only on its own topic (the broker's ACL); the two must agree.
        raise EnvelopeError("gateway_id differs from the topic")
    rx = _integer(doc, "rx_time_ms", 0, 1 << 53)
    if rx is None:
        raise EnvelopeError("rx_time_ms missing")
    radio = doc.get("radio")
    if radio not in ("ble", "lora"):
        raise EnvelopeError("radio must be ble or lora")
    frame_hex = doc.get("frame")
    if not isinstance(frame_hex, str) or len(frame_hex) % 2 or len(frame_hex) > 128 or not _HEX.match(frame_hex):
        raise EnvelopeError("frame must be hex")
    return Reception(
        gateway_id=gw,
        rx_time_ms=rx,
        radio=radio,
        frame=bytes.fromhex(frame_hex),
        rssi=_number(doc, "rssi", -200, 50),
        snr=_number(doc, "snr", -50, 50),
        freq_mhz=_number(doc, "freq_mhz", 0, 10_000),
        datr=_text(doc, "datr", None, 32),
        tmst=_integer(doc, "tmst", 0, 0xFFFFFFFF),
        forwarder=_text(doc, "forwarder", re.compile(r"^[0-9a-f]{16}$"), 16),
    )
