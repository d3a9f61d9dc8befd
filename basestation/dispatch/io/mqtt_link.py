"""The dispatch service's MQTT side: its own small client on an asyncio protocol, in the service's event loop.

Uplinks are subscribed at QoS 1 with a persistent session and acknowledged only after their effects are
committed. A service killed at any instant leaves its unacknowledged messages with the broker, which redelivers
them. A message whose handling failed for a passing reason (the database away) is never acknowledged: the
connection is dropped and made again, and the broker sends it once more. One that can never be handled (failures.py)
is set aside in the dead-letter table with its error and then acknowledged: sent again, it would stop every message
behind it for ever. A connection from which the broker has sent nothing for 1.5 keepalives (settings) is given up
the same way: a middlebox that swallows traffic leaves the sockets of both ends content (docs/mqtt.md, "The
dispatch service's link").

Why not a general client library: every uplink of the city passes here. gmqtt spent a task, a future and a
property parse on each message and about 45 us of CPU with them (bench/dispatch_bench.py); here a message is
read from the stream and handed to the dispatcher in the same call, and the PUBACKs of a whole group commit go
out in one write. PUBACKs go in the order their PUBLISHes came (MQTT 5.0, 4.6), so that the broker's count of
messages in flight stays true.
"""

import asyncio
import contextlib
import json
import logging
import random
import socket
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Protocol, cast

import msgspec

from basestation.dispatch.core.effects import Downlink
from basestation.dispatch.core.envelope import UP_PREFIX
from basestation.dispatch.io import mqtt_wire as wire
from basestation.dispatch.io.failures import describe, permanent
from basestation.dispatch.io.tls import mqtt_context
from basestation.dispatch.settings import DispatchSettings

log = logging.getLogger("nightwatch.dispatch.mqtt")

STATUS_PREFIX = "nightwatch/v1/gw/"
DOWN_PREFIX = "nightwatch/v1/down/"
# Uplinks in hand (decided, waiting for their commit) before reading pauses: two group commits' worth, so that
# deciding goes on while one commits. At one commit's worth the service sat paused, idle, for a third of a
# flood (bench/dispatch_bench.py: paused 0.97 s of 2.7 s, against 0.33-0.52 s). Paused, the broker keeps the
# rest (the shipped settings let it keep them all).
INFLIGHT_HIGH = 6000
INFLIGHT_LOW = 3000
RECEIVE_MAXIMUM = 16384  # what the broker may send unacknowledged: above INFLIGHT_HIGH, so pausing decides
DRAIN_CHUNK = 256  # packets handled per turn of the event loop: about 4 ms of work in a flood
OUTBOX_MAX = 10_000
STOP_DRAIN_S = 5.0
# The largest packet taken from the broker, told to it in the CONNECT (MQTT 5): it then drops a larger message
# for us rather than send one that would get the connection dropped at every redelivery.
MAX_INBOUND = 1 << 20
LIVENESS_TICK_S = 1.0  # at most this long between two looks at a connection's liveness


def reconnect_delay_s(failures: int, initial_s: float, cap_s: float, draw: float) -> float:
    """The wait before the next connection attempt: ``initial_s`` doubled for each failure since the last
    healthy connection, capped, and scaled by a ``draw`` in [0, 1) to between half and all of it, so that
    replicas cut off together do not come back in step (and the wait is never nothing)."""
    full = min(cap_s, initial_s * 2.0 ** min(failures, 32))
    return full * (0.5 + draw / 2)


Done = Callable[[BaseException | None], None]


class Handler(Protocol):
    """What the link hands its messages to (the Dispatcher is one). ``done`` is called once the message's
    effects are durable, or with the error that stopped it: only then is it acknowledged to the broker. What
    ``submit`` returns is the handler's own (the Dispatcher's, the uplink's context); the link ignores it."""

    def submit(self, topic: str, payload: bytes, done: Done) -> object: ...

    async def on_gateway_status(self, gateway_id: str, payload: bytes, via: str = "") -> None:
        """A gateway's status as the broker at ``via`` (its URL) has it."""
        ...

    def set_aside(self, topic: str, payload: bytes, error: str, done: Done) -> None:
        """Keep a message that can never be handled, with its error, where operators see it; ``done`` as above."""
        ...

    def link_notice(self, kind: str, subject: str, data: dict[str, Any]) -> None:
        """Something operators must see (a refused downlink, a message set aside): recorded and pushed."""
        ...


