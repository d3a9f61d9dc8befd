"""The dispatch link against a hostile broker: a real TCP peer on loopback that accepts the link, answers its
CONNECT and then sends what MQTT forbids a server to send (MQTT 5.0, 4.13: a protocol error closes the connection).

What must hold, whatever comes: nothing escapes the link's tasks (the event loop's exception handler hears
nothing, and ``stop()`` finds them alive); a protocol error drops the connection and the link connects again;
and the next well-behaved session delivers an uplink and takes its acknowledgement, so the service is still of
use. A table names each hostile kind once, hypothesis mixes them into valid traffic cut anywhere, and arbitrary
bytes must end in a link in step with the stream or connected again.
"""

import asyncio
import contextlib
import gc
import json
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from basestation.dispatch.core.envelope import UP_PREFIX
from basestation.dispatch.io import mqtt_wire as wire
from basestation.dispatch.io.migrate import upgrade
from basestation.dispatch.io.mqtt_connection import MAX_INBOUND
from basestation.dispatch.io.mqtt_downlinks import DOWN_PREFIX
from basestation.dispatch.io.mqtt_inbound import STATUS_PREFIX, Done
from basestation.dispatch.io.mqtt_link import MqttLink
from basestation.dispatch.settings import DispatchSettings
from protocol.constants import EVENT_SOS
from tests.dispatch.conftest import wired
from tests.dispatch.world import GATEWAYS, World, envelope, provision, topic
from tests.fuzz import examples

CONNECT_TIMEOUT_S = 2.0
VERDICT_S = 2.0  # how long a session waits for the link to acknowledge an uplink
DROP_S = 0.5  # and for the link to drop the connection: it does so in milliseconds, or never
UPLINK = UP_PREFIX + "gw-hostile"
GOOD_PID = 0xFFFF  # the broker's well-behaved uplink; generated traffic uses 1..1000
Packet = tuple[int, int, bytes]


# -- packets as a broker writes them ---------------------------------------------------------------------------


def _packet(first: int, body: bytes) -> bytes:
    return bytes([first]) + wire.varint(len(body)) + body


def _str(b: bytes) -> bytes:
    return len(b).to_bytes(2, "big") + b


def _props(block: bytes) -> bytes:
    return wire.varint(len(block)) + block


def _connack(props: bytes = b"", reason: int = 0) -> bytes:
    return _packet(0x20, bytes([0, reason]) + _props(props))


def _suback(pid: int, codes: bytes = b"\x01\x01", props: bytes = b"\x00") -> bytes:
    return _packet(0x90, pid.to_bytes(2, "big") + props + codes)


def _publish(topic_: bytes, payload: bytes, *, qos: int = 1, pid: int = 1, props: bytes = b"\x00") -> bytes:
    return _packet(0x30 | qos << 1, _str(topic_) + (pid.to_bytes(2, "big") if qos else b"") + props + payload)


# -- the broker ----------------------------------------------------------------------------------------------


