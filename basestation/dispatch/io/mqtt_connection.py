"""One TCP (or TLS) connection of the dispatch service's link to its broker, as an asyncio protocol.

It reads and frames what the broker sends, keeps the packets read but not yet handled, and holds the futures the
handshake waits on (the CONNACK, each SUBACK). What the packets mean is the link's (``mqtt_inbound.Inbound``):
it is handed the connection to drain, and told when it is lost.
"""

import asyncio
import logging
import socket
import time
from collections import deque
from collections.abc import Callable
from typing import Any, cast

from basestation.dispatch.io import mqtt_wire as wire

log = logging.getLogger("nightwatch.dispatch.mqtt")

# The largest packet taken from the broker, told to it in the CONNECT (MQTT 5): it then drops a larger message
# for us rather than send one that would get the connection dropped at every redelivery.
MAX_INBOUND = 1 << 20


class Connection(asyncio.Protocol):
    def __init__(self, drain: "Callable[[Connection], None]", lost: "Callable[[Connection], None]") -> None:
        self.drain = drain  # handles the backlog, a chunk per turn of the loop, until it is empty
        self.lost = lost
        self.reader = wire.Reader(MAX_INBOUND)
        # Packets read but not yet handled. The event loop's reader hands over up to 32 socket reads (2 MB, some
        # 8,000 uplinks) in one go; handled then and there, they held everything else up for 100 ms and more,
        # the writer's commits included. They are handled in chunks, each a turn of the loop (Inbound._drain).
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
            self.drain(self)

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
        self.lost(self)

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()
