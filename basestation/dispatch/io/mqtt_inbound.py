"""What the link reads from its broker: each packet handled, uplinks and gateway statuses handed to the handler,
and each QoS 1 message acknowledged only once its effects are committed.

PUBACKs go in the order their PUBLISHes came (MQTT 5.0, 4.6), so that the broker's count of messages in flight
stays true, and those of a whole group commit leave in one write, with the downlinks queued in the same turn of
the event loop. While too many uplinks are in hand, reading stops (backpressure by TCP) and the broker keeps the
rest. A message whose handling failed for a passing reason drops the connection, so that the broker sends it
again; one that can never be handled (failures.py) is set aside and then acknowledged.

:class:`Inbound` is the receiving half of ``mqtt_link.MqttLink``, which adds making and keeping the connection.
"""

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

import msgspec

from basestation.dispatch.core.envelope import UP_PREFIX
from basestation.dispatch.io import mqtt_wire as wire
from basestation.dispatch.io.failures import describe, permanent
from basestation.dispatch.io.mqtt_connection import Connection
from basestation.dispatch.io.mqtt_downlinks import Downlinks
from basestation.dispatch.settings import DispatchSettings

log = logging.getLogger("nightwatch.dispatch.mqtt")

STATUS_PREFIX = "nightwatch/v1/gw/"
# Uplinks in hand (decided, waiting for their commit) before reading pauses: two group commits' worth, so that
# deciding goes on while one commits. At one commit's worth the service sat paused, idle, for a third of a
# flood (bench/dispatch_bench.py: paused 0.97 s of 2.7 s, against 0.33-0.52 s). Paused, the broker keeps the
# rest (the shipped settings let it keep them all).
INFLIGHT_HIGH = 6000
INFLIGHT_LOW = 3000
DRAIN_CHUNK = 256  # packets handled per turn of the event loop: about 4 ms of work in a flood

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


class _Ack(msgspec.Struct, gc=False):
    """One received QoS 1 PUBLISH awaiting its PUBACK. A Struct outside the collector's view: one is made for
    every uplink, and the only cycle it is in (link, its queue, the ack) ends when the ack leaves the queue."""

    link: "Inbound"
    conn: Connection
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


class Inbound:
    """The receiving half of one link to one broker (the module's docstring)."""

    def __init__(self, settings: DispatchSettings, handler: Handler) -> None:
        self.settings = settings
        self.handler = handler
        self.version = wire.V5 if settings.mqtt_protocol == 5 else wire.V311
        self.connected = asyncio.Event()
        self._conn: Connection | None = None
        self._pending: deque[_Ack] = deque()
        self._flush_scheduled = False
        self._paused = False
        self._stopping = False
        self._status_tasks: set[asyncio.Task[None]] = set()
        self.downlinks = Downlinks(self.version, self._write_soon, handler.link_notice)
        self.set_aside = 0  # messages handed to the dead-letter table (``_set_aside``)
        self.pauses = 0
        self.paused_s = 0.0  # time spent not reading because too much was in hand
        self._paused_at = 0.0

    def _lost(self, conn: Connection) -> None:
        if conn is not self._conn:
            return
        self.connected.clear()
        # Whatever was in hand goes unacknowledged: the broker sends it again on the next connection, and the
        # pipeline knows a copy when it sees one.
        self._pending.clear()
        self._paused = False
        if not self._stopping:
            log.warning("connection to the broker lost; reconnecting")

    def _failed(self, conn: Connection, error: BaseException) -> None:
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

    def _drain(self, conn: Connection) -> None:
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

    def _packet(self, conn: Connection, kind: int, flags: int, body: bytes) -> None:
        if not conn.accepted and kind != wire.CONNACK:
            # MQTT 5.0, 3.2.0-1: a server's first packet is its CONNACK. A message taken before it would be handled
            # on a connection the broker may yet refuse.
            raise wire.MqttProtocolError(f"packet type {kind} before the CONNACK")
        if kind == wire.PUBLISH:
            self._on_publish(conn, wire.parse_publish(flags, body, self.version))
        elif kind == wire.PUBACK:
            self.downlinks.puback(body)
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

    def _on_publish(self, conn: Connection, p: wire.Publish) -> None:
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

    # -- acknowledging and flow control --------------------------------------------------------------------

    def _pause(self, conn: Connection, pause: bool) -> None:
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
            self.downlinks.take(out)
        if out:
            conn.write(b"".join(out))
        if self._paused and len(pending) <= INFLIGHT_LOW and not self._stopping:
            self._pause(conn, False)


def _ignore(error: BaseException | None) -> None:
    if error is not None:
        log.error("handling a QoS 0 message failed: %r", error)