class _Session:
    """One connection the broker accepted, driven by a script; what the script found is kept for the test."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.wire = wire.Reader(wire.MAX_REMAINING + 5)
        self.inbox: list[Packet] = []
        self.version = wire.V5
        self.accepted_at = time.monotonic()
        self.settled = asyncio.Event()  # the script's verdict is in
        self.dropped: bool | None = None  # the link closed the connection when it should have
        self.dropped_at = 0.0
        self.delivered: bool | None = None  # the link acknowledged the broker's good uplink
        self.downlinks: list[tuple[str, bytes]] = []

    async def next(self, timeout: float = VERDICT_S) -> Packet | None:
        """The link's next packet; None once it closed the connection. TimeoutError if it sends nothing."""
        while not self.inbox:
            try:
                data = await asyncio.wait_for(self.reader.read(1 << 16), timeout)
            except ConnectionError:
                data = b""
            if not data:
                return None
            self.inbox += self.wire.feed(data)
        return self.inbox.pop(0)

    async def expect(self, kind: int) -> Packet:
        p = await self.next()
        assert p is not None and p[0] == kind, (p, kind)
        return p

    async def send(self, *chunks: bytes) -> None:
        # Apart, and a moment apart, so that the link reads them in separate calls.
        for chunk in chunks:
            with contextlib.suppress(ConnectionError):
                self.writer.write(chunk)
                await self.writer.drain()
            await asyncio.sleep(0.001)

    async def handshake(self) -> None:
        """The link's CONNECT and SUBSCRIBE answered as a good broker answers them, in the link's version."""
        _, _, body = await self.expect(wire.CONNECT)
        self.version = body[6]  # after the protocol name: MQTT 5.0, 3.1.2.2
        v5 = self.version == wire.V5
        await self.send(_connack() if v5 else b"\x20\x02\0\0")
        _, _, body = await self.expect(wire.SUBSCRIBE)
        await self.send(_suback(wire.parse_packet_id(body), props=b"\0" if v5 else b""))

    async def link_drops(self) -> bool:
        """Whether the link closes the connection within DROP_S; what it sends meanwhile is let go."""
        deadline = time.monotonic() + DROP_S
        try:
            while await self.next(max(deadline - time.monotonic(), 0.001)) is not None:
                pass
        except TimeoutError:
            return False
        self.dropped_at = time.monotonic()
        return True

    async def uplink(self, payload: bytes = b"good", topic_: str = UPLINK, wait: float = VERDICT_S) -> bool:
        """A good uplink at QoS 1: whether the link acknowledged it within ``wait``."""
        await self.send(wire.publish(topic_, payload, version=self.version, packet_id=GOOD_PID))
        deadline = time.monotonic() + wait
        try:
            while (p := await self.next(max(deadline - time.monotonic(), 0.001))) is not None:
                if p[0] == wire.PUBACK and wire.parse_packet_id(p[2]) == GOOD_PID:
                    return True
                await self._answer(p)
        except TimeoutError:
            pass
        return False

    async def serve(self) -> None:
        """Behave until the link leaves: pings answered, downlinks taken and acknowledged."""
        while (p := await self.next(3600)) is not None:
            if p[0] == wire.DISCONNECT:
                return
            await self._answer(p)

    async def _answer(self, p: Packet) -> None:
        kind, flags, body = p
        if kind == wire.PINGREQ:
            await self.send(b"\xd0\x00")
        elif kind == wire.PUBLISH:
            down = wire.parse_publish(flags, body, self.version)
            self.downlinks.append((down.topic, down.payload))
            await self.send(wire.puback(down.packet_id))

    def close(self) -> None:
        self.writer.transport.abort()


Script = Callable[[_Session], Awaitable[None]]


class _Broker:
    """Listens on loopback and plays ``scripts[n]`` on the n-th connection; past them it behaves and serves."""

    def __init__(self, scripts: list[Script]) -> None:
        self.scripts = scripts
        self.sessions: list[_Session] = []
        self.errors: list[BaseException] = []  # the broker's own failures: a broken test, not a broken link
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self.port = 0

    async def __aenter__(self) -> "_Broker":
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for s in self.sessions:
            s.close()
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = _Session(reader, writer)
        script = self.scripts[len(self.sessions)] if len(self.sessions) < len(self.scripts) else _behave
        self.sessions.append(session)
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await script(session)
        except asyncio.CancelledError:
            # Swallowed: asyncio's streams ask the callback's task for its exception, and a cancelled task
            # answers by raising, which would reach the exception handler this test listens to.
            pass
        except Exception as e:
            self.errors.append(e)
        finally:
            session.settled.set()
            session.close()
            self._tasks.discard(task)

    async def session(self, n: int, timeout: float = 3 * VERDICT_S + CONNECT_TIMEOUT_S) -> _Session:
        """The n-th connection, once its script has a verdict."""
        deadline = time.monotonic() + timeout
        while len(self.sessions) <= n:
            assert time.monotonic() < deadline, f"the link made {len(self.sessions)} connections, not {n + 1}"
            await asyncio.sleep(0.005)
        await asyncio.wait_for(self.sessions[n].settled.wait(), max(deadline - time.monotonic(), 0.001))
        assert not self.errors, self.errors
        return self.sessions[n]


async def _behave(s: _Session) -> None:
    await s.handshake()
    s.delivered = await s.uplink()
    s.settled.set()
    await s.serve()


def _steady(hostile: list[bytes], *, drops: bool) -> Script:
    """A good handshake, then ``hostile``; then either the link must drop the connection, or it must still be in
    step with the stream and acknowledge a good uplink on it."""

    async def play(s: _Session) -> None:
        await s.handshake()
        await s.send(*hostile)
        if drops:
            s.dropped = await s.link_drops()
        else:
            s.delivered = await s.uplink()
            s.settled.set()
            await s.serve()

    return play


async def _hang_up(s: _Session) -> None:
    """A good session the broker ends at once, as a restart does: the next connection comes at once."""
    await s.handshake()


