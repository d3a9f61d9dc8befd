"""The dispatch service's own MQTT link against every broker it may meet (the `target` fixture in
tests/dispatch/conftest.py), at the edges: replicas splitting uplinks through a shared subscription (and a broker
without them giving a shared group nothing), a gateway id with a dot, an MQTT 5 link to a broker of 3.1.1 only, a
black-holed connection made again, and a message that can never be handled set aside. Real service and real
brokers, as in tests/dispatch/test_mqtt_conformance_alarms.py."""

import asyncio
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from basestation.dispatch.io.mqtt_link import MqttLink
from tests.blackhole import Blackhole
from tests.dispatch.conformance import (
    DEVICE,
    KEEPALIVE_S,
    Done,
    alarm,
    gateway_id,
    opened,
    publish,
    service,
    settings_for,
)
from tests.dispatch.conftest import Target, until
from tests.dispatch.world import World, topic


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
    links = [MqttLink(settings_for(t, tmp_path, shared_group=group), c) for c in counters]
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
            gw = gateway_id()
            for p in sent:
                await asyncio.to_thread(publish, target.broker, topic(gw), p)
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
            await asyncio.to_thread(publish, target.broker, topic(gateway_id()), b"uplink")
            await asyncio.sleep(1.0)
            assert [c.payloads for c in counters] == [[], []]

    asyncio.run(scenario())


def test_an_uplink_from_a_gateway_whose_id_has_a_dot(target: Target, tmp_path: Path) -> None:
    """docs/mqtt.md lets a gateway id hold a ".". RabbitMQ maps MQTT's "/" to AMQP's "." and back, so a "."
    inside a level becomes a level of its own: the uplink is acknowledged to the gateway and never matches the
    link's ``up/+``. NATS 2.9 refuses the topic and drops the gateway's connection. The link is unharmed."""
    world, gw = World(), f"gw.{uuid.uuid4().hex[:8]}"
    payload, _ = alarm(world, gw)

    async def scenario() -> None:
        async with service(settings_for(target, tmp_path), world) as (d, link):
            # paho goes on waiting for the PUBACK across its own reconnects: a short wait for the one that fails.
            acknowledged = await asyncio.to_thread(publish, target.broker, topic(gw), payload, False, 3)
            if target.kind.dotted_topics:
                assert acknowledged
                await until(lambda: opened(d), 10)
            else:
                await asyncio.sleep(1.0)
                assert not opened(d)
                assert acknowledged == (target.kind.name == "rabbitmq")  # lost after its PUBACK there
            assert link.reconnects == 0 and link.connected.is_set()

    asyncio.run(scenario())


def test_an_mqtt5_link_to_a_broker_of_311_only_fails_its_start_at_once(target: Target, tmp_path: Path) -> None:
    """The service's default is MQTT 5: against a 3.1.1-only broker it must fail its start, not come up deaf.
    NATS answers with 3.1.1's return code 1 (unacceptable protocol version); RabbitMQ closes the connection."""
    if 5 in target.kind.protocols:
        pytest.skip(f"{target.kind.name} speaks MQTT 5")
    settings = settings_for(target, tmp_path).model_copy(update={"mqtt_protocol": 5, "mqtt_connect_timeout_s": 5.0})

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
    world, gw = World(), gateway_id()
    payload, _ = alarm(world, gw)

    async def scenario() -> None:
        with Blackhole(target.broker.host, target.broker.port) as hole:
            settings = settings_for(target, tmp_path, via=(hole.host, hole.port), mqtt_keepalive_s=KEEPALIVE_S)
            async with service(settings, world) as (d, link):
                await asyncio.sleep(KEEPALIVE_S)  # a healthy connection first
                await asyncio.to_thread(hole.swallow)
                blackout = time.monotonic()
                await asyncio.to_thread(publish, target.broker, topic(gw), payload)
                bound = 2 * KEEPALIVE_S + (0 if target.kind.redelivers_on_reconnect else _ack_wait(target))
                await until(lambda: opened(d), bound + 5)
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
    world, gw = World(), gateway_id()
    payload, _ = alarm(world, gw)
    client_id = f"dispatch-{uuid.uuid4().hex[:8]}"
    settings = settings_for(target, tmp_path, client_id)
    db = settings.database_url.split("///", 1)[1]
    with sqlite3.connect(db) as c:
        c.execute(
            f"CREATE TRIGGER refuse BEFORE INSERT ON frames WHEN NEW.device_id = {DEVICE} "
            "BEGIN SELECT RAISE(ABORT, 'refused by a constraint'); END"
        )

    async def scenario() -> None:
        async with service(settings, world) as (d, link):
            await asyncio.to_thread(publish, target.broker, topic(gw), payload)
            await until(lambda: d.dead_letters == 1, 10)
            [letter] = await d.store.dead_letters()
            assert letter["error"] == "IntegrityError: refused by a constraint"
            # Past NATS's redelivery timer: nothing comes again on this connection.
            await asyncio.sleep(_ack_wait(target) + 1)
            assert link.set_aside == 1
        async with service(settings) as (d, link):
            await asyncio.sleep(_ack_wait(target) + 1)
            assert link.set_aside == 0 and d.dead_letters == 0

    asyncio.run(scenario())
