"""A LoRa packet forwarder stand-in for the demo and the simulator: it speaks the real Semtech UDP protocol to a
real gateway (PUSH_DATA up, PULL_DATA keepalives, PULL_RESP down, TX_ACK back), with the radio faked."""

import asyncio
import base64
import itertools
import time
from collections.abc import Callable
from typing import Any

from basestation.gateway import semtech

Downlink = Callable[[bytes], None]


class FakePacketForwarder(asyncio.DatagramProtocol):
    def __init__(self, eui: str, on_downlink: Downlink) -> None:
        self.eui = eui
        self.on_downlink = on_downlink
        self.transport: asyncio.DatagramTransport | None = None
        self._tokens = itertools.count(1)
        self.tmst = 0

    @classmethod
    async def connect(cls, host: str, port: int, eui: str, on_downlink: Downlink) -> "FakePacketForwarder":
        loop = asyncio.get_running_loop()
        _, proto = await loop.create_datagram_endpoint(lambda: cls(eui, on_downlink), remote_addr=(host, port))
        proto.pull()
        return proto

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def _token(self) -> int:
        return next(self._tokens) & 0xFFFF

    def pull(self) -> None:
        """PULL_DATA: tells the gateway where to send downlinks; a real forwarder repeats it every few seconds."""
        if self.transport is not None:
            self.transport.sendto(semtech.pull_data(self._token(), self.eui))

    def uplink(self, frame: bytes, rssi: float, snr: float = 7.0, sf: int = 9) -> None:
        if self.transport is None:
            return
        self.tmst = (self.tmst + 1_000_000) & 0xFFFFFFFF
        pkt = semtech.rxpk_entry(
            frame,
            self.tmst,
            time=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            chan=0,
            freq=868.1,
            datr=f"SF{sf}BW125",
            rssi=round(rssi),
            lsnr=snr,
        )
        self.transport.sendto(semtech.push_data(self._token(), self.eui, [pkt]))

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        try:
            token, txpk = semtech.parse_pull_resp(data)
        except semtech.SemtechError:
            return  # PUSH_ACK, PULL_ACK
        if self.transport is not None:
            self.transport.sendto(semtech.tx_ack(token, self.eui))
        payload = txpk.get("data")
        if isinstance(payload, str):
            self.on_downlink(base64.b64decode(payload))
