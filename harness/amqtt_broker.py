"""amqtt, the broker that needs no program installed: in the caller's event loop (``EmbeddedBroker``, for `make demo`
and the simulator's real-time mode) or in a thread of its own (``AmqttBroker``, for synchronous tests)."""

import asyncio
import threading
from typing import Any

from harness.broker_base import Broker
from harness.ports import free_port


class EmbeddedBroker:
    """amqtt in the caller's event loop, so that `make demo` on a fresh machine needs no broker program.

    amqtt speaks MQTT 3.1.1 only (no shared subscriptions, acknowledgement on receipt); production runs Mosquitto
    or another MQTT 5 broker (docs/dispatch.md). It drops the queued messages of anonymous sessions, so every
    client sends a user name, and anonymous logins are refused.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._broker: Any = None

    async def start(self) -> None:
        from amqtt.broker import Broker as Amqtt  # type: ignore[import-untyped, unused-ignore]

        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": False}},
        }
        self._broker = Amqtt(config)
        await self._broker.start()

    async def stop(self) -> None:
        if self._broker is not None:
            await self._broker.shutdown()
            self._broker = None


class AmqttBroker(Broker):
    """The EmbeddedBroker in its own thread and event loop, for synchronous tests. Nothing persists across
    kill()."""

    persistent = False

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self._embedded = EmbeddedBroker(self.host, self.port)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        started = threading.Event()
        loop = asyncio.new_event_loop()

        async def boot() -> None:
            await self._embedded.start()
            started.set()

        def main() -> None:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(boot())
            loop.run_forever()
            loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=main, name="amqtt", daemon=True)
        self._thread.start()
        if not started.wait(10):
            raise TimeoutError("amqtt did not start")

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._embedded.stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop = self._thread = None

    kill = stop  # in-process: the closest thing to a kill is an abrupt shutdown

    @property
    def running(self) -> bool:
        return self._thread is not None
