"""Parsing the gateways' uplink envelope (docs/mqtt.md) into one reception record. Pure: bytes in, record out.

Everything a gateway sends is untrusted input: a malformed envelope is a counted outcome with a reason, never a
crash. What is refused is exactly what the published JSON Schema refuses (``envelope_schema``, which generates it;
tests/dispatch/test_envelope_schema.py holds the two to it). Unknown fields are ignored, by both.
"""

import re

import msgspec
from msgspec import UNSET

from basestation.dispatch.core.envelope_schema import GATEWAY_ID, Radio, decode

UP_PREFIX = "nightwatch/v1/up/"
_GATEWAY_ID = re.compile(GATEWAY_ID)
MAX_PAYLOAD = 4096


class EnvelopeError(ValueError):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.reason = "malformed_envelope"
        self.detail = detail


class Reception(msgspec.Struct, frozen=True, gc=False):
    """One copy of a frame as one gateway heard it. A Struct: built for every uplink, in a twentieth of the time
    of a frozen dataclass, and of no interest to the cycle collector."""

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


_known_topics: dict[str, str] = {}  # topic -> gateway id, for the city's few hundred gateways


def gateway_of(topic: str) -> str:
    gw = _known_topics.get(topic)
    if gw is not None:
        return gw
    if not topic.startswith(UP_PREFIX):
        raise EnvelopeError("not an uplink topic")
    gw = topic[len(UP_PREFIX) :]
    if not _GATEWAY_ID.fullmatch(gw):
        raise EnvelopeError("bad gateway id in topic")
    if len(_known_topics) < 10_000:
        _known_topics[topic] = gw
    return gw


def _hex(text: str) -> bytes | None:
    """The bytes of lower-case hex, else None. bytes.fromhex also takes upper case and spaces between bytes;
    writing the bytes back refuses both in one comparison, cheaper than a pattern."""
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        return None
    return raw if raw.hex() == text else None


def parse(topic: str, payload: bytes) -> Reception:
    """A reception from one MQTT uplink message, or EnvelopeError saying what is wrong."""
    gw = gateway_of(topic)
    if len(payload) > MAX_PAYLOAD:
        raise EnvelopeError("payload too large")
    try:
        doc = decode(payload)
    except msgspec.ValidationError as e:
        raise EnvelopeError(str(e)) from None
    except (msgspec.DecodeError, UnicodeDecodeError):  # msgspec lets a bad UTF-8 sequence in a string escape as is
        raise EnvelopeError("not JSON") from None
    if doc.gateway_id != gw:
        # A gateway may publish only on its own topic (the broker's ACL); the two must agree.
        raise EnvelopeError("gateway_id differs from the topic")
    frame = _hex(doc.frame)
    if frame is None:
        raise EnvelopeError("frame must be lower-case hex")
    # Absent optional fields are UNSET (an explicit null is refused); the record says None. The integers may
    # have come spelt as floats (5.0), which msgspec checked are whole.
    unset = UNSET
    forwarder = doc.forwarder
    if forwarder is not unset and _hex(forwarder) is None:
        raise EnvelopeError("forwarder must be 16 lower-case hex digits")
    rssi, snr, freq, datr, tmst = doc.rssi, doc.snr, doc.freq_mhz, doc.datr, doc.tmst
    return Reception(
        gw,
        int(doc.rx_time_ms),
        doc.radio,
        frame,
        None if rssi is unset else rssi,
        None if snr is unset else snr,
        None if freq is unset else freq,
        None if datr is unset else datr,
        None if tmst is unset else int(tmst),
        None if forwarder is unset else forwarder,
    )
