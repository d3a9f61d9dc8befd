"""No single broker in the way: gateways publish every frame to two independent Mosquittos, the service
subscribes to both (``mqtt_mirror_url``), and either broker may be SIGKILLed during a stream of alarms.

Each alarm must become exactly one incident (0 lost, 0 doubled), with no pause beyond the time its copy takes on
the other path; the killed broker comes back with its persistent sessions and delivers what it held, which the
pipeline takes for copies. Downlinks go out through both brokers."""

import asyncio
import json
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from basestation.dispatch.io.migrate import upgrade
from basestation.dispatch.io.mqtt_downlinks import DOWN_PREFIX
from basestation.dispatch.io.mqtt_link import MqttLink
from basestation.dispatch.service import Dispatcher
from basestation.dispatch.settings import DispatchSettings
from harness.broker_base import TEST_USERNAME
from harness.mosquitto import MosquittoBroker, mosquitto_binary
from harness.recorder import Recorder
from protocol.constants import EVENT_SOS
from tests.dispatch.conftest import mqtt_links, running
from tests.dispatch.world import World, envelope, provision, topic

pytestmark = pytest.mark.skipif(mosquitto_binary() is None, reason="needs Mosquitto")

ALARMS = 120
EVERY_S = 0.02  # one alarm every 20 ms: the stream lasts 2.4 s, the kill falls in its first third
GATEWAY = "gw-breestraat"


class Gateway:
    """Publishes as a gateway with a mirror does: each envelope to both brokers, QoS 1, without waiting for
    either (paho queues for a broker that is away and sends after it reconnects)."""

    def __init__(self, brokers: list[MosquittoBroker]) -> None:
        self.clients = []
        for b in brokers:
            c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"nightwatch-gw-{GATEWAY}", protocol=mqtt.MQTTv311)
            c.username_pw_set(TEST_USERNAME)
            c.reconnect_delay_set(1, 1)
            c.connect(b.host, b.port, keepalive=5)
            c.loop_start()
            self.clients.append(c)

    def publish(self, payload: bytes) -> None:
        for c in self.clients:
            c.publish(topic(GATEWAY), payload, qos=1)

    def close(self) -> None:
        for c in self.clients:
            c.disconnect()
            c.loop_stop()


