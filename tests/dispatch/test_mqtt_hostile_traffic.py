"""The dispatch link against a hostile broker mixing things up: hypothesis puts hostile packets among valid
traffic cut anywhere (the connection must be dropped and the link back), and arbitrary bytes must end in a link in
step with the stream or connected again. Then the whole service: after a hostile session the real Dispatcher on
SQLite still opens the incident of an SOS and publishes its ACK through the reconnected link.
"""

import asyncio
import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from basestation.dispatch.io import mqtt_wire as wire
from basestation.dispatch.io.migrate import upgrade
from basestation.dispatch.io.mqtt_connection import MAX_INBOUND
from basestation.dispatch.io.mqtt_downlinks import DOWN_PREFIX
from basestation.dispatch.io.mqtt_inbound import STATUS_PREFIX
from basestation.dispatch.io.mqtt_link import MqttLink
from protocol.constants import EVENT_SOS
from tests.dispatch.conftest import wired
from tests.dispatch.hostile_broker import (
    UP,
    UPLINK,
    VERDICT_S,
    Desk,
    HostileBroker,
    Script,
    Session,
    dropped_and_back,
    link_settings,
    loop_errors,
    packet,
    publish_packet,
    run_against,
    steady,
    suback_packet,
    until,
)
from tests.dispatch.world import GATEWAYS, World, envelope, provision, topic
from tests.fuzz import examples

# -- hypothesis: hostile packets among valid traffic, cut anywhere ----------------------------------------------

_pids = st.integers(1, 1000)
_benign = st.one_of(
    st.just(b"\xd0\x00"),
    _pids.map(wire.puback),
    st.binary(max_size=40).map(lambda p: publish_packet(UP, p, qos=0)),
    st.tuples(st.binary(max_size=40), _pids).map(lambda t: publish_packet(UP, t[0], pid=t[1])),
    st.binary(max_size=20).map(lambda p: publish_packet((STATUS_PREFIX + "gw-1/status").encode(), p, qos=0)),
    st.tuples(_pids, st.binary(min_size=1, max_size=3)).map(lambda t: suback_packet(t[0], t[1])),
)
_bad_utf8 = (
    st.tuples(st.binary(max_size=6), st.sampled_from([b"\xff", b"\xc0\x80", b"\xed\xa0\x80", b"\xe2\x82"]))
    .map(lambda t: UP + t[0] + t[1])
    .filter(lambda b: not _decodes(b))
)
_hostile = st.one_of(
    st.tuples(st.integers(0, 255), st.binary(min_size=4, max_size=4)).map(
        lambda t: bytes([t[0], *(b | 0x80 for b in t[1])])
    ),
    st.tuples(st.integers(0, 255), st.integers(MAX_INBOUND - 3, wire.MAX_REMAINING)).map(
        lambda t: bytes([t[0]]) + wire.varint(t[1])
    ),
    st.tuples(st.sampled_from([0, 1, 5, 6, 7, 8, 10, 11, 12, 15]), st.integers(0, 15), st.binary(max_size=8)).map(
        lambda t: packet(t[0] << 4 | t[1], t[2])
    ),
    st.tuples(_bad_utf8, st.integers(0, 1)).map(lambda t: publish_packet(t[0], b"x", qos=t[1])),
    st.integers(2, 3).map(lambda qos: publish_packet(UP, b"x", qos=qos)),
    st.tuples(st.integers(1, 200), st.binary(max_size=6)).map(
        lambda t: publish_packet(UP, b"", props=wire.varint(len(t[1]) + t[0]) + t[1])
    ),
    st.integers(0x2A + 1, 0x7F).map(lambda pid: publish_packet(UP, b"x", props=bytes([2, pid, 0]))),
    st.sampled_from([b"\x40\x00", b"\x40\x01\x00", b"\x90\x01\x00"]),
)


def _decodes(b: bytes) -> bool:
    try:
        b.decode()
    except UnicodeDecodeError:
        return False
    return True


def _cut(stream: bytes, sizes: list[int]) -> list[bytes]:
    chunks, at = [], 0
    for size in sizes:
        chunks.append(stream[at : at + size])
        at += size
    return [c for c in [*chunks, stream[at:]] if c]


