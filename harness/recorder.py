"""A recording subscriber: what arrived on a broker, in arrival order, waited for by predicate."""

import threading
import uuid
from collections.abc import Callable
from types import TracebackType
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from harness.broker_base import TEST_USERNAME, Broker


class Recorder:
    """A QoS 1 subscriber with a persistent session, recording (topic, payload, retained) in arrival order."""

    def __init__(
        self,
        broker: Broker,
        topics: list[str],
        client_id: str | None = None,
        username: str = TEST_USERNAME,
        password: str | None = None,
    ) -> None:
        self.messages: list[tuple[str, bytes, bool]] = []
        self._cond = threading.Condition()
        self._subscribed = threading.Event()
        self._topics = topics
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"rec-{uuid.uuid4().hex[:8]}",
            clean_session=False,
            protocol=mqtt.MQTTv311,
        )
        self.client.username_pw_set(username, password)
        self.client.reconnect_delay_set(1, 1)
        self.client.on_connect = self._connected
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        self.client.on_message = self._message
        self._broker = broker

    def _connected(self, client: mqtt.Client, *args: Any) -> None:
        client.subscribe([(t, 1) for t in self._topics])

    def _message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        with self._cond:
            self.messages.append((msg.topic, bytes(msg.payload), bool(msg.retain)))
            self._cond.notify_all()

    def payloads(self, topic_prefix: str) -> list[bytes]:
        with self._cond:
            return [p for t, p, _ in self.messages if t.startswith(topic_prefix)]

    def wait_for(self, predicate: Callable[["Recorder"], bool], timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self), timeout)

    def __enter__(self) -> "Recorder":
        self.client.connect(self._broker.host, self._broker.port, keepalive=10)
        self.client.loop_start()
        if not self._subscribed.wait(10):
            raise TimeoutError("subscription not acknowledged")
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.client.disconnect()
        self.client.loop_stop()