def _stream(world: World, gw: Gateway, sent: dict[int, float], kill: threading.Event) -> None:
    for n in range(ALARMS):
        device = 1000 + n
        frame, _ = world.frame(device, EVENT_SOS)
        sent[device] = time.monotonic()
        gw.publish(envelope(frame, GATEWAY, rx_ms=time.time_ns() // 1_000_000))
        if n == ALARMS // 4:
            kill.set()
        time.sleep(EVERY_S)


@pytest.mark.parametrize("killed", [0, 1], ids=["primary", "mirror"])
def test_either_broker_killed_during_a_stream_of_alarms_loses_none_and_doubles_none(
    tmp_path: Path, killed: int
) -> None:
    binary = mosquitto_binary()
    assert binary is not None
    world = World()
    for n in range(ALARMS):
        world.ring(1000 + n)
    brokers = [MosquittoBroker(tmp_path / f"broker-{i}", binary) for i in range(2)]
    for b in brokers:
        b.start()
    try:
        db = f"sqlite+aiosqlite:///{tmp_path / 'd.db'}"
        upgrade(db)
        asyncio.run(provision(db, world.roots))
        a, b = brokers
        settings = DispatchSettings(
            mqtt_url=f"mqtt://{a.host}:{a.port}",
            mqtt_mirror_url=f"mqtt://{b.host}:{b.port}",
            mqtt_username=TEST_USERNAME,
            database_url=db,
            mqtt_reconnect_initial_s=0.05,
            mqtt_reconnect_max_s=0.5,
            mqtt_keepalive_s=2,
        )
        sent: dict[int, float] = {}
        first: dict[int, float] = {}

        async def scenario() -> None:
            async with running(settings, mqtt_links(settings)) as svc:
                d, links = svc.dispatcher, svc.links
                stream = d.bus.stream()

                async def watch() -> None:
                    async for msg in stream:
                        if msg.topic == "incident" and msg.data["kind"] == "sos":
                            device = int(msg.data["device_id"])
                            first.setdefault(device, time.monotonic())

                watcher = asyncio.create_task(watch())
                await asyncio.sleep(0.1)
                gw = await asyncio.to_thread(Gateway, brokers)
                kill = threading.Event()
                streaming = asyncio.create_task(asyncio.to_thread(_stream, world, gw, sent, kill))
                await asyncio.to_thread(kill.wait, 10)
                brokers[killed].kill()
                await streaming
                deadline = time.monotonic() + 10
                while len(first) < ALARMS and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
                # The killed broker comes back with its sessions: what it held for the service arrives late, as
                # copies of frames already handled.
                brokers[killed].start()
                await asyncio.sleep(0)
                deadline = time.monotonic() + 15
                while not all(link.connected.is_set() for link in links) and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
                assert all(link.connected.is_set() for link in links)
                await asyncio.sleep(2.0)  # redeliveries and the gateway's queued publishes drain
                await asyncio.to_thread(gw.close)
                watcher.cancel()
                health = d.health()
                incidents = [i for i in d.state.incidents.values() if i.kind.value == "sos"]
                assert sorted(i.device_id for i in incidents) == sorted(sent)  # 0 lost, 0 doubled
                assert health["outcomes"].get("accepted", 0) == ALARMS
                # Both paths carried the stream: the other broker's copies were taken for copies.
                assert health["outcomes"].get("duplicate", 0) >= ALARMS // 4
                assert link_figures_connected(links) == 2

        asyncio.run(scenario())
        assert sorted(first) == sorted(sent)
        delays = sorted(first[dev] - sent[dev] for dev in sent)
        worst = delays[-1]
        print(
            f"killed {'primary' if killed == 0 else 'mirror'}: worst alarm {worst * 1000:.0f} ms after publish,"
            f" median {delays[len(delays) // 2] * 1000:.1f} ms"
        )
        # The other path carries every alarm at once: no wait for a reconnect, a keepalive or a restart.
        assert worst < 1.0, f"an alarm took {worst:.2f} s"
    finally:
        for b in brokers:
            b.stop()


def link_figures_connected(links: list[MqttLink]) -> int:
    return sum(1 for link in links if link.figures()["connected"])


def test_downlinks_go_out_through_both_brokers(tmp_path: Path) -> None:
    binary = mosquitto_binary()
    assert binary is not None
    world = World()
    frame, _ = world.frame(7, EVENT_SOS)
    with (
        MosquittoBroker(tmp_path / "a", binary) as a,
        MosquittoBroker(tmp_path / "b", binary) as b,
        Recorder(a, [DOWN_PREFIX + "#"]) as rec_a,
        Recorder(b, [DOWN_PREFIX + "#"]) as rec_b,
    ):
        db = f"sqlite+aiosqlite:///{tmp_path / 'd.db'}"
        upgrade(db)
        asyncio.run(provision(db, world.roots))
        settings = DispatchSettings(
            mqtt_url=f"mqtt://{a.host}:{a.port}",
            mqtt_mirror_url=f"mqtt://{b.host}:{b.port}",
            mqtt_username=TEST_USERNAME,
            database_url=db,
        )

        async def scenario() -> None:
            async with running(settings, mqtt_links(settings)) as svc:
                d, app = svc.dispatcher, svc.app
                gw = await asyncio.to_thread(Gateway, [a, b])
                gw.publish(envelope(frame, GATEWAY, rx_ms=time.time_ns() // 1_000_000))
                ok = await asyncio.to_thread(
                    lambda: (
                        rec_a.wait_for(lambda r: len(r.payloads(DOWN_PREFIX)) >= 1, 10)
                        and rec_b.wait_for(lambda r: len(r.payloads(DOWN_PREFIX)) >= 1, 10)
                    )
                )
                assert ok
                await asyncio.to_thread(gw.close)
                assert d.state.counts  # the frame was handled
                mqtt_health = (await _healthz(app))["mqtt"]
                assert mqtt_health["brokers_connected"] == 2 and len(mqtt_health["brokers"]) == 2

        asyncio.run(scenario())
        [down_a] = rec_a.payloads(DOWN_PREFIX + GATEWAY)
        [down_b] = rec_b.payloads(DOWN_PREFIX + GATEWAY)
        assert down_a == down_b and json.loads(down_a)["id"].startswith("7-")


async def _healthz(app: object) -> dict[str, Any]:
    import httpx

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://dispatch") as http:  # type: ignore[arg-type]
        r = await http.get("/healthz")
        return dict(r.json())


@pytest.mark.parametrize(
    ("mirror", "error"),
    [
        ("mqtt://mirror.example:1883", None),
        (None, None),
        ("http://mirror.example", "must look like"),
        ("mqtts://mirror.example:8883", "same scheme"),
    ],
)
def test_the_mirror_broker_setting(mirror: str | None, error: str | None) -> None:
    if error is None:
        s = DispatchSettings(mqtt_url="mqtt://a.example:1883", mqtt_mirror_url=mirror)
        assert [b.mqtt_url for b in s.brokers()] == ["mqtt://a.example:1883", *([mirror] if mirror else [])]
        assert all(b.mqtt_mirror_url is None for b in s.brokers()[1:])
    else:
        with pytest.raises(ValueError, match=error):
            DispatchSettings(mqtt_url="mqtt://a.example:1883", mqtt_mirror_url=mirror)


def test_a_gateway_is_online_while_it_is_online_on_either_broker(tmp_path: Path) -> None:
    db = f"sqlite+aiosqlite:///{tmp_path / 'd.db'}"
    upgrade(db)

    async def scenario() -> None:
        d = Dispatcher(DispatchSettings(database_url=db))
        await d.start()
        try:
            online, offline = b'{"state": "online"}', b'{"state": "offline"}'
            await d.on_gateway_status(GATEWAY, online, "mqtt://a:1883")
            await d.on_gateway_status(GATEWAY, online, "mqtt://b:1883")
            # Its connection to B died and B published its will: still online through A.
            await d.on_gateway_status(GATEWAY, offline, "mqtt://b:1883")
            assert d.state.gateways[GATEWAY].online
            assert [n for n in await d.store.notices() if n["kind"] == "gateway_offline"] == []
            await d.on_gateway_status(GATEWAY, offline, "mqtt://a:1883")
            assert not d.state.gateways[GATEWAY].online
            assert [n["subject"] for n in await d.store.notices() if n["kind"] == "gateway_offline"] == [GATEWAY]
            await d.on_gateway_status(GATEWAY, online, "mqtt://b:1883")
            assert d.state.gateways[GATEWAY].online
        finally:
            await d.stop()

    asyncio.run(scenario())