class _Out(msgspec.Struct, frozen=True, gc=False):
    """A downlink on its way: in the outbox, then in flight until the broker's PUBACK."""

    topic: str
    payload: bytes
    alarm: bool


class _Ack(msgspec.Struct, gc=False):
    """One received QoS 1 PUBLISH awaiting its PUBACK. A Struct outside the collector's view: one is made for
    every uplink, and the only cycle it is in (link, its queue, the ack) ends when the ack leaves the queue."""

    link: "MqttLink"
    conn: "_Connection"
    packet_id: int
    topic: str
    payload: bytes  # kept until acknowledged: a message that can never be handled is set aside with it
    ok: bool = False
    aside: bool = False  # being set aside: whatever else reports on it now is not about its handling

    def __call__(self, error: BaseException | None) -> None:
        if error is None:
            self.ok = True
            self.link._write_soon()
        elif not self.aside and permanent(error):
            self.aside = True
            self.link._set_aside(self, error)
        else:
            self.link._failed(self.conn, error)


class _Connection(asyncio.Protocol):
    def __init__(self, link: "MqttLink") -> None:
        self.link = link
        self.reader = wire.Reader(MAX_INBOUND)
        # Packets read but not yet handled. The event loop's reader hands over up to 32 socket reads (2 MB, some
        # 8,000 uplinks) in one go; handled then and there, they held everything else up for 100 ms and more,
        # the writer's commits included. They are handled in chunks, each a turn of the loop (MqttLink._drain).
        self.backlog: deque[tuple[int, int, bytes]] = deque()
        self.draining = False
        self.transport: asyncio.Transport | None = None
        # When a byte last came from the broker (any packet proves the connection alive, the PINGRESP being only
        # the one it owes us) and when our last PINGREQ went; time.monotonic().
        self.last_rx = time.monotonic()
        self.last_ping = self.last_rx
        self.up_since = 0.0  # when the subscription was acknowledged; 0 until then
        self.connack: asyncio.Future[wire.Connack] = asyncio.get_running_loop().create_future()
        self.accepted = False  # its CONNACK came: a packet before it, or a second one, is a protocol error
        self.subacks: dict[int, asyncio.Future[bytes]] = {}
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not subclasses of asyncio.Transport, only alike.
        self.transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # Small frames must not wait for Nagle's algorithm (FACTS: ~30 ms on the 2nd and 3rd message).
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self.last_rx = time.monotonic()
        try:
            self.backlog.extend(self.reader.feed(data))
        except wire.MqttProtocolError as e:
            self.protocol_error(e)
            return
        if not self.draining and self.backlog:
            # The first chunk at once: an alarm read here is handled in this turn of the loop, not after
            # everything else that became ready in it.
            self.draining = True
            self.link._drain(self)

    def protocol_error(self, e: wire.MqttProtocolError) -> None:
        log.error("broker sent what MQTT does not allow (%s); reconnecting", e)
        self.backlog.clear()
        self.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.backlog.clear()
        if not self.closed.done():
            self.closed.set_result(None)
        waiting: list[asyncio.Future[Any]] = [self.connack, *self.subacks.values()]
        for fut in waiting:
            if not fut.done():
                fut.set_exception(ConnectionError("connection to the broker lost"))
        self.link._lost(self)

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


