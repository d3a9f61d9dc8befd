"""Test helpers: real frames, a UDP packet forwarder, and the gateway running in a thread."""

import asyncio
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from basestation.gateway.relay import Relay, run
from basestation.gateway.semtech import (
    PULL_ACK,
    PUSH_ACK,
    parse_pull_resp,
    pull_data,
    push_data,
    rxpk_entry,
    tx_ack,
)
from basestation.gateway.settings import GatewaySettings
from protocol import uplink
from protocol.constants import EVENT_HEARTBEAT, EVENT_SOS
from protocol.keys import DeviceKeys

T = TypeVar("T")
ROOT_KEY = bytes(range(16))
EUI = "0016c001ff10a235"


def frames(n: int, event: int = EVENT_SOS, device_id: int = 42, first_counter: int = 1) -> list[bytes]:
    """``n`` distinct, valid 24-byte uplinks of one device."""
    keys = DeviceKeys(ROOT_KEY)
    aux = 60 if event == EVENT_HEARTBEAT else 0
    return [
        uplink.encode(keys, uplink.Uplink(c, device_id, event, 80, aux, 0, 0))
        for c in range(first_counter, first_counter + n)
    ]


rxpk = rxpk_entry  # the shared builder, under the name these tests use


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
        self.sock.sendto(push_data(token, self.eui, pkts), self.addr)
        self._expect(PUSH_ACK, token)

    def send_raw(self, data: bytes) -> None:
        self.sock.sendto(data, self.addr)

    def pull(self) -> None:
        """PULL_DATA, then wait for PULL_ACK. The listener handles datagrams in order, so this is also a
        barrier: everything sent before it has been handled."""
        token = self._next()
        self.sock.sendto(pull_data(token, self.eui), self.addr)
        self._expect(PULL_ACK, token)

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
                return parse_pull_resp(data)

    def send_tx_ack(self, token: int, error: str = "NONE") -> None:
        self.sock.sendto(tx_ack(token, self.eui, error), self.addr)


class GatewayThread:
    """The real gateway (relay.run) on its own event loop in a thread; tests stay synchronous."""

    def __init__(self, settings: GatewaySettings, **run_kwargs: Any) -> None:
        self.settings = settings
        self._run_kwargs = run_kwargs
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self.relay: Relay | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="gateway", daemon=True)

    def _main(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()

            def ready(relay: Relay) -> None:
                self.relay = relay
                self._ready.set()

            await run(self.settings, self._stop, ready=ready, **self._run_kwargs)

        try:
            asyncio.run(main())
        except BaseException as err:
            self.error = err
            self._ready.set()

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the gateway's loop (the spool belongs to that thread) and return its result."""
        assert self._loop is not None

        async def wrapper() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(wrapper(), self._loop).result(10)

    def wait_until(self, predicate: Callable[[Relay], bool], timeout: float) -> bool:
        """Check ``predicate`` on the gateway's loop after each of its callbacks' turns, up to ``timeout``."""
        assert self._loop is not None and self.relay is not None
        relay = self.relay

        async def poll() -> bool:
            deadline = asyncio.get_running_loop().time() + timeout
            while not predicate(relay):
                if asyncio.get_running_loop().time() > deadline:
                    return False
                await asyncio.sleep(0.01)  # PUBACKs arrive from paho's thread; nothing to await here
            return True

        return asyncio.run_coroutine_threadsafe(poll(), self._loop).result(timeout + 5)

    def __enter__(self) -> "GatewayThread":
        self._thread.start()
        if not self._ready.wait(20) or self.error is not None:
            raise RuntimeError(f"gateway did not start: {self.error!r}")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(20)


def settings_for(tmp: Path, broker_port: int, udp_port: int | None = None, **extra: Any) -> GatewaySettings:
    values: dict[str, Any] = {
        "id": "gw-test",
        "mqtt": f"mqtt://127.0.0.1:{broker_port}",
        "username": "nightwatch-test",
        "spool": tmp / "spool.sqlite3",
        "position": "52.1601,4.4970",
        "stats_interval_s": 3600.0,
    }
    if udp_port is not None:
        values["semtech_udp"] = f"127.0.0.1:{udp_port}"
    values.update(extra)
    return GatewaySettings(**values)


def chunks(seq: list[T], size: int) -> Iterator[list[T]]:
    for i in range(0, len(seq), size):
        yield seq[i : i + size]
