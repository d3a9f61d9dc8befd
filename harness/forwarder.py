"""LoRa packet forwarders with the radio faked, speaking the real Semtech UDP protocol to a real gateway (PUSH_DATA
up, PULL_DATA keepalives, PULL_RESP down, TX_ACK back). Two shapes of the same thing: FakePacketForwarder on the
caller's event loop, fed by the demo's and the simulator's radio model; Forwarder on a blocking socket, for
synchronous tests and benchmarks that wait for each acknowledgement."""

import asyncio
import base64
import itertools
import socket
import time
from collections.abc import Callable
from typing import Any

from basestation.gateway import semtech

EUI = "0016c001ff10a235"

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


class Forwarder:
    """A Semtech packet forwarder as seen from the network: real datagrams on a real UDP socket."""

    def __init__(self, port: int, eui: str = EUI, timeout: float = 5.0) -> None:
        self.addr = ("127.0.0.1", port)
        self.eui = eui
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(timeout)
        self._token = 0

    def close(self) -> None:
        self.sock.close()

    def _next(self) -> int:
        self._token = (self._token + 1) & 0xFFFF
        return self._token

    def _expect(self, ident: int, token: int) -> None:
        while True:
            data = self.sock.recv(65535)
            if len(data) >= 4 and data[3] == ident and int.from_bytes(data[1:3], "big") == token:
                return

    def push(self, pkts: list[dict[str, Any]]) -> None:
        """PUSH_DATA, then wait for its PUSH_ACK."""
        token = self._next()
        self.sock.sendto(semtech.push_data(token, self.eui, pkts), self.addr)
        self._expect(semtech.PUSH_ACK, token)

    def send_raw(self, data: bytes) -> None:
        self.sock.sendto(data, self.addr)

    def pull(self) -> None:
        """PULL_DATA, then wait for PULL_ACK. The listener handles datagrams in order, so this is also a
        barrier: everything sent before it has been handled."""
        token = self._next()
        self.sock.sendto(semtech.pull_data(token, self.eui), self.addr)
        self._expect(semtech.PULL_ACK, token)

    def wait_ready(self, attempts: int = 100) -> None:
        self.sock.settimeout(0.1)
        try:
            for _ in range(attempts):
                try:
                    self.pull()
                    return
                except TimeoutError:
                    continue
            raise TimeoutError("gateway UDP listener not answering")
        finally:
            self.sock.settimeout(5.0)

    def receive_pull_resp(self) -> tuple[int, dict[str, Any]]:
        while True:
            data = self.sock.recv(65535)
            if len(data) >= 4 and data[3] == 0x03:
                return semtech.parse_pull_resp(data)

    def send_tx_ack(self, token: int, error: str = "NONE") -> None:
        self.sock.sendto(semtech.tx_ack(token, self.eui, error), self.addr)
