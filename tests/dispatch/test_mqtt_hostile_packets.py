"""The dispatch link against a hostile broker, one kind at a time: a table of what MQTT forbids a server to send
(MQTT 5.0, 4.13: a protocol error closes the connection) in a session and in the handshake, each of which must drop
the connection with the link back at once and delivering the next uplink; a table of what MQTT allows, which keeps
the connection in step; and the edges of the handshake: a broker that hangs up with or after its CONNACK, or goes
mute after the CONNECT.
"""

import asyncio
import contextlib

import pytest

from basestation.dispatch.io import mqtt_wire as wire
from basestation.dispatch.io.mqtt_connection import MAX_INBOUND
from basestation.dispatch.io.mqtt_link import MqttLink
from tests.dispatch.hostile_broker import (
    CONNECT_TIMEOUT_S,
    UP,
    Desk,
    HostileBroker,
    Script,
    Session,
    connack_packet,
    dropped_and_back,
    handshake,
    hang_up,
    mqtt_str,
    packet,
    prop_block,
    publish_packet,
    run_against,
    steady,
    suback_packet,
)

# -- table: each hostile kind once ---------------------------------------------------------------------------

# One byte over what the link declared in its CONNECT: the fixed header alone says so.
OVER = b"\x30" + wire.varint(MAX_INBOUND - 4 + 1)
# Exactly the declared size: a whole uplink of MAX_INBOUND bytes, fixed header included (4 of them at this length).
AT_LIMIT = publish_packet(UP, bytes(MAX_INBOUND - 4 - 2 - len(UP) - 2 - 1), pid=9)
assert len(AT_LIMIT) == MAX_INBOUND

STEADY_DROPS = [
    pytest.param([b"\x30\xff\xff\xff\xff\x01"], id="remaining-length-of-five-bytes"),
    pytest.param([b"\x30\x80\x80", b"\x80\x80"], id="remaining-length-cut-and-malformed"),
    pytest.param([OVER], id="one-byte-over-the-declared-maximum-packet-size"),
    pytest.param([b"\x30" + wire.varint(wire.MAX_REMAINING)], id="largest-remaining-length"),
    pytest.param([wire.connect("broker", version=wire.V5, keepalive=5)], id="CONNECT"),
    pytest.param([wire.subscribe(3, ["#"], version=wire.V5)], id="SUBSCRIBE"),
    pytest.param([wire.PINGREQ_PACKET], id="PINGREQ"),
    pytest.param([packet(0xA2, b"\x00\x04" + mqtt_str(b"#"))], id="UNSUBSCRIBE"),
    pytest.param([packet(0x50, b"\x00\x01")], id="PUBREC"),
    pytest.param([packet(0x62, b"\x00\x01")], id="PUBREL"),
    pytest.param([packet(0x70, b"\x00\x01")], id="PUBCOMP"),
    pytest.param([packet(0xB0, b"\x00\x01\x00\x00")], id="UNSUBACK"),
    pytest.param([packet(0xF0, b"\x18\x00")], id="AUTH"),
    pytest.param([b"\x00\x00"], id="reserved-type-0"),
    pytest.param([publish_packet(b"nightwatch/v1/up/\xff", b"x")], id="PUBLISH-topic-not-UTF-8"),
    pytest.param([publish_packet(b"nightwatch/v1/up/\xed\xa0\x80", b"x")], id="PUBLISH-topic-a-surrogate"),
    pytest.param([publish_packet(UP, b"x", qos=3)], id="PUBLISH-QoS-3"),
    pytest.param([publish_packet(UP, b"x", qos=2)], id="PUBLISH-QoS-2"),
    pytest.param([publish_packet(UP, b"x", pid=0)], id="PUBLISH-packet-id-0"),
    pytest.param([packet(0x32, mqtt_str(UP) + b"\x00")], id="PUBLISH-packet-id-cut-short"),
    pytest.param([packet(0x30, b"\x00\x40abc")], id="PUBLISH-topic-past-the-packet"),
    pytest.param([publish_packet(UP, b"", props=b"\x05\x01")], id="PUBLISH-properties-past-the-packet"),
    pytest.param([publish_packet(UP, b"xx", props=b"\x02\x02\x00")], id="PUBLISH-property-past-its-block"),
    pytest.param([publish_packet(UP, b"x", props=b"\x02\x7f\x00")], id="PUBLISH-unknown-property"),
    pytest.param([publish_packet(UP, b"", props=b"")], id="PUBLISH-no-property-length"),
    pytest.param([publish_packet(UP, b"x", props=b"\x80\x80\x80\x80\x01")], id="PUBLISH-property-length-malformed"),
    pytest.param([packet(0x40, b"\x00")], id="PUBACK-cut-short"),
    pytest.param([packet(0x40, b"\x00\x01\x00\x09\x1f\x00\x01")], id="PUBACK-properties-past-the-packet"),
    pytest.param([packet(0x90, b"\x00")], id="SUBACK-cut-short"),
    pytest.param(
        [packet(0xE0, b"\x8b" + prop_block(b"\x1f" + mqtt_str(b"shutting down")))], id="DISCONNECT-with-reason"
    ),
    pytest.param(
        [connack_packet(b"\x21\x00\x05")],
        id="second-CONNACK",
    ),
    pytest.param(
        [packet(0x20, b"\x00")],
        id="second-CONNACK-cut-short",
    ),
]


@pytest.mark.parametrize("hostile", STEADY_DROPS)
def test_a_protocol_error_drops_the_connection_and_the_link_comes_back(hostile: list[bytes]) -> None:
    async def check(broker: HostileBroker, link: MqttLink, desk: Desk) -> None:
        await dropped_and_back(broker, link, desk, 0)

    asyncio.run(run_against([steady(hostile, drops=True)], check))


