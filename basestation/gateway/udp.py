"""The LoRa source: a UDP endpoint speaking the Semtech packet-forwarder protocol v2 to any number of
forwarders. Each good rxpk becomes a ReceivedFrame; each bad datagram is counted and logged, never fatal."""

import asyncio
import logging
import random
import socket
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, cast

from basestation.gateway import semtech
from basestation.gateway.record import ReceivedFrame
from basestation.gateway.stats import RateLimitedLog, Stats

log = logging.getLogger(__name__)

Address = tuple[Any, ...]
RECEIVE_BUFFER = 4 << 20
_PENDING_MAX = 1024  # PULL_RESP tokens awaiting a TX_ACK; forwarders older than v2 never answer


class SemtechListener(asyncio.DatagramProtocol):
    def __init__(
        self,
        on_frames: Callable[[list[ReceivedFrame]], None],
        on_txack: Callable[[str, str, str], None],
        stats: Stats,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._on_frames = on_frames
        self._on_txack = on_txack  # (downlink id, forwarder EUI, result)
        self._stats = stats
        self._clock = clock
        self._transport: asyncio.DatagramTransport | None = None
        self._downstream: dict[str, Address] = {}  # forwarder EUI -> where its PULL_DATA came from
        self._pending: OrderedDict[int, tuple[str, str]] = OrderedDict()
        self._token = random.randrange(0x10000)
        self._log = RateLimitedLog()

    @property
    def forwarders(self) -> list[str]:
        return sorted(self._downstream)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # The selector loop's datagram transport does not subclass DatagramTransport, so no isinstance.
        self._transport = cast(asyncio.DatagramTransport, transport)

    def error_received(self, exc: Exception) -> None:
        # ICMP errors from a forwarder that went away: not fatal, the next PULL_DATA fixes the route.
        log.debug("UDP error: %s", exc)

    def datagram_received(self, data: bytes, addr: Address) -> None:
        try:
            self._handle(data, addr)
        except Exception:  # the listener must outlive any bug in one datagram's handling
            self._stats.malformed["udp.internal"] += 1
            log.exception("datagram from %s not handled", addr)

    def _bad(self, key: str, addr: Address, detail: object) -> None:
        self._stats.malformed[key] += 1
        if self._log.should_log(key):
            log.warning("%s from %s: %s (total %d)", key, addr, detail, self._stats.malformed[key])

    def _handle(self, data: bytes, addr: Address) -> None:
        try:
            pkt = semtech.parse(data)
        except semtech.SemtechError as err:
            self._bad("udp." + err.reason, addr, err)
            return
        assert self._transport is not None
        if isinstance(pkt, semtech.PushData):
            # Acknowledge first: the forwarder's ack ratio measures the network, not our processing.
            self._transport.sendto(semtech.push_ack(pkt.token), addr)
            for reason in pkt.bad_rxpk:
                self._bad("rxpk." + reason, addr, "rxpk refused")
            now = self._clock()
            records = []
            for rx in pkt.rxpk:
                if rx.stat != 1:
                    self._bad("lora.crc", addr, f"stat {rx.stat}")
                    continue
                records.append(semtech.to_record(rx, pkt.eui, now))
            if records:
                self._on_frames(records)
        elif isinstance(pkt, semtech.PullData):
            self._downstream[pkt.eui] = addr
            self._transport.sendto(semtech.pull_ack(pkt.token), addr)
        else:
            pending = self._pending.pop(pkt.token, None)
            if pending is None:
                self._bad("udp.tx_ack_token", addr, pkt.token)
                return
            self._on_txack(pending[0], pkt.eui, pkt.error)

    def send(self, eui: str, txpk: dict[str, Any], downlink_id: str) -> bool:
        """PULL_RESP to the forwarder; False when it has not sent a PULL_DATA yet (no route to it)."""
        addr = self._downstream.get(eui)
        if addr is None or self._transport is None:
            return False
        self._token = (self._token + 1) & 0xFFFF
        self._pending[self._token] = (downlink_id, eui)
        while len(self._pending) > _PENDING_MAX:
            self._pending.popitem(last=False)
        self._transport.sendto(semtech.pull_resp(self._token, txpk), addr)
        return True


async def listen(
    host: str,
    port: int,
    on_frames: Callable[[list[ReceivedFrame]], None],
    on_txack: Callable[[str, str, str], None],
    stats: Stats,
) -> tuple[asyncio.DatagramTransport, SemtechListener]:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(
        lambda: SemtechListener(on_frames, on_txack, stats), local_addr=(host, port)
    )
    sock = transport.get_extra_info("socket")
    if sock is not None:
        # Several forwarders flushing at once must not overflow the kernel's buffer; the kernel caps
        # this at net.core.rmem_max (docs/gateway.md).
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
    return transport, protocol