def _handshake(connack: bytes | None = None, suback: Callable[[int], bytes] | None = None) -> Script:
    """A hostile answer to CONNECT or SUBSCRIBE: the link must drop the connection."""

    async def play(s: _Session) -> None:
        await s.expect(wire.CONNECT)
        await s.send(connack if connack is not None else _connack())
        if suback is not None:
            _, _, body = await s.expect(wire.SUBSCRIBE)
            await s.send(suback(wire.parse_packet_id(body)))
        s.dropped = await s.link_drops()

    return play


# -- the link's side -----------------------------------------------------------------------------------------


@dataclass
class _Desk:
    """The link's handler: every message taken as handled at once, and remembered."""

    uplinks: list[tuple[str, bytes]] = field(default_factory=list)
    statuses: list[tuple[str, bytes]] = field(default_factory=list)
    aside: list[tuple[str, bytes, str]] = field(default_factory=list)

    def submit(self, topic_: str, payload: bytes, done: Done) -> None:
        self.uplinks.append((topic_, payload))
        done(None)

    async def on_gateway_status(self, gateway_id: str, payload: bytes, via: str = "") -> None:
        self.statuses.append((gateway_id, payload))

    def set_aside(self, topic_: str, payload: bytes, error: str, done: Done) -> None:
        self.aside.append((topic_, payload, error))
        done(None)

    def link_notice(self, kind: str, subject: str, data: dict[str, Any]) -> None:
        pass


def _settings(port: int, version: int = 5, **kw: Any) -> DispatchSettings:
    return DispatchSettings(
        mqtt_url=f"mqtt://127.0.0.1:{port}",
        mqtt_protocol=version,
        **{
            "mqtt_connect_timeout_s": CONNECT_TIMEOUT_S,
            "mqtt_reconnect_initial_s": 0.01,
            "mqtt_reconnect_max_s": 0.05,
            **kw,
        },
    )


@contextlib.contextmanager
def _loop_errors() -> Iterator[list[dict[str, Any]]]:
    """What reaches the running loop's exception handler: an exception that escaped a task or callback, or a
    future whose exception nobody retrieved. Collected before the loop goes, so that those freed late count."""
    loop = asyncio.get_running_loop()
    seen: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _, ctx: seen.append(ctx))
    gc.freeze()  # what was there before is not this test's, and walking it made each collection 0.2 s
    try:
        yield seen
    finally:
        gc.collect()
        gc.unfreeze()


async def _until(cond: Callable[[], bool], timeout: float = VERDICT_S) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met"
        await asyncio.sleep(0.005)


async def _run(
    scripts: list[Script], check: Callable[[_Broker, MqttLink, _Desk], Awaitable[None]], version: int = 5, **kw: Any
) -> None:
    """The link against a broker playing ``scripts``; ``check`` looks while the link runs. Then the link must stop
    cleanly (its tasks alive to be stopped), and the loop's exception handler must have heard nothing."""
    with _loop_errors() as errors:
        async with _Broker(scripts) as broker:
            desk = _Desk()
            link = MqttLink(_settings(broker.port, version, **kw), desk)
            await link.start()
            try:
                await check(broker, link, desk)
            finally:
                await link.stop()
        assert not broker.errors, broker.errors
    assert errors == [], errors


async def _dropped_and_back(broker: _Broker, link: MqttLink, desk: _Desk, hostile: int) -> None:
    """Session ``hostile`` was dropped by the link, which connected again and delivered the next good uplink."""
    dropped = await broker.session(hostile)
    assert dropped.dropped, "the link stayed on a connection after a protocol error"
    # Back at once, not after a connect timeout spent waiting for what the dropped connection cannot bring.
    again = await broker.session(hostile + 1, CONNECT_TIMEOUT_S / 2 + VERDICT_S)
    assert again.accepted_at - dropped.dropped_at < CONNECT_TIMEOUT_S / 2, again.accepted_at - dropped.dropped_at
    assert again.delivered
    assert (UPLINK, b"good") in desk.uplinks
    await _until(lambda: link.reconnects == 1)  # a connection that failed in its handshake is not counted
    figures = link.figures()
    assert figures["connected"] and figures["in_hand"] == 0


# -- table: each hostile kind once ---------------------------------------------------------------------------

UP = UPLINK.encode()
# One byte over what the link declared in its CONNECT: the fixed header alone says so.
OVER = b"\x30" + wire.varint(MAX_INBOUND - 4 + 1)
# Exactly the declared size: a whole uplink of MAX_INBOUND bytes, fixed header included (4 of them at this length).
AT_LIMIT = _publish(UP, bytes(MAX_INBOUND - 4 - 2 - len(UP) - 2 - 1), pid=9)
assert len(AT_LIMIT) == MAX_INBOUND

