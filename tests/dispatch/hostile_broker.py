"""A hostile broker for the dispatch link's tests: a real TCP peer on loopback that accepts the link, answers its
CONNECT and then plays a script, with the packets as a broker writes them (well-formed or not), the scripts the
tests share (behave, send something and see whether the link drops the connection, hang up, answer the handshake
badly), a handler that takes every message at once, and the run that starts the link against the broker and then
checks that nothing escaped its tasks and that it stopped cleanly.
"""

import asyncio
import contextlib
import gc
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from basestation.dispatch.core.envelope import UP_PREFIX
from basestation.dispatch.io import mqtt_wire as wire
from basestation.dispatch.io.mqtt_inbound import Done
from basestation.dispatch.io.mqtt_link import MqttLink
from basestation.dispatch.settings import DispatchSettings

CONNECT_TIMEOUT_S = 2.0
VERDICT_S = 2.0  # how long a session waits for the link to acknowledge an uplink
DROP_S = 0.5  # and for the link to drop the connection: it does so in milliseconds, or never
UPLINK = UP_PREFIX + "gw-hostile"
GOOD_PID = 0xFFFF  # the broker's well-behaved uplink; generated traffic uses 1..1000
Packet = tuple[int, int, bytes]


# -- packets as a broker writes them ---------------------------------------------------------------------------


def packet(first: int, body: bytes) -> bytes:
    return bytes([first]) + wire.varint(len(body)) + body


def mqtt_str(b: bytes) -> bytes:
    return len(b).to_bytes(2, "big") + b


def prop_block(block: bytes) -> bytes:
    return wire.varint(len(block)) + block


def connack_packet(props: bytes = b"", reason: int = 0) -> bytes:
    return packet(0x20, bytes([0, reason]) + prop_block(props))


def suback_packet(pid: int, codes: bytes = b"\x01\x01", props: bytes = b"\x00") -> bytes:
    return packet(0x90, pid.to_bytes(2, "big") + props + codes)


def publish_packet(topic_: bytes, payload: bytes, *, qos: int = 1, pid: int = 1, props: bytes = b"\x00") -> bytes:
    return packet(0x30 | qos << 1, mqtt_str(topic_) + (pid.to_bytes(2, "big") if qos else b"") + props + payload)


# -- the broker ----------------------------------------------------------------------------------------------


class Session:
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
        await self.send(connack_packet() if v5 else b"\x20\x02\0\0")
        _, _, body = await self.expect(wire.SUBSCRIBE)
        await self.send(suback_packet(wire.parse_packet_id(body), props=b"\0" if v5 else b""))

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


Script = Callable[[Session], Awaitable[None]]


class HostileBroker:
    """Listens on loopback and plays ``scripts[n]`` on the n-th connection; past them it behaves and serves."""

    def __init__(self, scripts: list[Script]) -> None:
        self.scripts = scripts
        self.sessions: list[Session] = []
        self.errors: list[BaseException] = []  # the broker's own failures: a broken test, not a broken link
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self.port = 0

    async def __aenter__(self) -> "HostileBroker":
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
        session = Session(reader, writer)
        script = self.scripts[len(self.sessions)] if len(self.sessions) < len(self.scripts) else behave
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

    async def session(self, n: int, timeout: float = 3 * VERDICT_S + CONNECT_TIMEOUT_S) -> Session:
        """The n-th connection, once its script has a verdict."""
        deadline = time.monotonic() + timeout
        while len(self.sessions) <= n:
            assert time.monotonic() < deadline, f"the link made {len(self.sessions)} connections, not {n + 1}"
            await asyncio.sleep(0.005)
        await asyncio.wait_for(self.sessions[n].settled.wait(), max(deadline - time.monotonic(), 0.001))
        assert not self.errors, self.errors
        return self.sessions[n]


async def behave(s: Session) -> None:
    await s.handshake()
    s.delivered = await s.uplink()
    s.settled.set()
    await s.serve()


def steady(hostile: list[bytes], *, drops: bool) -> Script:
    """A good handshake, then ``hostile``; then either the link must drop the connection, or it must still be in
    step with the stream and acknowledge a good uplink on it."""

    async def play(s: Session) -> None:
        await s.handshake()
        await s.send(*hostile)
        if drops:
            s.dropped = await s.link_drops()
        else:
            s.delivered = await s.uplink()
            s.settled.set()
            await s.serve()

    return play


async def hang_up(s: Session) -> None:
    """A good session the broker ends at once, as a restart does: the next connection comes at once."""
    await s.handshake()


def handshake(connack: bytes | None = None, suback: Callable[[int], bytes] | None = None) -> Script:
    """A hostile answer to CONNECT or SUBSCRIBE: the link must drop the connection."""

    async def play(s: Session) -> None:
        await s.expect(wire.CONNECT)
        await s.send(connack if connack is not None else connack_packet())
        if suback is not None:
            _, _, body = await s.expect(wire.SUBSCRIBE)
            await s.send(suback(wire.parse_packet_id(body)))
        s.dropped = await s.link_drops()

    return play


# -- the link's side -----------------------------------------------------------------------------------------


@dataclass
class Desk:
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


def link_settings(port: int, version: int = 5, **kw: Any) -> DispatchSettings:
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
def loop_errors() -> Iterator[list[dict[str, Any]]]:
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


async def until(cond: Callable[[], bool], timeout: float = VERDICT_S) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met"
        await asyncio.sleep(0.005)


async def run_against(
    scripts: list[Script],
    check: Callable[[HostileBroker, MqttLink, Desk], Awaitable[None]],
    version: int = 5,
    **kw: Any,
) -> None:
    """The link against a broker playing ``scripts``; ``check`` looks while the link runs. Then the link must stop
    cleanly (its tasks alive to be stopped), and the loop's exception handler must have heard nothing."""
    with loop_errors() as errors:
        async with HostileBroker(scripts) as broker:
            desk = Desk()
            link = MqttLink(link_settings(broker.port, version, **kw), desk)
            await link.start()
            try:
                await check(broker, link, desk)
            finally:
                await link.stop()
        assert not broker.errors, broker.errors
    assert errors == [], errors


async def dropped_and_back(broker: HostileBroker, link: MqttLink, desk: Desk, hostile: int) -> None:
    """Session ``hostile`` was dropped by the link, which connected again and delivered the next good uplink."""
    dropped = await broker.session(hostile)
    assert dropped.dropped, "the link stayed on a connection after a protocol error"
    # Back at once, not after a connect timeout spent waiting for what the dropped connection cannot bring.
    again = await broker.session(hostile + 1, CONNECT_TIMEOUT_S / 2 + VERDICT_S)
    assert again.accepted_at - dropped.dropped_at < CONNECT_TIMEOUT_S / 2, again.accepted_at - dropped.dropped_at
    assert again.delivered
    assert (UPLINK, b"good") in desk.uplinks
    await until(lambda: link.reconnects == 1)  # a connection that failed in its handshake is not counted
    figures = link.figures()
    assert figures["connected"] and figures["in_hand"] == 0


UP = UPLINK.encode()