STEADY_STAYS = [
    # A late PUBACK is no error: one for a downlink sent again after a reconnect, say (MQTT 5.0, 4.4).
    pytest.param([wire.puback(4242)], id="PUBACK-for-a-packet-id-never-sent"),
    pytest.param(
        [packet(0x40, b"\x10\x92\x97" + prop_block(b"\x1f" + mqtt_str(b"quota")))], id="PUBACK-refusing-unknown-id"
    ),
    pytest.param([b"\xd0\x00", b"\xd0\x00"], id="PINGRESP-unasked"),
    pytest.param([suback_packet(77, b"\x80\x87")], id="SUBACK-with-failure-codes-for-no-SUBSCRIBE"),
    pytest.param([publish_packet(b"nightwatch/v1/other", b"x", pid=5)], id="PUBLISH-on-a-topic-not-subscribed"),
    pytest.param([AT_LIMIT[:1000], AT_LIMIT[1000:]], id="PUBLISH-of-exactly-the-declared-maximum"),
]


@pytest.mark.parametrize("benign", STEADY_STAYS)
def test_what_mqtt_allows_keeps_the_connection_in_step(benign: list[bytes]) -> None:
    async def check(broker: HostileBroker, link: MqttLink, desk: Desk) -> None:
        first = await broker.session(0)
        assert first.delivered and len(broker.sessions) == 1 and link.reconnects == 0

    asyncio.run(run_against([steady(benign, drops=False)], check))


def _v5_connack(props: bytes) -> bytes:
    return packet(0x20, b"\x00\x00" + props)


HANDSHAKE_DROPS = [
    pytest.param(handshake(connack_packet(b"\x21\x00\x00")), id="CONNACK-receive-maximum-0"),
    pytest.param(handshake(connack_packet(b"\x27\x00\x00\x00\x00")), id="CONNACK-maximum-packet-size-0"),
    pytest.param(handshake(_v5_connack(b"\x09\x21\x00\x14")), id="CONNACK-properties-past-the-packet"),
    pytest.param(handshake(_v5_connack(b"\x02\x13\x00\x05")), id="CONNACK-property-past-its-block"),
    pytest.param(handshake(connack_packet(b"\x7f\x00")), id="CONNACK-unknown-property"),
    pytest.param(handshake(connack_packet(reason=0x87)), id="CONNACK-not-authorized"),
    pytest.param(handshake(packet(0x30, b"\x00\x05t")), id="PUBLISH-before-CONNACK-topic-cut-short"),
    pytest.param(
        handshake(publish_packet(UP, b"early", qos=0)),
        id="PUBLISH-before-CONNACK",
    ),
    pytest.param(handshake(wire.PINGREQ_PACKET), id="PINGREQ-instead-of-CONNACK"),
    pytest.param(handshake(suback=lambda pid: suback_packet(pid, b"\x01\x87")), id="SUBACK-not-authorized"),
    pytest.param(handshake(suback=lambda pid: suback_packet(pid, b"\x80\x80")), id="SUBACK-failure"),
    pytest.param(
        handshake(suback=lambda pid: suback_packet(pid, props=b"\x07\x1f")),
        id="SUBACK-properties-past-it",
    ),
    pytest.param(handshake(suback=lambda pid: packet(0x90, b"\x00")), id="SUBACK-cut-short"),
    pytest.param(
        handshake(suback=lambda pid: connack_packet()),
        id="second-CONNACK-instead-of-SUBACK",
    ),
]


@pytest.mark.parametrize("hostile", HANDSHAKE_DROPS)
def test_a_hostile_handshake_is_dropped_and_tried_again(hostile: Script) -> None:
    async def check(broker: HostileBroker, link: MqttLink, desk: Desk) -> None:
        await dropped_and_back(broker, link, desk, 1)

    asyncio.run(run_against([hang_up, hostile], check))


# -- the edges of the handshake ------------------------------------------------------------------------------


async def _tried_again_at_once(broker: HostileBroker, link: MqttLink, desk: Desk) -> None:
    """The first session ends; the second comes within half a connect timeout and delivers."""
    await broker.session(1)
    assert (await broker.session(2, CONNECT_TIMEOUT_S / 2)).delivered


def test_a_broker_that_hangs_up_with_its_connack_is_tried_again_at_once() -> None:
    async def connack_and_close(s: Session) -> None:
        await s.expect(wire.CONNECT)
        s.writer.write(connack_packet())  # the CONNACK and the close arrive together, as from a broker shutting down
        s.close()

    asyncio.run(run_against([hang_up, connack_and_close], _tried_again_at_once))


def test_a_broker_that_hangs_up_after_its_connack_is_tried_again_at_once() -> None:
    """The same with the close a moment later, once the SUBSCRIBE has gone: the SUBACK's wait ends with it."""

    async def connack_then_close(s: Session) -> None:
        await s.expect(wire.CONNECT)
        await s.send(connack_packet())
        await s.expect(wire.SUBSCRIBE)
        s.close()

    asyncio.run(run_against([hang_up, connack_then_close], _tried_again_at_once))


def test_a_broker_mute_after_connect_costs_one_connect_timeout_and_leaves_no_stray_error() -> None:
    async def mute(s: Session) -> None:
        await s.expect(wire.CONNECT)
        with contextlib.suppress(TimeoutError):
            s.dropped = await s.next(10 * CONNECT_TIMEOUT_S) is None

    async def check(broker: HostileBroker, link: MqttLink, desk: Desk) -> None:
        assert (await broker.session(1, 10 * CONNECT_TIMEOUT_S)).dropped
        assert (await broker.session(2)).delivered

    asyncio.run(run_against([hang_up, mute], check, mqtt_connect_timeout_s=0.3))