@given(
    before=st.lists(_benign, max_size=4),
    bad=_hostile,
    after=st.lists(_benign, max_size=2),
    sizes=st.lists(st.integers(1, 64), max_size=6),
)
@settings(max_examples=examples(15), suppress_health_check=[HealthCheck.too_slow])
def test_a_hostile_packet_among_valid_traffic_drops_the_connection_and_the_link_comes_back(
    before: list[bytes], bad: bytes, after: list[bytes], sizes: list[int]
) -> None:
    async def check(broker: HostileBroker, link: MqttLink, desk: Desk) -> None:
        await dropped_and_back(broker, link, desk, 0)

    stream = b"".join([*before, bad, *after])
    asyncio.run(run_against([steady(_cut(stream, sizes), drops=True)], check))


def _garbage(chunks: list[bytes]) -> Script:
    """Whatever the broker sends, then a good uplink: acknowledged if the link is still in step; if it is neither
    acknowledged nor the connection dropped (the garbage began a long packet), the broker gives up on it."""

    async def play(s: Session) -> None:
        await s.handshake()
        await s.send(*chunks)
        s.delivered = await s.uplink(wait=0.2)
        s.settled.set()
        if s.delivered:
            await s.serve()

    return play


@given(
    version=st.sampled_from([4, 5]),
    stream=st.lists(st.one_of(_benign, _hostile, st.binary(min_size=1, max_size=24)), min_size=1, max_size=5),
    sizes=st.lists(st.integers(1, 32), max_size=4),
)
@settings(max_examples=examples(10), suppress_health_check=[HealthCheck.too_slow])
def test_whatever_the_broker_sends_the_link_ends_in_step_or_connected_again(
    version: int, stream: list[bytes], sizes: list[int]
) -> None:
    async def check(broker: HostileBroker, link: MqttLink, desk: Desk) -> None:
        first = await broker.session(0)
        if not first.delivered:
            assert (await broker.session(1)).delivered
        assert (UPLINK, b"good") in desk.uplinks
        assert link.figures()["connected"]

    asyncio.run(run_against([_garbage(_cut(b"".join(stream), sizes))], check, version))


# -- the whole service ---------------------------------------------------------------------------------------


def test_after_a_hostile_session_an_alarm_still_becomes_an_incident_and_its_ack_goes_out(tmp_path: Path) -> None:
    """The real Dispatcher on SQLite behind the link: the broker first sends garbage, then behaves and delivers
    an SOS; the incident opens and the ring's ACK is published through the reconnected link."""
    world = World()
    gateway = "gw-breestraat"
    frame, _ = world.frame(42, EVENT_SOS)
    db = f"sqlite+aiosqlite:///{tmp_path / 'd.db'}"
    upgrade(db)

    async def sos(s: Session) -> None:
        await s.handshake()
        # The gateway's retained status first: an ACK goes out only through a gateway the service knows.
        lat, lon = GATEWAYS[gateway]
        status = json.dumps({"state": "online", "position": {"lat": lat, "lon": lon}}).encode()
        assert await s.uplink(status, f"{STATUS_PREFIX}{gateway}/status")
        s.delivered = await s.uplink(envelope(frame, gateway), topic(gateway))
        s.settled.set()
        await s.serve()

    async def scenario() -> None:
        await provision(db, world.roots)
        with loop_errors() as errors:
            async with HostileBroker([steady([b"\x30\xff\xff\xff\xff\x01"], drops=True), sos]) as broker:
                settings_ = link_settings(broker.port, database_url=db)
                d, link = await wired(settings_)
                stream = d.bus.stream(since=0)  # from the start: the incident may open before the test looks
                await link.start()
                try:
                    assert (await broker.session(0)).dropped
                    good = await broker.session(1)
                    assert good.delivered
                    while (msg := await asyncio.wait_for(anext(stream), VERDICT_S)).topic != "incident":
                        pass
                    assert msg.data["state"] in ("open", "offered", "escalated"), msg.data
                    await until(lambda: bool(good.downlinks))
                    assert [t for t, _ in good.downlinks] == [DOWN_PREFIX + gateway]
                    figures = link.figures()
                    assert figures["connected"] and figures["reconnects"] == 1
                finally:
                    await link.stop()
                    await d.stop()
        assert errors == [], errors

    asyncio.run(scenario())