STEADY_DROPS = [
    pytest.param([b"\x30\xff\xff\xff\xff\x01"], id="remaining-length-of-five-bytes"),
    pytest.param([b"\x30\x80\x80", b"\x80\x80"], id="remaining-length-cut-and-malformed"),
    pytest.param([OVER], id="one-byte-over-the-declared-maximum-packet-size"),
    pytest.param([b"\x30" + wire.varint(wire.MAX_REMAINING)], id="largest-remaining-length"),
    pytest.param([wire.connect("broker", version=wire.V5, keepalive=5)], id="CONNECT"),
    pytest.param([wire.subscribe(3, ["#"], version=wire.V5)], id="SUBSCRIBE"),
    pytest.param([wire.PINGREQ_PACKET], id="PINGREQ"),
    pytest.param([_packet(0xA2, b"\x00\x04" + _str(b"#"))], id="UNSUBSCRIBE"),
    pytest.param([_packet(0x50, b"\x00\x01")], id="PUBREC"),
    pytest.param([_packet(0x62, b"\x00\x01")], id="PUBREL"),
    pytest.param([_packet(0x70, b"\x00\x01")], id="PUBCOMP"),
    pytest.param([_packet(0xB0, b"\x00\x01\x00\x00")], id="UNSUBACK"),
    pytest.param([_packet(0xF0, b"\x18\x00")], id="AUTH"),
    pytest.param([b"\x00\x00"], id="reserved-type-0"),
    pytest.param([_publish(b"nightwatch/v1/up/\xff", b"x")], id="PUBLISH-topic-not-UTF-8"),
    pytest.param([_publish(b"nightwatch/v1/up/\xed\xa0\x80", b"x")], id="PUBLISH-topic-a-surrogate"),
    pytest.param([_publish(UP, b"x", qos=3)], id="PUBLISH-QoS-3"),
    pytest.param([_publish(UP, b"x", qos=2)], id="PUBLISH-QoS-2"),
    pytest.param([_publish(UP, b"x", pid=0)], id="PUBLISH-packet-id-0"),
    pytest.param([_packet(0x32, _str(UP) + b"\x00")], id="PUBLISH-packet-id-cut-short"),
    pytest.param([_packet(0x30, b"\x00\x40abc")], id="PUBLISH-topic-past-the-packet"),
    pytest.param([_publish(UP, b"", props=b"\x05\x01")], id="PUBLISH-properties-past-the-packet"),
    pytest.param([_publish(UP, b"xx", props=b"\x02\x02\x00")], id="PUBLISH-property-past-its-block"),
    pytest.param([_publish(UP, b"x", props=b"\x02\x7f\x00")], id="PUBLISH-unknown-property"),
    pytest.param([_publish(UP, b"", props=b"")], id="PUBLISH-no-property-length"),
    pytest.param([_publish(UP, b"x", props=b"\x80\x80\x80\x80\x01")], id="PUBLISH-property-length-malformed"),
    pytest.param([_packet(0x40, b"\x00")], id="PUBACK-cut-short"),
    pytest.param([_packet(0x40, b"\x00\x01\x00\x09\x1f\x00\x01")], id="PUBACK-properties-past-the-packet"),
    pytest.param([_packet(0x90, b"\x00")], id="SUBACK-cut-short"),
    pytest.param([_packet(0xE0, b"\x8b" + _props(b"\x1f" + _str(b"shutting down")))], id="DISCONNECT-with-reason"),
    pytest.param(
        [_connack(b"\x21\x00\x05")],
        id="second-CONNACK",
    ),
    pytest.param(
        [_packet(0x20, b"\x00")],
        id="second-CONNACK-cut-short",
    ),
]


@pytest.mark.parametrize("hostile", STEADY_DROPS)
def test_a_protocol_error_drops_the_connection_and_the_link_comes_back(hostile: list[bytes]) -> None:
    async def check(broker: _Broker, link: MqttLink, desk: _Desk) -> None:
        await _dropped_and_back(broker, link, desk, 0)

    asyncio.run(_run([_steady(hostile, drops=True)], check))


