"""The real gateway relay (relay.run) in a thread for synchronous callers, its settings on a given broker, and
real frames of one device to feed it (through harness.forwarder.Forwarder or a BLE backend from harness.ble)."""

import asyncio
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from basestation.gateway.relay import Relay, run
from basestation.gateway.semtech import rxpk_entry
from basestation.gateway.settings import GatewaySettings
from harness.broker_base import TEST_USERNAME
from protocol import uplink
from protocol.constants import EVENT_HEARTBEAT, EVENT_SOS
from protocol.keys import DeviceKeys

T = TypeVar("T")
ROOT_KEY = bytes(range(16))


def frames(n: int, event: int = EVENT_SOS, device_id: int = 42, first_counter: int = 1) -> list[bytes]:
    """``n`` distinct, valid 24-byte uplinks of one device."""
    keys = DeviceKeys(ROOT_KEY)
    aux = 60 if event == EVENT_HEARTBEAT else 0
    return [
        uplink.encode(keys, uplink.Uplink(c, device_id, event, 80, aux, 0, 0))
        for c in range(first_counter, first_counter + n)
    ]


rxpk = rxpk_entry  # the shared builder, under the name these tests use


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
        "username": TEST_USERNAME,
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
