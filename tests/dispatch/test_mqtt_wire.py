"""The dispatch service's MQTT packets: known encodings, round trips, any split of the stream, and fuzzing."""

import contextlib
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from basestation.dispatch.io import mqtt_wire as wire
from tests.fuzz import examples


@pytest.mark.parametrize(
    ("n", "encoded"),
    [(0, "00"), (127, "7f"), (128, "8001"), (16_383, "ff7f"), (16_384, "808001"), (268_435_455, "ffffff7f")],
)
def test_remaining_length_encodings(n: int, encoded: str) -> None:
    # The table of MQTT 5.0 section 1.5.5.
    assert wire.varint(n).hex() == encoded


def test_connect_v5_carries_session_expiry_and_receive_maximum() -> None:
    pkt = wire.connect("svc", version=wire.V5, keepalive=30, username="u", receive_maximum=4096)
    assert pkt.hex() == (
        "10"  # CONNECT
        "1b"  # remaining length
        "00044d515454"  # "MQTT"
        "05"  # protocol version 5
        "80"  # username, no password, clean start off
        "001e"  # keepalive 30 s
        "08"
        "11ffffffff"
        "211000"  # properties: session expiry, receive maximum
        "0003737663"  # client id
        "000175"  # username
    )


def test_connect_311_has_no_properties() -> None:
    pkt = wire.connect("svc", version=wire.V311, keepalive=60, username="u", password="p")
    assert pkt.hex() == "101500044d51545404c0003c0003737663000175000170"


def test_subscribe_and_puback() -> None:
    assert wire.subscribe(7, ["a/+"], version=wire.V5).hex() == "82090007000003612f2b01"
    assert wire.subscribe(7, ["a/+"], version=wire.V311).hex() == "820800070003612f2b01"
    assert wire.puback(0x1234).hex() == "40021234"


@pytest.mark.parametrize("version", [wire.V311, wire.V5])
@given(
    topic=st.text(min_size=1, max_size=80),
    payload=st.binary(max_size=600),
    packet_id=st.integers(1, 65535),
    dup=st.booleans(),
)
@settings(max_examples=examples(200))
def test_publish_round_trip(version: int, topic: str, payload: bytes, packet_id: int, dup: bool) -> None:
    pkt = wire.publish(topic, payload, version=version, packet_id=packet_id, dup=dup)
    [(kind, flags, body)] = wire.Reader().feed(pkt)
    assert kind == wire.PUBLISH
    assert wire.parse_publish(flags, body, version) == wire.Publish(topic, payload, 1, packet_id, dup)


@given(
    messages=st.lists(st.tuples(st.text(max_size=20), st.binary(max_size=300)), min_size=1, max_size=20),
    cuts=st.lists(st.integers(0, 10_000), max_size=30),
)
@settings(max_examples=examples(200))
def test_the_stream_may_arrive_cut_anywhere(messages: list[tuple[str, bytes]], cuts: list[int]) -> None:
    stream = b"".join(wire.publish(t, p, version=wire.V5, packet_id=i + 1) for i, (t, p) in enumerate(messages))
    reader, got = wire.Reader(), []
    bounds = sorted({c % (len(stream) + 1) for c in cuts} | {0, len(stream)})
    for a, b in itertools.pairwise(bounds):
        got += reader.feed(stream[a:b])
    parsed = [wire.parse_publish(f, body, wire.V5) for _, f, body in got]
    assert [(p.topic, p.payload, p.packet_id) for p in parsed] == [(t, p, i + 1) for i, (t, p) in enumerate(messages)]


def test_publish_with_properties_skips_them() -> None:
    # A broker may add properties (here a subscription identifier and a user property) before the payload.
    props = bytes([0x0B, 0x05, 0x26, 0, 1, ord("k"), 0, 1, ord("v")])
    body = b"\x00\x01t" + b"\x00\x09" + bytes([len(props)]) + props + b"payload"
    assert wire.parse_publish(0x02, body, wire.V5) == wire.Publish("t", b"payload", 1, 9, False)


def test_connack_reads_receive_maximum() -> None:
    body = bytes([0x01, 0x00, 0x03, wire.PROP_RECEIVE_MAXIMUM, 0x00, 0x14])
    assert wire.parse_connack(body, wire.V5) == wire.Connack(True, 0, 20)
    assert wire.parse_connack(b"\x00\x05", wire.V311).reason == 5


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"\x30\xff\xff\xff\xff\x01", "remaining length"),
        (b"\x30\x80\x80\x80\x80\x01", "remaining length"),
        (b"\x30" + wire.varint(2 << 20), "over the limit"),
    ],
)
def test_a_broken_stream_is_a_protocol_error(data: bytes, why: str) -> None:
    with pytest.raises(wire.MqttProtocolError, match=why):
        wire.Reader().feed(data)


@pytest.mark.parametrize(("remaining", "taken"), [(297, True), (298, False)])
def test_the_size_limit_counts_the_fixed_header(remaining: int, taken: bool) -> None:
    # MQTT 5.0, 3.1.2.11.4: the Maximum Packet Size a client declares counts the whole packet, and the link gives
    # its reader the number it declared.
    packet = b"\x30" + wire.varint(remaining) + bytes(remaining)  # 300 and 301 bytes in all
    reader = wire.Reader(300)
    if taken:
        assert [len(body) for _, _, body in reader.feed(packet)] == [remaining]
    else:
        with pytest.raises(wire.MqttProtocolError, match="301 bytes is over the limit"):
            reader.feed(packet[:3])  # the fixed header alone tells


@pytest.mark.parametrize(
    ("flags", "body"),
    [
        (0x04, b"\x00\x01t\x00\x01"),  # QoS 2
        (0x02, b"\x00\x05ab"),  # topic runs past the packet
        (0x02, b"\x00\x01t\x00"),  # packet id cut short
        (0x02, b"\x00\x01t\x00\x00\x00"),  # packet id 0
        (0x02, b"\x00\x01\xff\x00\x01\x00"),  # topic not UTF-8
        (0x02, b"\x00\x01t\x00\x01\x05\x99"),  # unknown property
    ],
)
def test_malformed_publishes_are_refused(flags: int, body: bytes) -> None:
    with pytest.raises(wire.MqttProtocolError):
        wire.parse_publish(flags, body, wire.V5)


@given(st.binary(max_size=400))
@settings(max_examples=examples(1000))
def test_arbitrary_bytes_raise_only_protocol_errors(data: bytes) -> None:
    with contextlib.suppress(wire.MqttProtocolError):
        for kind, flags, body in wire.Reader().feed(data):
            if kind == wire.PUBLISH:
                wire.parse_publish(flags, body, wire.V5)
            elif kind == wire.CONNACK:
                wire.parse_connack(body, wire.V5)
            elif kind == wire.SUBACK:
                wire.suback_codes(body, wire.V5)
            elif kind in (wire.PUBACK, wire.SUBACK):
                wire.parse_packet_id(body)