STEADY_STAYS = [
    # A late PUBACK is no error: one for a downlink sent again after a reconnect, say (MQTT 5.0, 4.4).
    pytest.param([wire.puback(4242)], id="PUBACK-for-a-packet-id-never-sent"),
    pytest.param([_packet(0x40, b"\x10\x92\x97" + _props(b"\x1f" + _str(b"quota")))], id="PUBACK-refusing-unknown-id"),
    pytest.param([b"\xd0\x00", b"\xd0\x00"], id="PINGRESP-unasked"),
    pytest.param([_suback(77, b"\x80\x87")], id="SUBACK-with-failure-codes-for-no-SUBSCRIBE"),
    pytest.param([_publish(b"nightwatch/v1/other", b"x", pid=5)], id="PUBLISH-on-a-topic-not-subscribed"),
    pytest.param([AT_LIMIT[:1000], AT_LIMIT[1000:]], id="PUBLISH-of-exactly-the-declared-maximum"),
]


@pytest.mark.parametrize("benign", STEADY_STAYS)
def test_what_mqtt_allows_keeps_the_connection_in_step(benign: list[bytes]) -> None:
    async def check(broker: _Broker, link: MqttLink, desk: _Desk) -> None:
        first = await broker.session(0)
        assert first.delivered and len(broker.sessions) == 1 and link.reconnects == 0

    asyncio.run(_run([_steady(benign, drops=False)], check))


def _v5_connack(props: bytes) -> bytes:
    return _packet(0x20, b"\x00\x00" + props)


HANDSHAKE_DROPS = [
    pytest.param(_handshake(_connack(b"\x21\x00\x00")), id="CONNACK-receive-maximum-0"),
    pytest.param(_handshake(_connack(b"\x27\x00\x00\x00\x00")), id="CONNACK-maximum-packet-size-0"),
    pytest.param(_handshake(_v5_connack(b"\x09\x21\x00\x14")), id="CONNACK-properties-past-the-packet"),
    pytest.param(_handshake(_v5_connack(b"\x02\x13\x00\x05")), id="CONNACK-property-past-its-block"),
    pytest.param(_handshake(_connack(b"\x7f\x00")), id="CONNACK-unknown-property"),
    pytest.param(_handshake(_connack(reason=0x87)), id="CONNACK-not-authorized"),
    pytest.param(_handshake(_packet(0x30, b"\x00\x05t")), id="PUBLISH-before-CONNACK-topic-cut-short"),
    pytest.param(
        _handshake(_publish(UP, b"early", qos=0)),
        id="PUBLISH-before-CONNACK",
    ),
    pytest.param(_handshake(wire.PINGREQ_PACKET), id="PINGREQ-instead-of-CONNACK"),
    pytest.param(_handshake(suback=lambda pid: _suback(pid, b"\x01\x87")), id="SUBACK-not-authorized"),
    pytest.param(_handshake(suback=lambda pid: _suback(pid, b"\x80\x80")), id="SUBACK-failure"),
    pytest.param(
        _handshake(suback=lambda pid: _suback(pid, props=b"\x07\x1f")),
        id="SUBACK-properties-past-it",
    ),
    pytest.param(_handshake(suback=lambda pid: _packet(0x90, b"\x00")), id="SUBACK-cut-short"),
    pytest.param(
        _handshake(suback=lambda pid: _connack()),
        id="second-CONNACK-instead-of-SUBACK",
    ),
]


@pytest.mark.parametrize("hostile", HANDSHAKE_DROPS)
def test_a_hostile_handshake_is_dropped_and_tried_again(hostile: Script) -> None:
    async def check(broker: _Broker, link: MqttLink, desk: _Desk) -> None:
        await _dropped_and_back(broker, link, desk, 1)

    asyncio.run(_run([_hang_up, hostile], check))


# -- hypothesis: hostile packets among valid traffic, cut anywhere ----------------------------------------------

_pids = st.integers(1, 1000)
_benign = st.one_of(
    st.just(b"\xd0\x00"),
    _pids.map(wire.puback),
    st.binary(max_size=40).map(lambda p: _publish(UP, p, qos=0)),
    st.tuples(st.binary(max_size=40), _pids).map(lambda t: _publish(UP, t[0], pid=t[1])),
    st.binary(max_size=20).map(lambda p: _publish((STATUS_PREFIX + "gw-1/status").encode(), p, qos=0)),
    st.tuples(_pids, st.binary(min_size=1, max_size=3)).map(lambda t: _suback(t[0], t[1])),
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
        lambda t: _packet(t[0] << 4 | t[1], t[2])
    ),
    st.tuples(_bad_utf8, st.integers(0, 1)).map(lambda t: _publish(t[0], b"x", qos=t[1])),
    st.integers(2, 3).map(lambda qos: _publish(UP, b"x", qos=qos)),
    st.tuples(st.integers(1, 200), st.binary(max_size=6)).map(
        lambda t: _publish(UP, b"", props=wire.varint(len(t[1]) + t[0]) + t[1])
    ),
    st.integers(0x2A + 1, 0x7F).map(lambda pid: _publish(UP, b"x", props=bytes([2, pid, 0]))),
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
    async def check(broker: _Broker, link: MqttLink, desk: _Desk) -> None:
        await _dropped_and_back(broker, link, desk, 0)

    stream = b"".join([*before, bad, *after])
    asyncio.run(_run([_steady(_cut(stream, sizes), drops=True)], check))