class MqttLink:
    """One connection to one broker. It takes a ``handler`` for what comes in and hands out ``publish`` for
    downlinks; the caller wires the two (``dispatcher.publishers.append(link.publish)``), so that one service
    may publish through two links to two brokers (docs/deploy.md)."""

    def __init__(self, settings: DispatchSettings, handler: Handler) -> None:
        self.settings = settings
        self.handler = handler
        self.version = wire.V5 if settings.mqtt_protocol == 5 else wire.V311
        self.connected = asyncio.Event()
        self._conn: _Connection | None = None
        self._pending: deque[_Ack] = deque()
        self._flush_scheduled = False
        self._paused = False
        self._stopping = False
        self._runner: asyncio.Task[None] | None = None
        self._pinger: asyncio.Task[None] | None = None
        # The keepalive of the current connection: ours, or the broker's Server Keep Alive when it sent one.
        self.keepalive_s = settings.mqtt_keepalive_s
        self.max_packet = wire.MAX_REMAINING + 5  # the broker's Maximum Packet Size, once it told us
        self.liveness_timeouts = 0  # connections given up because the broker went silent
        self.downlinks_too_large = 0
        self._status_tasks: set[asyncio.Task[None]] = set()
        # Downlinks: QoS 1 publishes, at most the broker's Receive Maximum unacknowledged (20 on a stock
        # Mosquitto); the rest wait in a bounded outbox, so an uplink never waits for a downlink.
        self._outbox: deque[_Out] = deque()
        self._supervision_waiting = 0  # of the outbox: the part OUTBOX_MAX bounds
        self._unacked: dict[int, _Out] = {}
        self._quota = 20
        self._next_id = 0
        self.downlinks_dropped = 0
        # Downlinks the broker took but would not pass on (PUBACK reason 0x80 and above, MQTT 5): each one
        # logged with its reason and shown to operators (``Handler.link_notice``).
        self.downlinks_refused = 0
        # Taken with "no matching subscribers" (0x10): the gateway was not listening; the ring's retry will ask.
        self.downlinks_unheard = 0
        self.set_aside = 0  # messages handed to the dead-letter table (``_set_aside``)
        self.pauses = 0
        self.paused_s = 0.0  # time spent not reading because too much was in hand
        self._paused_at = 0.0
        self.reconnects = 0

    # -- connection ----------------------------------------------------------------------------------------

    async def start(self) -> None:
        await self._connect()
        self._runner = asyncio.create_task(self._stay_connected(), name="dispatch-mqtt")
        self._pinger = asyncio.create_task(self._ping(), name="dispatch-mqtt-ping")

    async def stop(self) -> None:
        self._stopping = True
        for task in (self._runner, self._pinger):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        conn = self._conn
        if conn is not None and conn.transport is not None:
            # Take nothing more, and acknowledge what the writer commits meanwhile: a clean stop hands back
            # nothing it has handled.
            self._pause(conn, True)
            for _ in range(int(STOP_DRAIN_S / 0.01)):
                if not self._pending or conn.closed.done():
                    break
                await asyncio.sleep(0.01)
            self._flush()
            conn.write(wire.DISCONNECT_PACKET)
            conn.transport.close()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(conn.closed), 2)

    async def _connect(self) -> None:
        s = self.settings
        made: list[_Connection] = []

        def protocol() -> _Connection:
            made.append(_Connection(self))
            return made[-1]

        try:
            # A TCP connect to a host that drops SYNs takes minutes to fail, and a broker or middlebox that
            # accepts and then says nothing would hold us for ever: the whole handshake has one deadline.
            ack = await asyncio.wait_for(self._handshake(protocol), s.mqtt_connect_timeout_s)
            conn = made[0]
            if ack.reason != 0:
                if self.version == wire.V5 and ack.reason == 1:
                    # A 3.1.1-only broker answers a v5 CONNECT with 3.1.1's code 1 (3.2.2.3), as NATS does.
                    raise ConnectionRefusedError("the broker speaks only MQTT 3.1.1: set mqtt_protocol to 4")
                raise ConnectionRefusedError(f"broker refused the connection: reason {ack.reason} {ack.reason_string}")
            self._quota = ack.receive_maximum if self.version == wire.V5 else 20
            self.max_packet = ack.maximum_packet_size
            # MQTT 5.0, 3.2.2.3.14: the broker's keepalive replaces ours. Its 0 turns the broker's check off, not
            # ours: a PINGREQ may go at any time, and without one a silent connection would go unnoticed.
            self.keepalive_s = ack.server_keepalive or s.mqtt_keepalive_s
            if conn.closed.done():
                # Closed with its CONNACK, in the same read: no SUBACK can come, and waiting for one would cost the
                # whole connect timeout.
                raise ConnectionError("the broker closed the connection with its CONNACK")
            self._conn = conn
            up = UP_PREFIX + "+"
            if s.shared_group:
                up = f"$share/{s.shared_group}/{up}"
            codes = await self._subscribe(conn, [up, STATUS_PREFIX + "+/status"])
            if any(c >= 0x80 for c in codes):
                raise ConnectionRefusedError(f"broker refused the subscriptions: {codes.hex()}")
        except BaseException:
            # Cancelled or timed out just as the connection was made, the transport exists all the same.
            for c in made:
                # Nobody waits for its CONNACK now: failed later by the connection's loss, it would be logged as an
                # exception never retrieved.
                c.connack.cancel()
                c.abort()
            raise
        conn.up_since = time.monotonic()
        self._resend_unacked(conn)
        self.connected.set()
        self._write_soon()
        log.info("subscribed to %s (keepalive %d s)", up, self.keepalive_s)

    async def _handshake(self, protocol: Callable[[], _Connection]) -> wire.Connack:
        s = self.settings
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(protocol, s.mqtt_host, s.mqtt_port, ssl=mqtt_context(s) or None)
        conn.write(
            wire.connect(
                s.mqtt_client_id,
                version=self.version,
                keepalive=s.mqtt_keepalive_s,
                username=s.mqtt_username,
                password=s.mqtt_password,
                receive_maximum=RECEIVE_MAXIMUM,
                maximum_packet_size=MAX_INBOUND,
            )
        )
        return await asyncio.shield(conn.connack)

    def _resend_unacked(self, conn: _Connection) -> None:
        """What the broker had not acknowledged goes again, marked as a duplicate (MQTT 5.0, 4.4), within what
        this broker now lets us have in flight; the rest waits at the head of the outbox with new packet ids."""
        again: list[_Out] = []
        out: list[bytes] = []
        for pid, down in list(self._unacked.items()):
            packet = wire.publish(down.topic, down.payload, version=self.version, packet_id=pid, dup=True)
            if len(out) < self._quota and len(packet) <= self.max_packet:
                out.append(packet)
                continue
            del self._unacked[pid]
            if len(packet) <= self.max_packet:
                again.append(down)
                self._supervision_waiting += not down.alarm
            else:
                self._too_large(down, len(packet))
        self._outbox.extendleft(reversed(again))
        if out:
            conn.write(b"".join(out))

    async def _subscribe(self, conn: _Connection, filters: list[str]) -> bytes:
        pid = self._packet_id()
        fut: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        conn.subacks[pid] = fut
        conn.write(wire.subscribe(pid, filters, version=self.version))
        return await asyncio.wait_for(fut, self.settings.mqtt_connect_timeout_s)

    async def _stay_connected(self) -> None:
        s = self.settings
        failures = 0  # attempts and short-lived connections since the last healthy one
        while not self._stopping:
            conn = self._conn
            if conn is not None:
                await asyncio.shield(conn.closed)
                # Healthy: it stayed up for a keepalive. One the broker takes and drops at once (a second replica
                # with our client id, a poisoned session) backs off like a refusal instead of spinning.
                lasted = time.monotonic() - conn.up_since if conn.up_since else 0.0
                failures = 0 if lasted >= self.keepalive_s else failures + 1
            if self._stopping:
                return
            await asyncio.sleep(
                reconnect_delay_s(failures, s.mqtt_reconnect_initial_s, s.mqtt_reconnect_max_s, random.random())
            )
            try:
                await self._connect()
                self.reconnects += 1
            except (TimeoutError, OSError, ConnectionError) as e:
                failures += 1
                log.warning("broker unreachable (%r); trying again", e)
                self._conn = None

    async def _ping(self) -> None:
        """Keepalive both ways: a PINGREQ every half keepalive, which the broker must answer, and the connection
        given up when nothing at all has come from the broker for ``mqtt_keepalive_factor`` keepalives. The
        kernel cannot tell: a middlebox that swallows the traffic leaves both ends' sockets content for ever,
        and the broker's redeliveries would go into it."""
        factor = self.settings.mqtt_keepalive_factor
        while True:
            conn, k = self._conn, self.keepalive_s
            # A look at least every LIVENESS_TICK_S, or a connection made while we slept would wait for its first
            # ping until the old one's was due.
            nap = min(k / 4, LIVENESS_TICK_S)
            if conn is not None and self.connected.is_set() and not self._paused:
                # (Connecting has its own deadline; paused, we are the ones not reading.)
                now = time.monotonic()
                silent_for = now - conn.last_rx
                if silent_for >= factor * k:
                    self.liveness_timeouts += 1
                    log.error(
                        "nothing from the broker for %.1f s (keepalive %d s); dropping the connection", silent_for, k
                    )
                    conn.abort()
                else:
                    if now - conn.last_ping >= k / 2:
                        conn.last_ping = now
                        conn.write(wire.PINGREQ_PACKET)
                    # Woken when the next ping or the silence deadline falls due, not a tick later.
                    nap = min(nap, conn.last_rx + factor * k - now, conn.last_ping + k / 2 - now)
            await asyncio.sleep(max(nap, 0.001))

    def _lost(self, conn: _Connection) -> None:
        if conn is not self._conn:
            return
        self.connected.clear()
        # Whatever was in hand goes unacknowledged: the broker sends it again on the next connection, and the
        # pipeline knows a copy when it sees one.
        self._pending.clear()
        self._paused = False
        if not self._stopping:
            log.warning("connection to the broker lost; reconnecting")

    def _failed(self, conn: _Connection, error: BaseException) -> None:
        log.error("handling a message failed (%r); reconnecting so the broker redelivers it", error)
        if conn is self._conn:
            conn.abort()

    def _set_aside(self, ack: _Ack, error: BaseException) -> None:
        """A message whose handling can never succeed (failures.py): into the dead-letter table, then
        acknowledged, so that it is not sent again for ever with every message behind it waiting."""
        self.set_aside += 1
        log.error("message on %s can never be handled (%s); setting it aside", ack.topic, describe(error))
        self.handler.set_aside(ack.topic, ack.payload, describe(error), ack)

    # -- receiving -----------------------------------------------------------------------------------------

    def _drain(self, conn: _Connection) -> None:
        """Handle up to DRAIN_CHUNK packets, then let the event loop run whatever else is due before the next."""
        backlog = conn.backlog
        if conn.transport is None or conn.transport.is_closing():
            backlog.clear()  # what was not handled goes unacknowledged: the broker sends it again
        try:
            for _ in range(min(DRAIN_CHUNK, len(backlog))):
                kind, flags, body = backlog.popleft()
                self._packet(conn, kind, flags, body)
        except wire.MqttProtocolError as e:
            conn.protocol_error(e)
        if backlog:
            asyncio.get_running_loop().call_soon(self._drain, conn)
        else:
            conn.draining = False

    def _packet(self, conn: _Connection, kind: int, flags: int, body: bytes) -> None:
        if not conn.accepted and kind != wire.CONNACK:
            # MQTT 5.0, 3.2.0-1: a server's first packet is its CONNACK. A message taken before it would be handled
            # on a connection the broker may yet refuse.
            raise wire.MqttProtocolError(f"packet type {kind} before the CONNACK")
        if kind == wire.PUBLISH:
            self._on_publish(conn, wire.parse_publish(flags, body, self.version))
        elif kind == wire.PUBACK:
            self._puback(body)
        elif kind == wire.CONNACK:
            if conn.accepted:
                raise wire.MqttProtocolError("a second CONNACK")  # MQTT 5.0, 3.2.0-2
            conn.accepted = True
            if not conn.connack.done():  # (done: given up on at the connect timeout)
                conn.connack.set_result(wire.parse_connack(body, self.version))
        elif kind == wire.SUBACK:
            # Looked up, not taken out: should the codes fail to parse, the connection's loss fails the waiter,
            # which would otherwise wait out the connect timeout.
            fut = conn.subacks.get(wire.parse_packet_id(body))
            if fut is not None and not fut.done():
                fut.set_result(wire.suback_codes(body, self.version))
        elif kind == wire.DISCONNECT:
            log.warning("broker disconnected us: reason 0x%02x", wire.disconnect_reason(body))
            conn.abort()
        elif kind != wire.PINGRESP:
            raise wire.MqttProtocolError(f"unexpected packet type {kind}")

    def _on_publish(self, conn: _Connection, p: wire.Publish) -> None:
        done: Any
        if p.qos:
            done = _Ack(self, conn, p.packet_id, p.topic, p.payload)
            self._pending.append(done)
            if len(self._pending) >= INFLIGHT_HIGH and not self._paused:
                self._pause(conn, True)
        else:
            done = _ignore
        topic = p.topic
        try:
            if topic.startswith(UP_PREFIX):
                self.handler.submit(topic, p.payload, done)
            elif topic.startswith(STATUS_PREFIX) and topic.endswith("/status"):
                self._status(topic[len(STATUS_PREFIX) : -len("/status")], p.payload, done)
            else:
                done(None)
        except Exception as e:
            done(e)

    def _status(self, gateway_id: str, payload: bytes, done: Any) -> None:
        task = asyncio.get_running_loop().create_task(
            self.handler.on_gateway_status(gateway_id, payload, self.settings.mqtt_url)
        )
        self._status_tasks.add(task)

        def finished(t: asyncio.Task[None]) -> None:
            self._status_tasks.discard(t)
            done(asyncio.CancelledError() if t.cancelled() else t.exception())

        task.add_done_callback(finished)

    def _pause(self, conn: _Connection, pause: bool) -> None:
        """Backpressure by TCP: stop reading from the broker while too many uplinks are in hand."""
        if conn.transport is None or conn.transport.is_closing():
            return
        (conn.transport.pause_reading if pause else conn.transport.resume_reading)()
        self._paused = pause
        self.pauses += pause
        now = time.monotonic()
        if pause:
            self._paused_at = now
        else:
            self.paused_s += now - self._paused_at
            # Time spent not reading says nothing of the broker: its silence is counted from here.
            conn.last_rx = now

    def _write_soon(self) -> None:
        # One write per turn of the event loop carries every PUBACK that became due in it and every downlink
        # queued in it: a commit's acknowledgements and ACK frames leave in one system call, not one each.
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        pending, conn = self._pending, self._conn
        out = []
        while pending and pending[0].ok:
            ack = pending.popleft()
            if ack.conn is conn:
                out.append(wire.puback(ack.packet_id))
            else:
                # A broker sends a session's queued messages right behind its CONNACK: those handled before
                # this connection became ``_conn`` (the SUBACK still to come) are acknowledged on it all the
                # same. On a connection already lost the write is nothing, and the broker sends them again.
                ack.conn.write(wire.puback(ack.packet_id))
        if conn is None:
            return
        if self.connected.is_set():
            self._take_outbox(out)
        if out:
            conn.write(b"".join(out))
        if self._paused and len(pending) <= INFLIGHT_LOW and not self._stopping:
            self._pause(conn, False)

    def figures(self) -> dict[str, object]:
        return {
            "connected": self.connected.is_set(),
            "in_hand": len(self._pending),
            "pauses": self.pauses,
            "paused_s": round(self.paused_s, 3),
            "reconnects": self.reconnects,
            "keepalive_s": self.keepalive_s,
            "liveness_timeouts": self.liveness_timeouts,
            "downlinks_waiting": len(self._outbox) + len(self._unacked),
            "downlinks_dropped": self.downlinks_dropped,
            "downlinks_refused": self.downlinks_refused,
            "downlinks_unheard": self.downlinks_unheard,
            "set_aside": self.set_aside,
            "downlinks_too_large": self.downlinks_too_large,
        }

    # -- downlinks -----------------------------------------------------------------------------------------

    def publish(self, down: Downlink) -> None:
        if not down.alarm and self._supervision_waiting >= OUTBOX_MAX:
            # Ten thousand heartbeat ACKs waiting means the broker is gone; the ring's next heartbeat is answered.
            # An alarm's ACK is never dropped here: what it tells the wearer (help comes, nobody can come, it is
            # over) may not come again, and alarms are few (each ring's ACKs are rate-limited: docs/dispatch.md).
            self.downlinks_dropped += 1
            log.error("downlink outbox full: dropped the supervision ACK for %s", down.payload.get("id"))
            return
        self._outbox.append(_Out(DOWN_PREFIX + down.gateway_id, json.dumps(down.payload).encode(), down.alarm))
        self._supervision_waiting += not down.alarm
        self._write_soon()

    def _take_outbox(self, out: list[bytes]) -> None:
        """Move queued downlinks into ``out`` as PUBLISH packets, as many as the broker lets us have in flight."""
        while self._outbox and len(self._unacked) < self._quota:
            down = self._outbox.popleft()
            self._supervision_waiting -= not down.alarm
            pid = self._packet_id()
            packet = wire.publish(down.topic, down.payload, version=self.version, packet_id=pid)
            if len(packet) > self.max_packet:
                # Sent, it would get the connection dropped (MQTT 5.0, 3.1.2.11.4) with every uplink in hand,
                # and be sent again after the reconnect.
                self._too_large(down, len(packet))
                continue
            self._unacked[pid] = down
            out.append(packet)

    def _too_large(self, down: _Out, size: int) -> None:
        self.downlinks_too_large += 1
        self.downlinks_dropped += 1
        log.error(
            "downlink to %s of %d bytes is over the broker's maximum packet size (%d): dropped",
            down.topic,
            size,
            self.max_packet,
        )
        self._refused(down, 0x95, f"over the broker's maximum packet size ({self.max_packet} bytes)")

    def _puback(self, body: bytes) -> None:
        pid, reason, why = wire.parse_puback(body, self.version)
        down = self._unacked.pop(pid, None)
        if down is None:
            return
        if reason >= 0x80:
            self.downlinks_refused += 1
            log.error("the broker refused the downlink to %s: reason 0x%02x %s", down.topic, reason, why)
            self._refused(down, reason, why)
        elif reason == 0x10:
            self.downlinks_unheard += 1
        if self._outbox:
            self._write_soon()

    def _refused(self, down: _Out, reason: int, why: str) -> None:
        """Tell operators: a refused ACK is a ring that was not told (an ACL, a quota), and not sending it again
        is right only because the same refusal would follow."""
        gateway = down.topic[len(DOWN_PREFIX) :]
        try:
            msg_id = json.loads(down.payload).get("id")
        except ValueError:
            msg_id = None
        self.handler.link_notice(
            "downlink_refused",
            gateway,
            {"reason": reason, "reason_string": why, "id": msg_id, "alarm": down.alarm},
        )

    def _packet_id(self) -> int:
        for _ in range(65535):
            self._next_id = self._next_id % 65535 + 1
            if self._next_id not in self._unacked:
                return self._next_id
        raise RuntimeError("every packet id is in flight")


def link_figures(links: Sequence[MqttLink]) -> dict[str, object] | None:
    """/healthz's "mqtt": the one broker's figures; with several, their sums, "connected" while any link is (the
    service still hears the city), and each broker's own under "brokers"."""
    if not links:
        return None
    each = [link.figures() for link in links]
    if len(each) == 1:
        return each[0]
    out: dict[str, object] = {}
    for key, value in each[0].items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            out[key] = sum(cast(float, f[key]) for f in each)
    out["connected"] = any(f["connected"] for f in each)
    out["brokers_connected"] = sum(1 for f in each if f["connected"])
    out["brokers"] = [{"broker": link.settings.mqtt_url, **f} for link, f in zip(links, each, strict=True)]
    return out


def _ignore(error: BaseException | None) -> None:
    if error is not None:
        log.error("handling a QoS 0 message failed: %r", error)
