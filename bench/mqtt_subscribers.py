"""The MQTT benchmark's subscribers (bench/mqtt_bench.py says what is measured): each client drains its session in a
process of its own, ``python -m bench.mqtt_subscribers KIND JOB`` (a ``Job`` as JSON), and prints what it cost."""

import asyncio
import json
import os
import socket
import sys
import time
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
import uvloop
from gmqtt import Client
from gmqtt.mqtt.constants import MQTTv50
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from bench.common import sched_stats
from bench.uplinks import UP
from nightwatch import native

SESSION_NEVER_EXPIRES = 0xFFFFFFFF
KEEPALIVE_S = 60
DRAIN_TIMEOUT_S = 300.0


def _nodelay(sock: socket.socket | None) -> None:
    # As the link does for itself: the PUBACKs must not wait on Nagle's algorithm (FACTS, MQTT).
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _Tally:
    """The handlers' trivial work, the same for every client: messages and payload bytes counted."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.n = 0
        self.payload_bytes = 0

    def take(self, topic: str, payload: bytes | bytearray) -> bool:
        """Count one message; True once all expected ones are in."""
        if topic.startswith(UP):
            self.n += 1
            self.payload_bytes += len(payload)
        return self.n >= self.expected


class _Window:
    """The measured stretch of a subscriber process: from just before its connect to just after its clean
    disconnect. Imports and setting up the client stay outside."""

    def __init__(self) -> None:
        self.t0 = self.cpu0 = self.wall_s = self.cpu_s = self.wait_s = 0.0
        self.wait0 = 0

    def start(self) -> None:
        self.wait0 = sched_stats(os.getpid())["wait_ns"]
        self.t0, self.cpu0 = time.perf_counter(), time.process_time()

    def stop(self) -> None:
        self.cpu_s, self.wall_s = time.process_time() - self.cpu0, time.perf_counter() - self.t0
        # Runnable, but the cores were busy elsewhere: how contended the machine was, not a cost of the client.
        self.wait_s = (sched_stats(os.getpid())["wait_ns"] - self.wait0) / 1e9


class _LinkHandler:
    """The link's ``Handler``: each uplink counted and released for its PUBACK at once, as the service does with
    one that has nothing to commit."""

    def __init__(self, tally: _Tally, finished: asyncio.Event) -> None:
        self.tally = tally
        self.finished = finished

    def submit(self, topic: str, payload: bytes, done: Any) -> None:
        complete = self.tally.take(topic, payload)
        done(None)  # handled: the link may acknowledge it now, in its next write
        if complete:
            self.finished.set()

    async def on_gateway_status(self, gateway_id: str, payload: bytes, via: str = "") -> None:
        return None

    def set_aside(self, topic: str, payload: bytes, error: str, done: Any) -> None:
        raise RuntimeError(f"the bench's messages are all good, yet one was set aside: {error}")

    def link_notice(self, kind: str, subject: str, data: dict[str, Any]) -> None:
        return None


@dataclass(frozen=True)
class Job:
    """What one subscriber process is to do: drain the session ``client_id`` of ``expected`` messages."""

    port: int
    client_id: str
    expected: int
    receive_maximum: int  # the link's own (mqtt_link.RECEIVE_MAXIMUM), asked for by every client alike


async def _link(job: Job, tally: _Tally, window: _Window) -> None:
    # Imported here: the link brings the service's failure classes and with them SQLAlchemy, a second or more of
    # start-up on this machine under load, which the other clients' processes need not pay.
    from basestation.dispatch.io.mqtt_link import RECEIVE_MAXIMUM, MqttLink
    from basestation.dispatch.settings import DispatchSettings

    assert job.receive_maximum == RECEIVE_MAXIMUM
    finished = asyncio.Event()
    settings = DispatchSettings(
        mqtt_url=f"mqtt://127.0.0.1:{job.port}",
        mqtt_username=None,
        mqtt_client_id=job.client_id,
        mqtt_keepalive_s=KEEPALIVE_S,
    )
    handler = _LinkHandler(tally, finished)
    link = MqttLink(settings, handler)
    window.start()
    await link.start()  # connected and subscribed
    if tally.expected:
        await asyncio.wait_for(finished.wait(), DRAIN_TIMEOUT_S)
    await link.stop()  # the last PUBACKs, then DISCONNECT
    window.stop()


def _paho(job: Job, tally: _Tally, window: _Window) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=job.client_id, protocol=mqtt.MQTTv5)
    client.manual_ack_set(True)
    state = {"subscribed": False, "complete": tally.expected == 0, "leaving": False}

    def finish_when_done(c: mqtt.Client) -> None:
        if state["subscribed"] and state["complete"] and not state["leaving"]:
            state["leaving"] = True
            c.disconnect()  # queued behind the last PUBACK; loop_forever returns once it is sent

    def on_connect(c: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        _nodelay(c.socket())  # type: ignore[arg-type]
        c.subscribe(UP + "+", qos=1)

    def on_subscribe(c: mqtt.Client, userdata: Any, mid: int, reasons: Any, props: Any) -> None:
        state["subscribed"] = True
        finish_when_done(c)

    def on_message(c: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        if tally.take(msg.topic, msg.payload):
            state["complete"] = True
        c.ack(msg.mid, msg.qos)  # after handling, never before
        finish_when_done(c)

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = SESSION_NEVER_EXPIRES
    props.ReceiveMaximum = job.receive_maximum
    window.start()
    client.connect("127.0.0.1", job.port, keepalive=KEEPALIVE_S, clean_start=False, properties=props)
    client.loop_forever()
    window.stop()


async def _gmqtt(job: Job, tally: _Tally, window: _Window) -> None:
    finished = asyncio.Event()
    subscribed = asyncio.Event()

    async def on_message(client: Any, topic: str, payload: bytes, qos: int, properties: Any) -> int:
        if tally.take(topic, payload):
            finished.set()
        return 0  # the PUBACK's reason code (success), sent once this coroutine has returned

    client = Client(
        job.client_id,
        clean_session=False,
        optimistic_acknowledgement=False,
        receive_maximum=job.receive_maximum,
        session_expiry_interval=SESSION_NEVER_EXPIRES,
    )
    client.on_message = on_message
    client.on_subscribe = lambda *args: subscribed.set()
    window.start()
    await client.connect("127.0.0.1", job.port, version=MQTTv50, keepalive=KEEPALIVE_S)
    _nodelay(client._connection._transport.get_extra_info("socket"))  # gmqtt exposes no socket options
    client.subscribe(UP + "+", qos=1)
    await asyncio.wait_for(subscribed.wait(), 30)
    if tally.expected:
        await asyncio.wait_for(finished.wait(), DRAIN_TIMEOUT_S)
    # The last message's PUBACK goes from its task's done callback, which the loop runs after this coroutine's
    # wake-up: one turn of the loop, or the DISCONNECT would go first and the message come back next time.
    await asyncio.sleep(0)
    await client.disconnect()
    window.stop()


def subscriber(kind: str, job: Job) -> dict[str, Any]:
    """One client's drain of its session, in this process."""
    tally, window = _Tally(job.expected), _Window()
    extra: dict[str, Any] = {}
    if kind == "link":
        uvloop.run(_link(job, tally, window))
        compiled = [m for m in native.loaded() if m.startswith("basestation.dispatch.mqtt_")]
        # A stale extension runs the code of an older source: say so beside the figures (make native rebuilds).
        extra = {"compiled": compiled, "stale": [m for m in native.stale() if m in compiled]}
    elif kind == "paho":
        _paho(job, tally, window)
    elif kind == "gmqtt":
        uvloop.run(_gmqtt(job, tally, window))
    else:
        raise ValueError(f"no such client: {kind}")
    return {
        "received": tally.n,
        "payload_bytes": tally.payload_bytes,
        "cpu_s": window.cpu_s,
        "wall_s": window.wall_s,
        "wait_s": window.wait_s,
        **extra,
    }


if __name__ == "__main__":
    print(json.dumps(subscriber(sys.argv[1], Job(**json.loads(sys.argv[2])))), flush=True)
