"""The few MQTT packets the dispatch service exchanges, as bytes (MQTT 5.0 and 3.1.1). Pure: no I/O.

The service subscribes to every uplink in the city, so reading a PUBLISH and writing its PUBACK is its commonest
work: here a PUBLISH costs a slice and two integer reads, and a thousand PUBACKs are one ``bytes.join``. Only
what the service uses is covered: CONNECT/CONNACK, SUBSCRIBE/SUBACK, PUBLISH and PUBACK at QoS 0 and 1,
PINGREQ/PINGRESP and DISCONNECT. Anything else from the broker is a protocol error.
"""

from dataclasses import dataclass

import msgspec

V311 = 4
V5 = 5

CONNECT, CONNACK, PUBLISH, PUBACK = 1, 2, 3, 4
SUBSCRIBE, SUBACK, PINGREQ, PINGRESP, DISCONNECT = 8, 9, 12, 13, 14

PINGREQ_PACKET = b"\xc0\x00"
DISCONNECT_PACKET = b"\xe0\x00"  # 3.1.1, and 5.0's "normal disconnection" with nothing after it
MAX_REMAINING = 268_435_455

# MQTT 5 property identifiers the service sends or reads.
PROP_SESSION_EXPIRY = 0x11
PROP_RECEIVE_MAXIMUM = 0x21
PROP_REASON_STRING = 0x1F
PROP_SERVER_KEEP_ALIVE = 0x13
PROP_MAXIMUM_PACKET_SIZE = 0x27

# Bytes each property's value takes, for skipping the ones the service does not read (MQTT 5.0, 2.2.2.2).
_FIXED = {0x01: 1, 0x02: 4, 0x11: 4, 0x13: 2, 0x17: 1, 0x19: 1, 0x21: 2, 0x22: 2, 0x23: 2, 0x24: 1, 0x25: 1}
_FIXED |= {0x27: 4, 0x28: 1, 0x29: 1, 0x2A: 1}
_STRINGS = {0x03, 0x08, 0x12, 0x15, 0x1A, 0x1C, 0x1F, 0x09, 0x16}  # UTF-8 strings and binary data: 2-byte length
_PAIR = 0x26  # user property: two strings
_VARINT = 0x0B  # subscription identifier


class MqttProtocolError(ValueError):
    """The broker sent something this client cannot take: the connection is closed and made again."""


class Publish(msgspec.Struct, frozen=True, gc=False):  # one per uplink: a Struct builds fastest
    topic: str
    payload: bytes
    qos: int
    packet_id: int  # 0 at QoS 0
    dup: bool


@dataclass(frozen=True, slots=True)
class Connack:
    session_present: bool
    reason: int
    receive_maximum: int  # how many QoS 1 publishes the broker takes unacknowledged
    reason_string: str = ""
    # The keepalive the broker wants instead of the client's (MQTT 5.0, 3.2.2.3.14); None when it left ours.
    server_keepalive: int | None = None
    # The largest packet the broker takes, fixed header included; larger ones get the client disconnected.
    maximum_packet_size: int = MAX_REMAINING + 5


# -- encoding --------------------------------------------------------------------------------------------------


def varint(n: int) -> bytes:
    if not 0 <= n <= MAX_REMAINING:
        raise ValueError("length out of range")
    out = bytearray()
    while True:
        n, digit = n >> 7, n & 0x7F
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _utf8(s: str) -> bytes:
    b = s.encode()
    if len(b) > 0xFFFF:
        raise ValueError("string too long for MQTT")
    return len(b).to_bytes(2, "big") + b


def _packet(first: int, body: bytes) -> bytes:
    return bytes([first]) + varint(len(body)) + body


