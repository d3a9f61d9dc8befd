"""The dispatch link's liveness against a real Mosquitto: a connection black-holed by a middlebox is noticed by
the keepalive and made again, and the alarm the broker sent into the hole becomes an incident within two
keepalives; the broker's CONNACK limits (Server Keep Alive, Receive Maximum, Maximum Packet Size) are obeyed; a
broker that accepts and never answers costs one connect timeout."""

import asyncio
import itertools
import json
import socket
import time
from pathlib import Path

import pytest

from basestation.dispatch.core.effects import Downlink
from basestation.dispatch.io import mqtt_wire as wire
from basestation.dispatch.io.mqtt_downlinks import DOWN_PREFIX
from basestation.dispatch.io.mqtt_link import MqttLink
from basestation.dispatch.service import Dispatcher
from harness.mosquitto import mosquitto_binary
from harness.recorder import Recorder
from protocol.constants import EVENT_SOS
from tests.blackhole import Blackhole
from tests.dispatch.conftest import linked, mosquitto, mqtt_settings, publish_as_gateway, until
from tests.dispatch.world import World, envelope, topic

pytestmark = pytest.mark.skipif(mosquitto_binary() is None, reason="needs an MQTT 5 broker (Mosquitto)")

KEEPALIVE_S = 2  # short, so that the black hole is noticed in seconds; the bound below is two of them
GATEWAY = "gw-breestraat"


def _packets(data: bytes | bytearray) -> list[tuple[int, int, bytes]]:
    # What went into the hole starts at a packet boundary: the link was idle when it was swallowed.
    return wire.Reader().feed(bytes(data))


def test_a_black_holed_connection_is_made_again_and_the_alarm_sent_into_it_becomes_an_incident(
    tmp_path: Path,
) -> None:
    world = World()
    frame, _ = world.frame(42, EVENT_SOS)
    with mosquitto(tmp_path) as broker, Blackhole(broker.host, broker.port) as hole:
        settings = mqtt_settings(tmp_path, hole.host, hole.port, mqtt_keepalive_s=KEEPALIVE_S)

        async def scenario() -> None:
            async with linked(settings, world) as (d, link):
                stream = d.bus.stream()
                # Healthy first: a connection that lasted a keepalive resets the backoff.
                await asyncio.sleep(KEEPALIVE_S)
                assert link.figures()["keepalive_s"] == KEEPALIVE_S
                [swallowed] = await asyncio.to_thread(hole.swallow)
                blackout = time.monotonic()
                # The broker still takes the old connection for alive: it sends the alarm into the hole and
                # waits for a PUBACK that cannot come.
                await asyncio.to_thread(publish_as_gateway, broker, [(topic(GATEWAY), envelope(frame, GATEWAY))])
                while True:
                    msg = await asyncio.wait_for(anext(stream), 2 * KEEPALIVE_S)
                    if msg.topic == "incident":
                        break
                took = time.monotonic() - blackout
                assert took <= 2 * KEEPALIVE_S, f"incident {took:.2f} s after the blackout"
                assert msg.data["state"] in ("open", "offered", "escalated"), msg.data
                # The broker redelivers right after its CONNACK, before the SUBACK that completes the reconnect.
                await until(lambda: link.reconnects == 1, KEEPALIVE_S)
                assert link.liveness_timeouts == 1 and hole.accepted == 2
                print(f"incident {took:.2f} s after the blackout, keepalive {KEEPALIVE_S} s")
                assert topic(GATEWAY).encode() in swallowed.swallowed_down  # it was sent into the hole first
                # The old connection carried only keepalives meanwhile, and no PUBACK: nothing not yet durable.
                assert {kind for kind, _, _ in _packets(swallowed.swallowed_up)} <= {wire.PINGREQ}

        asyncio.run(scenario())


def test_the_brokers_server_keepalive_replaces_ours(tmp_path: Path) -> None:
    # Mosquitto: "do not set below 10 seconds".
    with mosquitto(tmp_path, "max_keepalive 10\n") as broker:
        settings = mqtt_settings(tmp_path, broker.host, broker.port, mqtt_keepalive_s=60)

        async def scenario() -> None:
            async with linked(settings) as (_, link):
                assert link.keepalive_s == 10

        asyncio.run(scenario())


def _downlink(i: int, pad: int = 0) -> Downlink:
    return Downlink(GATEWAY, {"id": f"dl-{i}", "frame": "11" * 16, "pad": "x" * pad})


