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
out in one write.

The link in modules: this one makes the connection, subscribes, keeps it alive and makes it again (with backoff);
``mqtt_connection`` is the socket's protocol, ``mqtt_inbound`` handles what comes in and acknowledges it after
the commit, with flow control, ``mqtt_downlinks`` sends the ACKs to the gateways, ``mqtt_wire`` frames packets.
"""

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Sequence
from typing import cast

from basestation.dispatch.core.effects import Downlink
from basestation.dispatch.core.envelope import UP_PREFIX
from basestation.dispatch.io import mqtt_wire as wire
from basestation.dispatch.io.mqtt_connection import MAX_INBOUND, Connection
from basestation.dispatch.io.mqtt_inbound import STATUS_PREFIX, Handler, Inbound
from basestation.dispatch.io.tls import mqtt_context
from basestation.dispatch.settings import DispatchSettings

log = logging.getLogger("nightwatch.dispatch.mqtt")

RECEIVE_MAXIMUM = 16384  # what the broker may send unacknowledged: above mqtt_inbound.INFLIGHT_HIGH, so pausing decides
STOP_DRAIN_S = 5.0
LIVENESS_TICK_S = 1.0  # at most this long between two looks at a connection's liveness


def reconnect_delay_s(failures: int, initial_s: float, cap_s: float, draw: float) -> float:
    """The wait before the next connection attempt: ``initial_s`` doubled for each failure since the last
    healthy connection, capped, and scaled by a ``draw`` in [0, 1) to between half and all of it, so that
    replicas cut off together do not come back in step (and the wait is never nothing)."""
    full = min(cap_s, initial_s * 2.0 ** min(failures, 32))
    return full * (0.5 + draw / 2)


class MqttLink(Inbound):
    """One connection to one broker. It takes a ``handler`` for what comes in and hands out ``publish`` for
    downlinks; the caller wires the two (``dispatcher.publishers.append(link.publish)``), so that one service
    may publish through two links to two brokers (docs/deploy.md)."""

    def __init__(self, settings: DispatchSettings, handler: Handler) -> None:
        super().__init__(settings, handler)
        self._runner: asyncio.Task[None] | None = None
        self._pinger: asyncio.Task[None] | None = None
        # The keepalive of the current connection: ours, or the broker's Server Keep Alive when it sent one.
        self.keepalive_s = settings.mqtt_keepalive_s
        self.liveness_timeouts = 0  # connections given up because the broker went silent
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
        made: list[Connection] = []

        def protocol() -> Connection:
            made.append(Connection(self._drain, self._lost))
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
            self.downlinks.quota = ack.receive_maximum if self.version == wire.V5 else 20
            self.downlinks.max_packet = ack.maximum_packet_size
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
        again = self.downlinks.resend()
        if again:
            conn.write(b"".join(again))
        self.connected.set()
        self._write_soon()
        log.info("subscribed to %s (keepalive %d s)", up, self.keepalive_s)

    async def _handshake(self, protocol: Callable[[], Connection]) -> wire.Connack:
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

    async def _subscribe(self, conn: Connection, filters: list[str]) -> bytes:
        pid = self.downlinks.packet_id()
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

    def figures(self) -> dict[str, object]:
        return {
            "connected": self.connected.is_set(),
            "in_hand": len(self._pending),
            "pauses": self.pauses,
            "paused_s": round(self.paused_s, 3),
            "reconnects": self.reconnects,
            "keepalive_s": self.keepalive_s,
            "liveness_timeouts": self.liveness_timeouts,
            "downlinks_waiting": self.downlinks.waiting(),
            "downlinks_dropped": self.downlinks.dropped,
            "downlinks_refused": self.downlinks.refused,
            "downlinks_unheard": self.downlinks.unheard,
            "set_aside": self.set_aside,
            "downlinks_too_large": self.downlinks.too_large,
        }

    def publish(self, down: Downlink) -> None:
        """Send ``down`` to its gateway, now or once the broker lets us (``mqtt_downlinks``)."""
        self.downlinks.publish(down)


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
