"""The CONNACK properties the dispatch link obeys (MQTT 5.0, 3.2.2.3), the CONNECT's Maximum Packet Size, and the
reconnect backoff: tables, no I/O."""

import pytest

from basestation.dispatch.io import mqtt_wire as wire
from basestation.dispatch.io.mqtt_link import reconnect_delay_s

NO_LIMIT = wire.MAX_REMAINING + 5


def _connack(props: bytes, flags: int = 0, reason: int = 0) -> bytes:
    return bytes([flags, reason]) + wire.varint(len(props)) + props


@pytest.mark.parametrize(
    ("props", "expected"),
    [
        pytest.param(b"", wire.Connack(False, 0, 65535), id="none"),
        pytest.param(bytes([0x21, 0x00, 0x14]), wire.Connack(False, 0, 20), id="receive-maximum"),
        pytest.param(bytes([0x13, 0x00, 0x3C]), wire.Connack(False, 0, 65535, server_keepalive=60), id="keepalive"),
        pytest.param(bytes([0x13, 0x00, 0x00]), wire.Connack(False, 0, 65535, server_keepalive=0), id="keepalive-off"),
        pytest.param(
            bytes([0x27, 0x00, 0x00, 0x07, 0xD0]),
            wire.Connack(False, 0, 65535, maximum_packet_size=2000),
            id="max-size",
        ),
        pytest.param(
            # As Mosquitto 2.0 sends them, with ones the link skips (topic alias maximum, retain, wildcard).
            bytes([0x22, 0x00, 0x0A, 0x21, 0x00, 0x02, 0x27, 0x00, 0x00, 0x01, 0x00, 0x25, 0x01, 0x28, 0x01])
            + bytes([0x13, 0x00, 0x02]),
            wire.Connack(False, 0, 2, server_keepalive=2, maximum_packet_size=256),
            id="all-and-others",
        ),
        pytest.param(
            bytes([0x12, 0x00, 0x02])
            + b"id"
            + bytes([0x1F, 0x00, 0x03])
            + b"why"
            + bytes([0x26, 0, 1, 107, 0, 1, 118]),
            wire.Connack(False, 0, 65535, "why"),
            id="strings-and-user-property",
        ),
    ],
)
def test_connack_properties(props: bytes, expected: wire.Connack) -> None:
    assert wire.parse_connack(_connack(props), wire.V5) == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(b"\x01\x00", wire.Connack(True, 0, 65535), id="v5-without-properties"),
        pytest.param(_connack(b"", reason=0x87), wire.Connack(False, 0x87, 65535), id="refused"),
    ],
)
def test_connack_without_properties_leaves_the_defaults(body: bytes, expected: wire.Connack) -> None:
    assert wire.parse_connack(body, wire.V5) == expected
    assert expected.server_keepalive is None and expected.maximum_packet_size == NO_LIMIT


def test_a_311_connack_has_no_properties_to_read() -> None:
    # The same bytes read as 3.1.1: two bytes only, whatever follows is not looked at.
    assert wire.parse_connack(b"\x00\x00\x03\x21\x00\x01", wire.V311) == wire.Connack(False, 0, 65535)


@pytest.mark.parametrize(
    ("props", "why"),
    [
        pytest.param(bytes([0x21, 0x00, 0x00]), "receive maximum 0", id="receive-maximum-0"),
        pytest.param(bytes([0x27, 0, 0, 0, 0]), "maximum packet size 0", id="max-size-0"),
        pytest.param(bytes([0x13, 0x00]), "runs past", id="keepalive-cut-short"),
        pytest.param(bytes([0x7F, 0x00]), "unknown property", id="unknown"),
    ],
)
def test_connack_properties_the_spec_forbids(props: bytes, why: str) -> None:
    with pytest.raises(wire.MqttProtocolError, match=why):
        wire.parse_connack(_connack(props), wire.V5)


@pytest.mark.parametrize(
    ("size", "props"),
    [(None, "081100000000211000"), (1 << 20, "0d110000000021100027" + "00100000")],
)
def test_connect_tells_the_broker_our_maximum_packet_size(size: int | None, props: str) -> None:
    pkt = wire.connect(
        "s", version=wire.V5, keepalive=2, session_expiry=0, receive_maximum=4096, maximum_packet_size=size
    )
    assert props in pkt.hex()
    assert pkt[1] == len(pkt) - 2


@pytest.mark.parametrize(
    ("failures", "draw", "delay"),
    [
        (0, 0.0, 0.05),  # after a healthy connection: half of the initial wait at the least
        (0, 0.999999, 0.1),
        (1, 0.0, 0.1),
        (3, 0.5, 0.6),  # 0.8 s, three quarters of it
        (6, 0.0, 2.5),  # 6.4 s capped at 5
        (6, 0.999999, 5.0),
        (1000, 0.0, 2.5),  # no overflow, however long the broker is gone
    ],
)
def test_reconnect_backoff_doubles_to_a_cap_with_jitter(failures: int, draw: float, delay: float) -> None:
    assert reconnect_delay_s(failures, 0.1, 5.0, draw) == pytest.approx(delay, rel=1e-5)
