"""The dispatch service's own MQTT link against every broker it may meet: Mosquitto in MQTT 5 and in 3.1.1,
RabbitMQ's MQTT plugin and NATS's MQTT support (3.1.1 only, both). Real service (Dispatcher and MqttLink on a real
SQLite file), real brokers, each a private instance on free ports (harness/brokers.py); gateways are paho clients
publishing at QoS 1 as the gateway does. What differs between the brokers is in docs/mqtt.md, "Brokers the link is
tested against"."""

import asyncio
import contextlib
import json
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from basestation.dispatch.io.migrate import upgrade
from basestation.dispatch.io.mqtt_downlinks import DOWN_PREFIX
from basestation.dispatch.io.mqtt_link import MqttLink
from basestation.dispatch.service import Dispatcher
from basestation.dispatch.settings import DispatchSettings
from harness.broker_base import TEST_USERNAME, Broker
from harness.brokers import BrokerKind, broker_kinds
from harness.recorder import Recorder
from protocol import ack
from protocol.constants import EVENT_SOS
from tests.blackhole import Blackhole
from tests.dispatch.conftest import mqtt_links, running, until
from tests.dispatch.world import World, envelope, provision, topic

Done = Callable[[BaseException | None], None]
KEEPALIVE_S = 2  # short, so that several keepalives pass in seconds
DEVICE = 42
OPEN = ("open", "offered", "escalated")  # nobody is on duty here: an SOS is escalated at once


@dataclass(frozen=True)
class Target:
    kind: BrokerKind
    broker: Broker
    protocol: Literal[4, 5]


