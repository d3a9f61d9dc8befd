"""What the MQTT conformance tests share (tests/dispatch/test_mqtt_conformance_*.py): the service's settings for
a broker of the `target` fixture (tests/dispatch/conftest.py), the service itself with its link (and, given, a
fault in front of its dispatcher), a gateway's publish at QoS 1, an SOS in its envelope, and what the tests wait
for: the incident open, the gateway placed.
"""

import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from basestation.dispatch.io.migrate import upgrade
from basestation.dispatch.io.mqtt_link import MqttLink
from basestation.dispatch.service import Dispatcher
from basestation.dispatch.settings import DispatchSettings
from harness.broker_base import TEST_USERNAME, Broker
from protocol.constants import EVENT_SOS
from tests.dispatch.conftest import Target, mqtt_links, running
from tests.dispatch.world import World, envelope, provision

Done = Callable[[BaseException | None], None]
KEEPALIVE_S = 2  # short, so that several keepalives pass in seconds
DEVICE = 42
OPEN = ("open", "offered", "escalated")  # nobody is on duty here: an SOS is escalated at once


def settings_for(
    t: Target, tmp_path: Path, client_id: str | None = None, via: tuple[str, int] | None = None, **kw: Any
) -> DispatchSettings:
    """The service's settings for ``t``, through ``via`` (a proxy's address) when given."""
    db = f"sqlite+aiosqlite:///{tmp_path / 'd.db'}"
    upgrade(db)
    host, port = via or (t.broker.host, t.broker.port)
    return DispatchSettings(
        mqtt_url=f"mqtt://{host}:{port}",
        mqtt_username=TEST_USERNAME,
        mqtt_password=t.broker.password,
        mqtt_protocol=t.protocol,
        # The module's broker keeps every session it saw: a test's own id starts it with none.
        mqtt_client_id=client_id or f"dispatch-{uuid.uuid4().hex[:8]}",
        database_url=db,
        mqtt_reconnect_initial_s=0.05,
        **kw,
    )


def gateway_id() -> str:
    # Retained statuses stay in the module's broker: a gateway of its own per test.
    return f"gw-{uuid.uuid4().hex[:8]}"


@asynccontextmanager
async def service(
    settings: DispatchSettings, world: World | None = None, front: Callable[[Dispatcher], Any] | None = None
) -> AsyncIterator[tuple[Dispatcher, MqttLink]]:
    """The dispatch service: a Dispatcher on SQLite and its link. ``front``, given, stands between the link and
    the dispatcher, as a fault would."""
    if world is not None:
        await provision(settings.database_url, world.roots)
    links = mqtt_links(settings) if front is None else lambda d: [MqttLink(settings, front(d))]
    async with running(settings, links) as svc:
        yield svc.dispatcher, svc.links[0]


def publish(broker: Broker, topic_: str, payload: bytes, retain: bool = False, wait_s: float = 10) -> bool:
    """As a gateway publishes: MQTT 3.1.1, QoS 1, done at the broker's PUBACK. False: no PUBACK came (the
    broker dropped the connection instead)."""
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"gw-pub-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv311)
    c.username_pw_set(TEST_USERNAME, broker.password)
    c.connect(broker.host, broker.port)
    c.loop_start()
    try:
        info = c.publish(topic_, payload, qos=1, retain=retain)
        with contextlib.suppress(RuntimeError):  # paho's "not currently connected"
            info.wait_for_publish(wait_s)
        return info.is_published()
    finally:
        c.disconnect()
        c.loop_stop()


def alarm(world: World, gw: str) -> tuple[bytes, int]:
    frame, counter = world.frame(DEVICE, EVENT_SOS)
    return envelope(frame, gw, rx_ms=int(time.time() * 1000)), counter


def opened(d: Dispatcher) -> bool:
    """The ring's alarm is an incident, read from the service's state. Not from its live stream: a stream's
    subscription starts at its first read, which on a busy machine came after the alarm it waited for."""
    return any(i.device_id == DEVICE and i.state.value in OPEN for i in d.state.incidents.values())


class Withheld:
    """In front of the dispatcher: uplinks are taken and never finished, as by a service that dies before its
    commit (or, with ``fail``, finished with the error a failed commit gives). Gateway statuses pass."""

    def __init__(self, d: Dispatcher, fail: bool = False, times: int = 1_000_000) -> None:
        self.d = d
        self.fail = fail
        self.times = times
        self.held: list[bytes] = []
        self.first_at = 0.0  # time.monotonic() when the first was taken

    def submit(self, topic_: str, payload: bytes, done: Done) -> None:
        if len(self.held) >= self.times:
            self.d.submit(topic_, payload, done)
            return
        self.first_at = self.first_at or time.monotonic()
        self.held.append(payload)
        if self.fail:
            done(OSError("the database went away"))

    async def on_gateway_status(self, gateway_id: str, payload: bytes, via: str = "") -> None:
        await self.d.on_gateway_status(gateway_id, payload, via)

    def set_aside(self, topic_: str, payload: bytes, error: str, done: Done) -> None:
        self.d.set_aside(topic_, payload, error, done)

    def link_notice(self, kind: str, subject: str, data: dict[str, Any]) -> None:
        self.d.link_notice(kind, subject, data)


def status(gw: str) -> bytes:
    return json.dumps({"gateway_id": gw, "state": "online", "position": {"lat": 52.1589, "lon": 4.4894}}).encode()


def placed(d: Dispatcher, gw: str) -> bool:
    return gw in d.state.gateways and d.state.gateways[gw].lat is not None
