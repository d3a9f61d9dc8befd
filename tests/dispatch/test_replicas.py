"""Two dispatch replicas on one PostgreSQL and one MQTT v5 shared subscription (real Mosquitto, real PostgreSQL):
every alarm, heard by three gateways whose copies the broker splits between the replicas, makes exactly one
incident; every update reaches both replicas' live streams; a responder accepting through either replica sends
the key ring "help on the way"."""

import asyncio
import json
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from basestation.dispatch.core.outcomes import Outcome
from basestation.dispatch.io.migrate import upgrade
from basestation.dispatch.service import Dispatcher
from basestation.dispatch.settings import DispatchSettings
from harness.broker_base import TEST_USERNAME, Broker
from harness.brokers import start_broker
from harness.mosquitto import mosquitto_binary
from harness.recorder import Recorder
from protocol import ack, uplink
from protocol.constants import ACK_HELP_ON_THE_WAY, EVENT_SOS, FLAG_ACK_REQUESTED
from protocol.keys import DeviceKeys
from tests.databases import PrivatePostgres
from tests.dispatch.conftest import mqtt_links, running, until
from tests.dispatch.world import envelope, provision, topic

ALARMS = 60
GATEWAYS = {"gw-1": (52.1664, 4.4817), "gw-2": (52.1589, 4.4894), "gw-3": (52.1625, 4.4790)}
OPERATOR = "operator-token-0123456789"
ANNA = "responder-token-anna-0123"


def _replica(broker: Broker, db: str, client_id: str, **kw: Any) -> DispatchSettings:
    """A replica's settings: its own MQTT client, in the shared subscription group, on the one database."""
    return DispatchSettings(
        mqtt_url=f"mqtt://{broker.host}:{broker.port}",
        mqtt_username=TEST_USERNAME,
        mqtt_client_id=client_id,
        shared_group="dispatch",
        database_url=db,
        **kw,
    )


@pytest.mark.skipif(mosquitto_binary() is None, reason="needs an MQTT 5 broker (Mosquitto)")
def test_two_replicas_one_incident_per_alarm(tmp_path: Path, postgres: PrivatePostgres) -> None:
    db = postgres.create_database(f"r_{uuid.uuid4().hex[:10]}")
    upgrade(db)
    roots = {i: bytes([i]) * 16 for i in range(1, ALARMS + 1)}

    asyncio.run(provision(db, roots))

    with start_broker(tmp_path / "broker") as broker, Recorder(broker, ["nightwatch/v1/down/#"]) as downs:
        tokens = {OPERATOR: "operator", ANNA: "responder:anna"}

        async def scenario() -> None:
            sa, sb = (_replica(broker, db, f"dispatch-{n}", tokens=tokens) for n in "ab")
            async with running(sa, mqtt_links(sa)) as a, running(sb, mqtt_links(sb)) as b:
                await _run([(a.dispatcher, a.app), (b.dispatcher, b.app)], broker, roots, downs)

        asyncio.run(scenario())