@pytest.fixture(
    scope="module",
    params=[
        pytest.param(("mosquitto", 5), id="mosquitto-v5"),
        pytest.param(("mosquitto", 4), id="mosquitto-v311"),
        pytest.param(("rabbitmq", 4), id="rabbitmq-v311"),
        pytest.param(("nats", 4), id="nats-v311"),
    ],
)
def target(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """One broker per variant for the whole module: RabbitMQ's node takes 10-16 s to boot here. Tests keep
    apart by their own client ids and gateway ids."""
    name, protocol = request.param
    kind = broker_kinds()[name]
    if kind.missing:
        pytest.skip(kind.missing)
    with kind.make(tmp_path_factory.mktemp(name)) as broker:
        yield Target(kind, broker, protocol)


def _settings(
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


def _gateway_id() -> str:
    # Retained statuses stay in the module's broker: a gateway of its own per test.
    return f"gw-{uuid.uuid4().hex[:8]}"


@asynccontextmanager
async def _service(
    settings: DispatchSettings, world: World | None = None, front: Callable[[Dispatcher], Any] | None = None
) -> AsyncIterator[tuple[Dispatcher, MqttLink]]:
    """The dispatch service: a Dispatcher on SQLite and its link. ``front``, given, stands between the link and
    the dispatcher, as a fault would."""
    if world is not None:
        await provision(settings.database_url, world.roots)
    links = mqtt_links(settings) if front is None else lambda d: [MqttLink(settings, front(d))]
    async with running(settings, links) as svc:
        yield svc.dispatcher, svc.links[0]


def _publish(broker: Broker, topic_: str, payload: bytes, retain: bool = False, wait_s: float = 10) -> bool:
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


def _alarm(world: World, gw: str) -> tuple[bytes, int]:
    frame, counter = world.frame(DEVICE, EVENT_SOS)
    return envelope(frame, gw, rx_ms=int(time.time() * 1000)), counter


def _opened(d: Dispatcher) -> bool:
    """The ring's alarm is an incident, read from the service's state. Not from its live stream: a stream's
    subscription starts at its first read, which on a busy machine came after the alarm it waited for."""
    return any(i.device_id == DEVICE and i.state.value in OPEN for i in d.state.incidents.values())


class _Withheld:
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


def _status(gw: str) -> bytes:
    return json.dumps({"gateway_id": gw, "state": "online", "position": {"lat": 52.1589, "lon": 4.4894}}).encode()


def _placed(d: Dispatcher, gw: str) -> bool:
    return gw in d.state.gateways and d.state.gateways[gw].lat is not None


def test_an_alarm_becomes_an_incident_and_its_ack_reaches_the_gateway(target: Target, tmp_path: Path) -> None:
    world, gw = World(), _gateway_id()
    payload, counter = _alarm(world, gw)
    with Recorder(target.broker, [DOWN_PREFIX + gw], password=target.broker.password) as downs:

        async def scenario() -> None:
            async with _service(_settings(target, tmp_path), world) as (d, _):
                # The gateway comes online after the service: its status through the wildcard subscription.
                await asyncio.to_thread(_publish, target.broker, f"nightwatch/v1/gw/{gw}/status", _status(gw), True)
                await until(lambda: _placed(d, gw), 10)
                assert await asyncio.to_thread(_publish, target.broker, topic(gw), payload)
                await until(lambda: _opened(d), 10)
                got = await asyncio.to_thread(downs.wait_for, lambda r: bool(r.payloads(DOWN_PREFIX)), 10)
                assert got, "no ACK downlink reached the gateway"
                [(down_topic, body, _)] = downs.messages
                frame = bytes.fromhex(json.loads(body)["frame"])
                assert down_topic == DOWN_PREFIX + gw
                # Authentic and for this press (nobody is on duty: it tells the ring so).
                assert ack.decode(world.ring(DEVICE), frame, counter).counter == counter

        asyncio.run(scenario())


def test_a_gateway_status_retained_before_the_start_reaches_the_service(target: Target, tmp_path: Path) -> None:
    """A fresh service learns where the gateways are from their retained statuses. RabbitMQ sends no retained
    message to a filter with a wildcard, which the link's status subscription has: there the service learns of
    a gateway only when it publishes its status again (or from its own database, after a restart)."""
    gw = _gateway_id()
    _publish(target.broker, f"nightwatch/v1/gw/{gw}/status", _status(gw), retain=True)

    async def scenario() -> None:
        async with _service(_settings(target, tmp_path)) as (d, _):
            if target.kind.retained_for_wildcards:
                await until(lambda: _placed(d, gw), 10)
            else:
                await asyncio.sleep(1.0)
                assert gw not in d.state.gateways

    asyncio.run(scenario())


def test_an_uplink_whose_commit_failed_comes_again_on_the_links_next_connection(target: Target, tmp_path: Path) -> None:
    """Not acknowledged, the broker sends it again once the link has dropped the connection and made it anew
    (a persistent session: clean session off in 3.1.1, a session that never expires in 5)."""
    world, gw = World(), _gateway_id()
    payload, _ = _alarm(world, gw)

    async def scenario() -> None:
        fronts: list[_Withheld] = []

        def front(d: Dispatcher) -> _Withheld:
            fronts.append(_Withheld(d, fail=True, times=1))
            return fronts[-1]

        async with _service(_settings(target, tmp_path), world, front) as (d, link):
            assert await asyncio.to_thread(_publish, target.broker, topic(gw), payload)
            await until(lambda: _opened(d), 10)
            assert fronts[0].held == [payload]
            await until(lambda: link.reconnects == 1, 5)

    asyncio.run(scenario())


def test_an_alarm_a_killed_service_had_not_committed_reaches_the_next_one(target: Target, tmp_path: Path) -> None:
    """The broker sees the first service's connection cut with the alarm unacknowledged, as when its process is
    killed; the next one, with the same client id, gets it: at once from a broker that resends at the
    reconnect, after its redelivery timer from NATS."""
    world, gw = World(), _gateway_id()
    payload, _ = _alarm(world, gw)
    client_id = f"dispatch-{uuid.uuid4().hex[:8]}"

    async def scenario() -> None:
        fronts: list[_Withheld] = []

        def front(d: Dispatcher) -> _Withheld:
            fronts.append(_Withheld(d))
            return fronts[-1]

        hole = Blackhole(target.broker.host, target.broker.port)
        hole.start()
        cut = False
        try:
            first = _settings(target, tmp_path, client_id, via=(hole.host, hole.port))
            async with _service(first, world, front):
                await asyncio.to_thread(_publish, target.broker, topic(gw), payload)
                await until(lambda: fronts[0].held == [payload], 10)
                # Both ends of the connection cut at once: no PUBACK, no DISCONNECT, and no way back in.
                hole.stop()
                cut = True
        finally:
            if not cut:
                hole.stop()

        async with _service(_settings(target, tmp_path, client_id)) as (d, _):
            back = time.monotonic()
            await until(lambda: _opened(d), 10)
            took = time.monotonic() - back
            print(f"{target.kind.name}: redelivered {took:.2f} s after the reconnect")
            if not target.kind.redelivers_on_reconnect:
                # Held for the rest of the timer that started when the first copy was sent.
                assert time.monotonic() - fronts[0].first_at >= 0.9 * getattr(target.broker, "ack_wait_s", 0), took

    asyncio.run(scenario())


def test_the_link_stays_up_across_keepalives(target: Target, tmp_path: Path) -> None:
    """With nothing else to say, the broker's PINGRESPs alone keep the link's silence deadline (1.5 keepalives)
    from passing, and the link's PINGREQs keep the broker's."""
    world, gw = World(), _gateway_id()
    payload, _ = _alarm(world, gw)

    async def scenario() -> None:
        async with _service(_settings(target, tmp_path, mqtt_keepalive_s=KEEPALIVE_S), world) as (d, link):
            assert link.keepalive_s == KEEPALIVE_S  # no broker here replaces it
            await asyncio.sleep(3 * KEEPALIVE_S)
            figures = link.figures()
            assert figures["connected"] and figures["liveness_timeouts"] == 0 and figures["reconnects"] == 0
            assert await asyncio.to_thread(_publish, target.broker, topic(gw), payload)
            await until(lambda: _opened(d), 10)

    asyncio.run(scenario())


def test_an_alarm_sent_while_the_service_was_stopped_comes_after_its_restart(target: Target, tmp_path: Path) -> None:
    world, gw = World(), _gateway_id()
    payload, _ = _alarm(world, gw)
    settings = _settings(target, tmp_path)

    async def scenario() -> None:
        async with _service(settings, world):
            pass
        await asyncio.to_thread(_publish, target.broker, topic(gw), payload)
        async with _service(settings) as (d, link):
            await until(lambda: _opened(d), 10)
            assert link.reconnects == 0

    asyncio.run(scenario())


class _Counter:
    """A replica's handler that only counts what it is given."""

    def __init__(self) -> None:
        self.payloads: list[bytes] = []

    def submit(self, topic_: str, payload: bytes, done: Done) -> None:
        self.payloads.append(payload)
        done(None)

    async def on_gateway_status(self, gateway_id: str, payload: bytes, via: str = "") -> None:
        pass

    def set_aside(self, topic_: str, payload: bytes, error: str, done: Done) -> None:
        raise AssertionError(f"set aside: {error}")  # nothing here fails

    def link_notice(self, kind: str, subject: str, data: dict[str, Any]) -> None:
        pass


@asynccontextmanager
async def _replicas(t: Target, tmp_path: Path, group: str) -> AsyncIterator[list[_Counter]]:
    counters = [_Counter(), _Counter()]
    links = [MqttLink(_settings(t, tmp_path, shared_group=group), c) for c in counters]
    for link in links:
        await link.start()
    try:
        yield counters
    finally:
        for link in links:
            await link.stop()


def test_replicas_split_uplinks_through_a_shared_subscription(target: Target, tmp_path: Path) -> None:
    if not target.kind.shared_subscriptions:
        pytest.skip(f"{target.kind.name} has no shared subscriptions: replicas cannot split uplinks through it")
    sent = [f"uplink-{i}".encode() for i in range(10)]

    async def scenario() -> None:
        async with _replicas(target, tmp_path, f"dispatch-{uuid.uuid4().hex[:8]}") as counters:
            gw = _gateway_id()
            for p in sent:
                await asyncio.to_thread(_publish, target.broker, topic(gw), p)
            await until(lambda: sum(len(c.payloads) for c in counters) >= len(sent), 10)
            await asyncio.sleep(0.3)  # a copy to a second replica would come now
            got = [p for c in counters for p in c.payloads]
            assert sorted(got) == sorted(sent)  # each exactly once
            assert all(c.payloads for c in counters), [len(c.payloads) for c in counters]

    asyncio.run(scenario())


def test_a_shared_group_on_a_broker_without_shared_subscriptions_gets_nothing(target: Target, tmp_path: Path) -> None:
    """The hazard: the broker grants ``$share/...`` as a plain topic filter, so the link comes up content and
    no uplink ever reaches it. A deployment must not set shared_group against such a broker."""
    if target.kind.shared_subscriptions:
        pytest.skip(f"{target.kind.name} has shared subscriptions")

    async def scenario() -> None:
        async with _replicas(target, tmp_path, f"dispatch-{uuid.uuid4().hex[:8]}") as counters:
            await asyncio.to_thread(_publish, target.broker, topic(_gateway_id()), b"uplink")
            await asyncio.sleep(1.0)
            assert [c.payloads for c in counters] == [[], []]

    asyncio.run(scenario())


def test_an_uplink_from_a_gateway_whose_id_has_a_dot(target: Target, tmp_path: Path) -> None:
    """docs/mqtt.md lets a gateway id hold a ".". RabbitMQ maps MQTT's "/" to AMQP's "." and back, so a "."
    inside a level becomes a level of its own: the uplink is acknowledged to the gateway and never matches the
    link's ``up/+``. NATS 2.9 refuses the topic and drops the gateway's connection. The link is unharmed."""
    world, gw = World(), f"gw.{uuid.uuid4().hex[:8]}"
    payload, _ = _alarm(world, gw)

    async def scenario() -> None:
        async with _service(_settings(target, tmp_path), world) as (d, link):
            # paho goes on waiting for the PUBACK across its own reconnects: a short wait for the one that fails.
            acknowledged = await asyncio.to_thread(_publish, target.broker, topic(gw), payload, False, 3)
            if target.kind.dotted_topics:
                assert acknowledged
                await until(lambda: _opened(d), 10)
            else:
                await asyncio.sleep(1.0)
                assert not _opened(d)
                assert acknowledged == (target.kind.name == "rabbitmq")  # lost after its PUBACK there
            assert link.reconnects == 0 and link.connected.is_set()

    asyncio.run(scenario())


def test_an_mqtt5_link_to_a_broker_of_311_only_fails_its_start_at_once(target: Target, tmp_path: Path) -> None:
    """The service's default is MQTT 5: against a 3.1.1-only broker it must fail its start, not come up deaf.
    NATS answers with 3.1.1's return code 1 (unacceptable protocol version); RabbitMQ closes the connection."""
    if 5 in target.kind.protocols:
        pytest.skip(f"{target.kind.name} speaks MQTT 5")
    settings = _settings(target, tmp_path).model_copy(update={"mqtt_protocol": 5, "mqtt_connect_timeout_s": 5.0})

    async def scenario() -> None:
        link = MqttLink(settings, _Counter())
        began = time.monotonic()
        with pytest.raises(ConnectionError):
            await link.start()
        assert time.monotonic() - began < 2

    asyncio.run(scenario())


def test_a_black_holed_connection_is_made_again_and_the_alarm_sent_into_it_arrives(
    target: Target, tmp_path: Path
) -> None:
    """A middlebox swallows the live connection both ways: the link's keepalive notices, it connects again, and
    the alarm the broker sent into the hole becomes an incident, within two keepalives where the broker resends
    at the reconnect, and within its redelivery timer more on NATS."""
    world, gw = World(), _gateway_id()
    payload, _ = _alarm(world, gw)

    async def scenario() -> None:
        with Blackhole(target.broker.host, target.broker.port) as hole:
            settings = _settings(target, tmp_path, via=(hole.host, hole.port), mqtt_keepalive_s=KEEPALIVE_S)
            async with _service(settings, world) as (d, link):
                await asyncio.sleep(KEEPALIVE_S)  # a healthy connection first
                await asyncio.to_thread(hole.swallow)
                blackout = time.monotonic()
                await asyncio.to_thread(_publish, target.broker, topic(gw), payload)
                bound = 2 * KEEPALIVE_S + (0 if target.kind.redelivers_on_reconnect else _ack_wait(target))
                await until(lambda: _opened(d), bound + 5)
                took = time.monotonic() - blackout
                print(f"{target.kind.name}: incident {took:.2f} s after the blackout")
                assert took <= bound, f"incident {took:.2f} s after the blackout (bound {bound} s)"
                assert link.liveness_timeouts >= 1 and hole.accepted >= 2

    asyncio.run(scenario())


def _ack_wait(t: Target) -> float:
    return float(getattr(t.broker, "ack_wait_s", 0))


def test_a_message_that_can_never_be_handled_is_set_aside_and_not_delivered_again(
    target: Target, tmp_path: Path
) -> None:
    """The database refuses the alarm's frame for good (a constraint): the message goes to the dead-letter table
    and is acknowledged, so the broker does not send it again, to this connection or the next one."""
    world, gw = World(), _gateway_id()
    payload, _ = _alarm(world, gw)
    client_id = f"dispatch-{uuid.uuid4().hex[:8]}"
    settings = _settings(target, tmp_path, client_id)
    db = settings.database_url.split("///", 1)[1]
    with sqlite3.connect(db) as c:
        c.execute(
            f"CREATE TRIGGER refuse BEFORE INSERT ON frames WHEN NEW.device_id = {DEVICE} "
            "BEGIN SELECT RAISE(ABORT, 'refused by a constraint'); END"
        )

    async def scenario() -> None:
        async with _service(settings, world) as (d, link):
            await asyncio.to_thread(_publish, target.broker, topic(gw), payload)
            await until(lambda: d.dead_letters == 1, 10)
            [letter] = await d.store.dead_letters()
            assert letter["error"] == "IntegrityError: refused by a constraint"
            # Past NATS's redelivery timer: nothing comes again on this connection.
            await asyncio.sleep(_ack_wait(target) + 1)
            assert link.set_aside == 1
        async with _service(settings) as (d, link):
            await asyncio.sleep(_ack_wait(target) + 1)
            assert link.set_aside == 0 and d.dead_letters == 0

    asyncio.run(scenario())