def test_no_more_downlinks_in_flight_than_the_broker_allows(tmp_path: Path) -> None:
    """Mosquitto sends max_inflight_messages as its Receive Maximum, and disconnects a client that goes past it.
    With the link black-holed no PUBACK comes back, so what it sent meanwhile is its whole window."""
    with (
        mosquitto(tmp_path, "max_inflight_messages 3\n") as broker,
        Blackhole(broker.host, broker.port) as hole,
        Recorder(broker, [DOWN_PREFIX + "#"]) as downs,
    ):
        settings = mqtt_settings(tmp_path, hole.host, hole.port, mqtt_keepalive_s=1)

        async def scenario() -> None:
            async with linked(settings) as (_, link):
                [swallowed] = await asyncio.to_thread(hole.swallow)
                for i in range(10):
                    link.publish(_downlink(i))
                # Past the silence the link gives up on the connection and sends the rest on the next one.
                await until(lambda: link.reconnects == 1, 10)
                sent = [p for p in _packets(swallowed.swallowed_up) if p[0] == wire.PUBLISH]
                assert len(sent) == 3
                want = {f"dl-{i}" for i in range(10)}
                await asyncio.to_thread(downs.wait_for, lambda r: want <= _ids(r), 10)
                assert want <= _ids(downs)
                assert link.liveness_timeouts == 1 and link.reconnects == 1  # never disconnected for the quota
                # The broker hands a message on before its PUBACK reaches the link: the last may still be waiting.
                await until(lambda: link.figures()["downlinks_waiting"] == 0, 5)

        asyncio.run(scenario())


def _ids(rec: Recorder) -> set[str]:
    return {json.loads(p)["id"] for p in rec.payloads(DOWN_PREFIX)}


def test_a_downlink_over_the_brokers_maximum_packet_size_is_dropped_not_sent(tmp_path: Path) -> None:
    """Sent, it would get the link disconnected, and sent again after each reconnect."""
    with mosquitto(tmp_path, "max_packet_size 2000\n") as broker, Recorder(broker, [DOWN_PREFIX + "#"]) as downs:
        settings = mqtt_settings(tmp_path, broker.host, broker.port)

        async def scenario() -> None:
            async with linked(settings) as (_, link):
                assert link.downlinks.max_packet == 2000
                link.publish(_downlink(1, pad=1800))  # 1,910 bytes as a packet: fits
                link.publish(_downlink(2, pad=2000))
                link.publish(_downlink(3))
                await asyncio.to_thread(downs.wait_for, lambda r: {"dl-1", "dl-3"} <= _ids(r), 10)
                assert _ids(downs) == {"dl-1", "dl-3"}
                # dl-3's PUBACK may reach the link a moment after the broker handed dl-3 on.
                await until(lambda: link.figures()["downlinks_waiting"] == 0, 5)
                figures = link.figures()
                assert figures["downlinks_too_large"] == 1 and figures["downlinks_dropped"] == 1
                assert figures["reconnects"] == 0

        asyncio.run(scenario())


def test_a_broker_that_accepts_and_never_answers_costs_one_connect_timeout(tmp_path: Path) -> None:
    with socket.socket() as mute:
        # The kernel completes the TCP handshake into the backlog; nobody ever reads the CONNECT.
        mute.bind(("127.0.0.1", 0))
        mute.listen()
        host, port = mute.getsockname()
        settings = mqtt_settings(tmp_path, host, port, mqtt_connect_timeout_s=0.5)

        async def scenario() -> None:
            link = MqttLink(settings, Dispatcher(settings))
            began = time.monotonic()
            with pytest.raises(TimeoutError):
                await link.start()
            assert 0.5 <= time.monotonic() - began < 5

        asyncio.run(scenario())


def test_reconnect_waits_double_to_the_cap_and_start_again_after_a_healthy_connection(tmp_path: Path) -> None:
    """The broker killed: each attempt (a connection the proxy takes and cannot forward) waits at least half
    the doubled delay, up to the cap. Once a connection has stayed up for a keepalive, the next loss is
    retried after the first short wait again, not the cap."""
    initial, cap = 0.1, 2.0
    with mosquitto(tmp_path) as broker, Blackhole(broker.host, broker.port) as hole:
        settings = mqtt_settings(
            tmp_path,
            hole.host,
            hole.port,
            mqtt_keepalive_s=1,
            mqtt_reconnect_initial_s=initial,
            mqtt_reconnect_max_s=cap,
        )

        async def down_for(seconds: float) -> tuple[float, list[float]]:
            await asyncio.to_thread(broker.kill)
            killed = time.monotonic()
            await asyncio.sleep(seconds)
            return killed, [t for t in hole.arrivals if t > killed]

        async def scenario() -> None:
            async with linked(settings) as (_, link):
                killed, tries = await down_for(5.0)
                gaps = [b - a for a, b in itertools.pairwise([killed, *tries])]
                assert 4 <= len(gaps) <= 8, gaps  # 0.05-0.1, 0.1-0.2, 0.2-0.4, 0.4-0.8, 0.8-1.6, 1-2 ...
                for failures, gap in enumerate(gaps):
                    assert gap >= 0.5 * min(cap, initial * 2**failures), gaps
                await asyncio.to_thread(broker.start)
                await until(link.connected.is_set, cap + 5)
                await asyncio.sleep(1.5)  # up for more than a keepalive: healthy
                killed, tries = await down_for(1.0)
                # Not reset, the wait would be at least half the cap.
                assert tries and tries[0] - killed < 0.5 * cap, (killed, tries)

        asyncio.run(scenario())
