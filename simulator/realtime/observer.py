"""A subscriber on the broker that timestamps what the gateways and the dispatch service publish, and the bare
broker hop measured beside them in the same run.

The observer takes its stamp in paho's network thread the moment a message is read, then hands it to the event
loop. The probe publishes a small message on its own connection and the observer times its arrival: the broker
hop with nothing behind it, the yardstick the end-to-end figures are stated against.
"""

import asyncio
import contextlib
import json
import socket
import uuid
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from simulator.realtime.clock import WallClock

UP = "nightwatch/v1/up/"
DOWN = "nightwatch/v1/down/"
PROBE = "nightwatch/sim/probe/"
USERNAME = "nightwatch-sim"  # amqtt drops the queued messages of anonymous sessions

OnUp = Callable[[float, dict[str, Any]], None]  # (arrival ms, envelope)
OnDown = Callable[[float, str, dict[str, Any]], None]  # (arrival ms, gateway id, downlink request)


def _client(name: str, protocol: int) -> mqtt.Client:
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"{name}-{uuid.uuid4().hex[:8]}",
        protocol=mqtt.MQTTv5 if protocol == 5 else mqtt.MQTTv311,
    )
    client.username_pw_set(USERNAME)

    def nodelay(client: mqtt.Client, userdata: Any, sock: Any) -> None:
        # FACTS: paho leaves Nagle on; the 2nd and 3rd messages after a connect would wait ~30 ms.
        with contextlib.suppress(OSError, AttributeError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    client.on_socket_open = nodelay
    return client


class Observer:
    def __init__(self, clock: WallClock, host: str, port: int, protocol: int, on_up: OnUp, on_down: OnDown) -> None:
        self.clock = clock
        self.host, self.port = host, port
        self.on_up, self.on_down = on_up, on_down
        self.loop = asyncio.get_running_loop()
        self.client = _client("sim-observer", protocol)
        self.pub = _client("sim-probe", protocol)
        self.client.on_connect = self._connected
        self.ready = asyncio.Event()
        self.client.on_subscribe = self._subscribed
        self.client.on_message = self._message
        self.probe_sent: dict[int, float] = {}
        self.probe_got: dict[int, float] = {}
        self._probe_seq = 0

    def _connected(self, client: mqtt.Client, *args: Any) -> None:
        client.subscribe([(UP + "#", 1), (DOWN + "#", 1), (PROBE + "#", 1)])

    def _subscribed(self, client: mqtt.Client, *args: Any) -> None:
        self.loop.call_soon_threadsafe(self.ready.set)

    def _message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        t = self.clock.ms()
        self.loop.call_soon_threadsafe(self._handle, t, msg.topic, bytes(msg.payload))

    def _handle(self, t: float, topic: str, payload: bytes) -> None:
        try:
            if topic.startswith(PROBE):
                self.probe_got[int(topic[len(PROBE) :])] = t
                return
            doc = json.loads(payload)
        except ValueError:
            return
        if not isinstance(doc, dict):
            return
        if topic.startswith(UP):
            self.on_up(t, doc)
        elif topic.startswith(DOWN):
            self.on_down(t, topic[len(DOWN) :], doc)

    async def start(self) -> None:
        for c in (self.client, self.pub):
            c.connect(self.host, self.port, keepalive=30)
            c.loop_start()
        await asyncio.wait_for(self.ready.wait(), 15)

    def probe(self) -> None:
        """One bare broker hop: publish at QoS 1, as a gateway does, and time the delivery to the observer."""
        self._probe_seq += 1
        seq = self._probe_seq
        self.probe_sent[seq] = self.clock.ms()
        self.pub.publish(f"{PROBE}{seq}", b"{}", qos=1)

    def probe_ms(self) -> list[float]:
        return [self.probe_got[k] - t for k, t in self.probe_sent.items() if k in self.probe_got]

    async def stop(self) -> None:
        for c in (self.client, self.pub):
            c.disconnect()
            await asyncio.to_thread(c.loop_stop)
