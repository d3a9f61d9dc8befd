"""The dispatch service's own MQTT link against every broker it may meet (the `target` fixture in
tests/dispatch/conftest.py: Mosquitto in MQTT 5 and in 3.1.1, RabbitMQ's MQTT plugin and NATS's MQTT support), the
way of an alarm: it becomes an incident and its ACK reaches the gateway, a gateway's retained status reaches the
service, and an uplink whose commit failed, that a killed service had not committed or that was sent while the
service was stopped comes again; the link stays up across keepalives. Real service (Dispatcher and MqttLink on a
real SQLite file), real brokers, each a private instance on free ports (harness/brokers.py); gateways are paho
clients publishing at QoS 1 as the gateway does. What differs between the brokers is in docs/mqtt.md, "Brokers
the link is tested against"."""

import asyncio
import json
import time
import uuid
from pathlib import Path

from basestation.dispatch.io.mqtt_downlinks import DOWN_PREFIX
from basestation.dispatch.service import Dispatcher
from harness.recorder import Recorder
from protocol import ack
from tests.blackhole import Blackhole
from tests.dispatch.conformance import (
    DEVICE,
    KEEPALIVE_S,
    Withheld,
    alarm,
    gateway_id,
    opened,
    placed,
    publish,
    service,
    settings_for,
    status,
)
from tests.dispatch.conftest import Target, until
from tests.dispatch.world import World, topic


def test_an_alarm_becomes_an_incident_and_its_ack_reaches_the_gateway(target: Target, tmp_path: Path) -> None:
    world, gw = World(), gateway_id()
    payload, counter = alarm(world, gw)
    with Recorder(target.broker, [DOWN_PREFIX + gw], password=target.broker.password) as downs:

        async def scenario() -> None:
            async with service(settings_for(target, tmp_path), world) as (d, _):
                # The gateway comes online after the service: its status through the wildcard subscription.
                await asyncio.to_thread(publish, target.broker, f"nightwatch/v1/gw/{gw}/status", status(gw), True)
                await until(lambda: placed(d, gw), 10)
                assert await asyncio.to_thread(publish, target.broker, topic(gw), payload)
                await until(lambda: opened(d), 10)
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
    gw = gateway_id()
    publish(target.broker, f"nightwatch/v1/gw/{gw}/status", status(gw), retain=True)

    async def scenario() -> None:
        async with service(settings_for(target, tmp_path)) as (d, _):
            if target.kind.retained_for_wildcards:
                await until(lambda: placed(d, gw), 10)
            else:
                await asyncio.sleep(1.0)
                assert gw not in d.state.gateways

    asyncio.run(scenario())


def test_an_uplink_whose_commit_failed_comes_again_on_the_links_next_connection(target: Target, tmp_path: Path) -> None:
    """Not acknowledged, the broker sends it again once the link has dropped the connection and made it anew
    (a persistent session: clean session off in 3.1.1, a session that never expires in 5)."""
    world, gw = World(), gateway_id()
    payload, _ = alarm(world, gw)

    async def scenario() -> None:
        fronts: list[Withheld] = []

        def front(d: Dispatcher) -> Withheld:
            fronts.append(Withheld(d, fail=True, times=1))
            return fronts[-1]

        async with service(settings_for(target, tmp_path), world, front) as (d, link):
            assert await asyncio.to_thread(publish, target.broker, topic(gw), payload)
            await until(lambda: opened(d), 10)
            assert fronts[0].held == [payload]
            await until(lambda: link.reconnects == 1, 5)

    asyncio.run(scenario())


def test_an_alarm_a_killed_service_had_not_committed_reaches_the_next_one(target: Target, tmp_path: Path) -> None:
    """The broker sees the first service's connection cut with the alarm unacknowledged, as when its process is
    killed; the next one, with the same client id, gets it: at once from a broker that resends at the
    reconnect, after its redelivery timer from NATS."""
    world, gw = World(), gateway_id()
    payload, _ = alarm(world, gw)
    client_id = f"dispatch-{uuid.uuid4().hex[:8]}"

    async def scenario() -> None:
        fronts: list[Withheld] = []

        def front(d: Dispatcher) -> Withheld:
            fronts.append(Withheld(d))
            return fronts[-1]

        hole = Blackhole(target.broker.host, target.broker.port)
        hole.start()
        cut = False
        try:
            first = settings_for(target, tmp_path, client_id, via=(hole.host, hole.port))
            async with service(first, world, front):
                await asyncio.to_thread(publish, target.broker, topic(gw), payload)
                await until(lambda: fronts[0].held == [payload], 10)
                # Both ends of the connection cut at once: no PUBACK, no DISCONNECT, and no way back in.
                hole.stop()
                cut = True
        finally:
            if not cut:
                hole.stop()

        async with service(settings_for(target, tmp_path, client_id)) as (d, _):
            back = time.monotonic()
            await until(lambda: opened(d), 10)
            took = time.monotonic() - back
            print(f"{target.kind.name}: redelivered {took:.2f} s after the reconnect")
            if not target.kind.redelivers_on_reconnect:
                # Held for the rest of the timer that started when the first copy was sent.
                assert time.monotonic() - fronts[0].first_at >= 0.9 * getattr(target.broker, "ack_wait_s", 0), took

    asyncio.run(scenario())


def test_the_link_stays_up_across_keepalives(target: Target, tmp_path: Path) -> None:
    """With nothing else to say, the broker's PINGRESPs alone keep the link's silence deadline (1.5 keepalives)
    from passing, and the link's PINGREQs keep the broker's."""
    world, gw = World(), gateway_id()
    payload, _ = alarm(world, gw)

    async def scenario() -> None:
        async with service(settings_for(target, tmp_path, mqtt_keepalive_s=KEEPALIVE_S), world) as (d, link):
            assert link.keepalive_s == KEEPALIVE_S  # no broker here replaces it
            await asyncio.sleep(3 * KEEPALIVE_S)
            figures = link.figures()
            assert figures["connected"] and figures["liveness_timeouts"] == 0 and figures["reconnects"] == 0
            assert await asyncio.to_thread(publish, target.broker, topic(gw), payload)
            await until(lambda: opened(d), 10)

    asyncio.run(scenario())


def test_an_alarm_sent_while_the_service_was_stopped_comes_after_its_restart(target: Target, tmp_path: Path) -> None:
    world, gw = World(), gateway_id()
    payload, _ = alarm(world, gw)
    settings = settings_for(target, tmp_path)

    async def scenario() -> None:
        async with service(settings, world):
            pass
        await asyncio.to_thread(publish, target.broker, topic(gw), payload)
        async with service(settings) as (d, link):
            await until(lambda: opened(d), 10)
            assert link.reconnects == 0

    asyncio.run(scenario())