async def _run(replicas: list[tuple[Dispatcher, Any]], broker: Any, roots: dict[int, bytes], downs: Recorder) -> None:
    (a, app_a), (b, app_b) = replicas
    assert a.cluster is not None and b.cluster is not None
    http_a = httpx.AsyncClient(transport=httpx.ASGITransport(app_a), base_url="http://a")
    http_b = httpx.AsyncClient(transport=httpx.ASGITransport(app_b), base_url="http://b")
    op, anna = {"Authorization": f"Bearer {OPERATOR}"}, {"Authorization": f"Bearer {ANNA}"}
    streams = {name: d.bus.stream() for name, d in (("a", a), ("b", b))}
    seen: dict[str, set[str]] = {"a": set(), "b": set()}

    async def follow(name: str) -> None:
        async for msg in streams[name]:
            if msg.topic == "incident":
                seen[name].add(msg.data["id"])

    followers = [asyncio.create_task(follow(n)) for n in seen]

    # A responder registered through replica a is known to replica b.
    assert (await http_a.put("/api/v1/responders/anna", json={"name": "Anna"}, headers=op)).status_code == 200
    r = await http_b.put("/api/v1/me/duty", json={"on_duty": True, "lat": 52.16, "lon": 4.485}, headers=anna)
    assert r.status_code == 200
    await until(lambda: a.state.responders["anna"].on_duty, 15)

    gw = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="gateways", protocol=mqtt.MQTTv311)
    gw.username_pw_set(TEST_USERNAME)
    gw.connect(broker.host, broker.port)
    gw.loop_start()
    for g, (lat, lon) in GATEWAYS.items():
        status = {"gateway_id": g, "state": "online", "position": {"lat": lat, "lon": lon}}
        gw.publish(f"nightwatch/v1/gw/{g}/status", json.dumps(status), qos=1, retain=True)
    await until(lambda: all(len(d.state.gateways) == 3 for d in (a, b)), 15)

    msgs: list[mqtt.MQTTMessageInfo] = []
    for device, root in roots.items():
        frame = uplink.encode(DeviceKeys(root), uplink.Uplink(1, device, EVENT_SOS, 50, flags=FLAG_ACK_REQUESTED))
        for g in GATEWAYS:
            env = envelope(frame, g, int(time.time() * 1000), rssi=-80 - len(msgs) % 20)
            msgs.append(gw.publish(topic(g), env, qos=1))
    for m in msgs:
        m.wait_for_publish(10)

    def handled(d: Dispatcher) -> int:
        return sum(d.state.counts.values())

    await until(lambda: handled(a) + handled(b) >= 3 * ALARMS, 30)
    assert handled(a) > 0 and handled(b) > 0, "the shared subscription should split the uplinks"
    accepted = a.state.counts[Outcome.ACCEPTED] + b.state.counts[Outcome.ACCEPTED]
    duplicates = a.state.counts[Outcome.DUPLICATE] + b.state.counts[Outcome.DUPLICATE]
    assert (accepted, duplicates) == (ALARMS, 2 * ALARMS), (dict(a.state.counts), dict(b.state.counts))

    docs = await a.store.incidents(limit=1000)
    assert sorted(d["device_id"] for d in docs) == list(range(1, ALARMS + 1))  # one incident each
    await until(lambda: len(seen["a"]) == ALARMS and len(seen["b"]) == ALARMS, 15)

    # Accept through replica b an incident that replica a opened (or the other way round).
    target = next(d for d in docs if d["offered_to"])
    other = b if target["id"] in a.state.incidents and a.state.counts[Outcome.ACCEPTED] else a
    http = http_b if other is b else http_a
    r = await http.post(f"/api/v1/incidents/{target['id']}/accept", json={"eta_min": 2}, headers=anna)
    assert r.status_code == 200, r.text
    await until(lambda: all(d.state.incidents[target["id"]].state.value == "accepted" for d in (a, b)), 15)
    keys = DeviceKeys(roots[target["device_id"]])

    def helped() -> bool:
        for _topic, payload, _retained in downs.messages:
            frame = bytes.fromhex(json.loads(payload)["frame"])
            try:
                if ack.decode(keys, frame, 1).state == ACK_HELP_ON_THE_WAY:
                    return True
            except ValueError:
                continue
        return False

    await until(helped, 15)
    for f in followers:
        f.cancel()
    gw.loop_stop()
    gw.disconnect()
    await http_a.aclose()
    await http_b.aclose()


@pytest.mark.skipif(mosquitto_binary() is None, reason="needs an MQTT 5 broker (Mosquitto)")
def test_postgresql_restarted_under_two_replicas(tmp_path: Path, postgres: PrivatePostgres) -> None:
    """Crash PostgreSQL between two waves of alarms: the replicas wait it out, and each alarm still makes exactly
    one incident, which both replicas know."""
    db = postgres.create_database(f"r_{uuid.uuid4().hex[:10]}")
    upgrade(db)
    wave = 20
    roots = {i: bytes([100 + i]) * 16 for i in range(1, 2 * wave + 1)}

    asyncio.run(provision(db, roots))
    with start_broker(tmp_path / "broker") as broker:
        gw = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="gateways", protocol=mqtt.MQTTv311)
        gw.username_pw_set(TEST_USERNAME)
        gw.connect(broker.host, broker.port)
        gw.loop_start()

        def publish(devices: range) -> None:
            for device in devices:
                up = uplink.Uplink(1, device, EVENT_SOS, 50, flags=FLAG_ACK_REQUESTED)
                frame = uplink.encode(DeviceKeys(roots[device]), up)
                for g in ("gw-1", "gw-2"):
                    env = envelope(frame, g, int(time.time() * 1000), radio="ble", rssi=None)
                    gw.publish(topic(g), env, qos=1).wait_for_publish(10)

        async def scenario() -> None:
            sa, sb = (_replica(broker, db, f"dispatch-pg-{n}") for n in "ab")
            async with running(sa, mqtt_links(sa)) as ra, running(sb, mqtt_links(sb)) as rb:
                a, b = ra.dispatcher, rb.dispatcher
                await asyncio.to_thread(publish, range(1, wave + 1))
                await until(lambda: len(a.state.incidents) >= wave and len(b.state.incidents) >= wave, 15)
                await asyncio.to_thread(postgres.restart)
                await asyncio.to_thread(publish, range(wave + 1, 2 * wave + 1))
                await until(lambda: all(len(d.state.incidents) >= 2 * wave for d in (a, b)), 60)
                docs = await a.store.incidents(limit=1000)
                assert sorted(doc["device_id"] for doc in docs) == list(range(1, 2 * wave + 1))

        asyncio.run(scenario())
        gw.loop_stop()
        gw.disconnect()