def connect(
    client_id: str,
    *,
    version: int,
    keepalive: int,
    username: str | None = None,
    password: str | None = None,
    clean_start: bool = False,
    session_expiry: int = 0xFFFFFFFF,
    receive_maximum: int = 4096,
    maximum_packet_size: int | None = None,
) -> bytes:
    flags = 0x02 if clean_start else 0
    if username is not None:
        flags |= 0x80
    if password is not None:
        flags |= 0x40
    body = _utf8("MQTT") + bytes([version, flags]) + keepalive.to_bytes(2, "big")
    if version == V5:
        props = bytes([PROP_SESSION_EXPIRY]) + session_expiry.to_bytes(4, "big")
        props += bytes([PROP_RECEIVE_MAXIMUM]) + receive_maximum.to_bytes(2, "big")
        if maximum_packet_size is not None:
            # The broker then drops what we could not read (MQTT 5.0, 3.1.2.11.4) instead of sending it and
            # having the connection dropped for it, again at every redelivery.
            props += bytes([PROP_MAXIMUM_PACKET_SIZE]) + maximum_packet_size.to_bytes(4, "big")
        body += varint(len(props)) + props
    body += _utf8(client_id)
    if username is not None:
        body += _utf8(username)
    if password is not None:
        body += _utf8(password)
    return _packet(CONNECT << 4, body)


def subscribe(packet_id: int, filters: list[str], *, version: int, qos: int = 1) -> bytes:
    body = packet_id.to_bytes(2, "big") + (b"\x00" if version == V5 else b"")
    for f in filters:
        body += _utf8(f) + bytes([qos])
    return _packet((SUBSCRIBE << 4) | 0x02, body)


def publish(topic: str, payload: bytes, *, version: int, qos: int = 1, packet_id: int = 0, dup: bool = False) -> bytes:
    first = (PUBLISH << 4) | (qos << 1) | (0x08 if dup else 0)
    body = _utf8(topic) + (packet_id.to_bytes(2, "big") if qos else b"")
    if version == V5:
        body += b"\x00"
    return _packet(first, body + payload)


def puback(packet_id: int) -> bytes:
    # Remaining length 2 is a success PUBACK in both versions (MQTT 5.0 3.4.2.1: reason code and properties left
    # out), so one encoding serves both.
    return b"\x40\x02" + packet_id.to_bytes(2, "big")


# -- decoding --------------------------------------------------------------------------------------------------


class Reader:
    """Splits the byte stream from the broker into packets: (type, flags, body) for each complete one.

    ``max_packet`` counts the whole packet, fixed header included, as the Maximum Packet Size a client declares
    does (MQTT 5.0, 3.1.2.11.4): the same number can go in the CONNECT and here, and a larger packet is a protocol
    error, noticed from its fixed header, before any of its body is kept."""

    def __init__(self, max_packet: int = 1 << 20) -> None:
        self._buf = bytearray()
        self.max_packet = max_packet

    def feed(self, data: bytes) -> list[tuple[int, int, bytes]]:
        buf = self._buf
        buf += data
        out = []
        pos, end = 0, len(buf)
        while end - pos >= 2:
            first, length, shift, i, complete = buf[pos], 0, 0, pos + 1, False
            b = buf[i]
            if b < 0x80:  # lengths under 128 and under 16k (every uplink) take the short ways
                length, i, complete = b, i + 1, True
            elif end - i > 1 and buf[i + 1] < 0x80:
                length, i, complete = (b & 0x7F) | (buf[i + 1] << 7), i + 2, True
            while not complete and i < end:
                b = buf[i]
                i += 1
                length |= (b & 0x7F) << shift
                if not b & 0x80:
                    complete = True
                    break
                shift += 7
                if shift > 21:
                    raise MqttProtocolError("malformed remaining length")
            if not complete:
                break  # the length itself is not all here yet
            if i - pos + length > self.max_packet:
                raise MqttProtocolError(f"packet of {i - pos + length} bytes is over the limit")
            if end - i < length:
                break
            out.append((first >> 4, first & 0x0F, bytes(buf[i : i + length])))
            pos = i + length
        if pos:
            del buf[:pos]
        return out


def _properties(body: bytes, at: int) -> tuple[dict[int, int | str], int]:
    """MQTT 5 properties at ``at``: the integer and string ones this client reads, and where they end."""
    length, at = _read_varint(body, at)
    end = at + length
    if end > len(body):
        raise MqttProtocolError("properties run past the packet")
    found: dict[int, int | str] = {}
    while at < end:
        pid = body[at]
        at += 1
        if pid in _FIXED:
            n = _FIXED[pid]
            found[pid] = int.from_bytes(body[at : at + n], "big")
            at += n
        elif pid in _STRINGS:
            n = int.from_bytes(body[at : at + 2], "big")
            found[pid] = body[at + 2 : at + 2 + n].decode("utf-8", "replace")
            at += 2 + n
        elif pid == _PAIR:
            for _ in range(2):
                at += 2 + int.from_bytes(body[at : at + 2], "big")
        elif pid == _VARINT:
            _, at = _read_varint(body, at)
        else:
            raise MqttProtocolError(f"unknown property 0x{pid:02x}")
        if at > end:
            raise MqttProtocolError("property runs past its block")
    return found, end