def _garbage(chunks: list[bytes]) -> Script:
    """Whatever the broker sends, then a good uplink: acknowledged if the link is still in step; if it is neither
    acknowledged nor the connection dropped (the garbage began a long packet), the broker gives up on it."""

    async def play(s: _Session) -> None:
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
    async def check(broker: _Broker, link: MqttLink, desk: _Desk) -> None:
        first = await broker.session(0)
        if not first.delivered:
            assert (await broker.session(1)).delivered
        assert (UPLINK, b"good") in desk.uplinks
        assert link.figures()["connected"]

    asyncio.run(_run([_garbage(_cut(b"".join(stream), sizes))], check, version))


# -- the edges of the handshake ------------------------------------------------------------------------------


async def _tried_again_at_once(broker: _Broker, link: MqttLink, desk: _Desk) -> None:
    """The first session ends; the second comes within half a connect timeout and delivers."""
    await broker.session(1)
    assert (await broker.session(2, CONNECT_TIMEOUT_S / 2)).delivered


def test_a_broker_that_hangs_up_with_its_connack_is_tried_again_at_once() -> None:
    async def connack_and_close(s: _Session) -> None:
        await s.expect(wire.CONNECT)
        s.writer.write(_connack())  # the CONNACK and the close arrive together, as from a broker shutting down
        s.close()

    asyncio.run(_run([_hang_up, connack_and_close], _tried_again_at_once))


def test_a_broker_that_hangs_up_after_its_connack_is_tried_again_at_once() -> None:
    """The same with the close a moment later, once the SUBSCRIBE has gone: the SUBACK's wait ends with it."""

    async def connack_then_close(s: _Session) -> None:
        await s.expect(wire.CONNECT)
        await s.send(_connack())
        await s.expect(wire.SUBSCRIBE)
        s.close()

    asyncio.run(_run([_hang_up, connack_then_close], _tried_again_at_once))


def test_a_broker_mute_after_connect_costs_one_connect_timeout_and_leaves_no_stray_error() -> None:
    async def mute(s: _Session) -> None:
        await s.expect(wire.CONNECT)
        with contextlib.suppress(TimeoutError):
            s.dropped = await s.next(10 * CONNECT_TIMEOUT_S) is None

    async def check(broker: _Broker, link: MqttLink, desk: _Desk) -> None:
        assert (await broker.session(1, 10 * CONNECT_TIMEOUT_S)).dropped
        assert (await broker.session(2)).delivered

    asyncio.run(_run([_hang_up, mute], check, mqtt_connect_timeout_s=0.3))


# -- the whole service ---------------------------------------------------------------------------------------


def test_after_a_hostile_session_an_alarm_still_becomes_an_incident_and_its_ack_goes_out(tmp_path: Path) -> None:
    """The real Dispatcher on SQLite behind the link: the broker first sends garbage, then behaves and delivers
    an SOS; the incident opens and the ring's ACK is published through the reconnected link."""
    world = World()
    gateway = "gw-breestraat"
    frame, _ = world.frame(42, EVENT_SOS)
    db = f"sqlite+aiosqlite:///{tmp_path / 'd.db'}"
    upgrade(db)

    async def sos(s: _Session) -> None:
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
        with _loop_errors() as errors:
            async with _Broker([_steady([b"\x30\xff\xff\xff\xff\x01"], drops=True), sos]) as broker:
                settings_ = _settings(broker.port, database_url=db)
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
                    await _until(lambda: bool(good.downlinks))
                    assert [t for t, _ in good.downlinks] == [DOWN_PREFIX + gateway]
                    figures = link.figures()
                    assert figures["connected"] and figures["reconnects"] == 1
                finally:
                    await link.stop()
                    await d.stop()
        assert errors == [], errors

    asyncio.run(scenario())
