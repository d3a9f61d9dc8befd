"""The embedded MQTT broker for `make demo`: amqtt in this process, so a fresh machine needs nothing else.

amqtt speaks MQTT 3.1.1 only (no shared subscriptions, acknowledgement on receipt); production runs Mosquitto or
another MQTT 5 broker (docs/dispatch.md). It drops the queued messages of anonymous sessions, so every client of
the demo sends a user name, and anonymous logins are refused.
"""

from typing import Any


class EmbeddedBroker:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._broker: Any = None

    async def start(self) -> None:
        from amqtt.broker import Broker

        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": False}},
        }
        self._broker = Broker(config)
        await self._broker.start()

    async def stop(self) -> None:
        if self._broker is not None:
            await self._broker.shutdown()