def _read_varint(body: bytes, at: int) -> tuple[int, int]:
    value, shift = 0, 0
    for _ in range(4):
        if at >= len(body):
            raise MqttProtocolError("truncated variable integer")
        b = body[at]
        at += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, at
        shift += 7
    raise MqttProtocolError("malformed variable integer")


def parse_publish(flags: int, body: bytes, version: int) -> Publish:
    qos = (flags >> 1) & 0x03
    if qos > 1:
        raise MqttProtocolError("QoS 2 was never subscribed to")
    if len(body) < 2:
        raise MqttProtocolError("truncated PUBLISH")
    at = 2 + ((body[0] << 8) | body[1])
    if at > len(body):
        raise MqttProtocolError("truncated PUBLISH topic")
    try:
        topic = body[2:at].decode()
    except UnicodeDecodeError:
        raise MqttProtocolError("PUBLISH topic is not UTF-8") from None
    packet_id = 0
    if qos:
        if at + 2 > len(body):
            raise MqttProtocolError("truncated PUBLISH packet id")
        packet_id = (body[at] << 8) | body[at + 1]
        at += 2
        if packet_id == 0:
            raise MqttProtocolError("PUBLISH packet id 0")
    if version == V5:
        if at < len(body) and body[at] == 0:
            at += 1  # no properties: the usual case, read without the general walk
        else:
            _, at = _properties(body, at)
    return Publish(topic, body[at:], qos, packet_id, bool(flags & 0x08))


def parse_connack(body: bytes, version: int) -> Connack:
    if len(body) < 2:
        raise MqttProtocolError("truncated CONNACK")
    if version != V5 or len(body) == 2:
        return Connack(bool(body[0] & 1), body[1], 65535)
    props, _ = _properties(body, 2)
    receive_maximum = int(props.get(PROP_RECEIVE_MAXIMUM, 65535))
    if receive_maximum == 0:
        raise MqttProtocolError("CONNACK receive maximum 0")  # MQTT 5.0, 3.2.2.3.3: a protocol error
    max_packet = int(props.get(PROP_MAXIMUM_PACKET_SIZE, MAX_REMAINING + 5))
    if max_packet == 0:
        raise MqttProtocolError("CONNACK maximum packet size 0")  # MQTT 5.0, 3.2.2.3.6
    keepalive = props.get(PROP_SERVER_KEEP_ALIVE)
    return Connack(
        bool(body[0] & 1),
        body[1],
        receive_maximum,
        str(props.get(PROP_REASON_STRING, "")),
        None if keepalive is None else int(keepalive),
        max_packet,
    )


def parse_packet_id(body: bytes) -> int:
    """The packet id that starts a PUBACK or SUBACK."""
    if len(body) < 2:
        raise MqttProtocolError("truncated acknowledgement")
    return int.from_bytes(body[:2], "big")


def parse_puback(body: bytes, version: int) -> tuple[int, int, str]:
    """A PUBACK's packet id, reason code and reason string. MQTT 5.0, 3.4.2.1: a body of two bytes is success,
    and 0x80 and above are refusals; 3.1.1 has no reason."""
    pid = parse_packet_id(body)
    if version != V5 or len(body) == 2:
        return pid, 0, ""
    reason, why = body[2], ""
    if len(body) > 3:
        props, _ = _properties(body, 3)
        why = str(props.get(PROP_REASON_STRING, ""))
    return pid, reason, why


def suback_codes(body: bytes, version: int) -> bytes:
    at = 2
    if version == V5:
        _, at = _properties(body, at)
    return body[at:]


def disconnect_reason(body: bytes) -> int:
    return body[0] if body else 0
