"""One key ring, or a stolen key, sends 1,000 valid SOS frames a second while other people press SOS: every
other alarm gets its incident, its push and its "received" ACK, and the flood folds into one incident, every
frame of it kept. Real Mosquitto, the real MQTT link and writer, SQLite. A correctness test: how fast is for
bench/flood_bench.py (`python -m bench flood`).

`make soak` floods for 30 s instead of 3 (NIGHTWATCH_TEST_FLOOD_S)."""

import asyncio
import json
import os
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from basestation.dispatch.core.assignment import Responder
from basestation.dispatch.core.outcomes import Outcome
from basestation.dispatch.io.migrate import upgrade
from basestation.dispatch.io.mqtt_link import MqttLink
from basestation.dispatch.service import Dispatcher
from basestation.dispatch.settings import DispatchSettings
from harness.broker_base import TEST_USERNAME
from harness.brokers import start_broker
from harness.mosquitto import mosquitto_binary
from harness.recorder import Recorder
from protocol import ack, uplink
from protocol.constants import ACK_RECEIVED, EVENT_SOS, FLAG_ACK_REQUESTED
from protocol.keys import DeviceKeys
from tests.dispatch.world import GATEWAYS, RESPONDERS, provision

FLOOD_S = float(os.environ.get("NIGHTWATCH_TEST_FLOOD_S", "3"))
RATE = 1000  # frames a second from the one ring
FLOODER = 1
OTHERS = range(100, 130)  # thirty other people pressing SOS during the flood
GW_FLOOD, GW_OTHER = "gw-breestraat", "gw-centraal"


def _envelope(gateway: str, frame: bytes) -> bytes:
    doc = {"v": 1, "gateway_id": gateway, "rx_time_ms": int(time.time() * 1000), "radio": "lora"}
    return json.dumps({**doc, "frame": frame.hex(), "rssi": -95.0}).encode()


def _schedule(roots: dict[int, bytes]) -> list[tuple[float, str, bytes]]:
    """(seconds from start, topic, payload): the flood at RATE, the others spread evenly through it, each heard
    by two gateways (the flooding ring's gateway among them)."""
    flood_keys = DeviceKeys(roots[FLOODER])
    n = int(FLOOD_S * RATE)
    plan = []
    for i in range(n):
        frame = uplink.encode(flood_keys, uplink.Uplink(i + 1, FLOODER, EVENT_SOS, 80, flags=FLAG_ACK_REQUESTED))
        plan.append((i / RATE, f"nightwatch/v1/up/{GW_FLOOD}", _envelope(GW_FLOOD, frame)))
    for j, device in enumerate(OTHERS):
        at = (j + 0.5) * FLOOD_S / len(OTHERS)
        frame = uplink.encode(
            DeviceKeys(roots[device]), uplink.Uplink(1, device, EVENT_SOS, 80, flags=FLAG_ACK_REQUESTED)
        )
        for gw in (GW_OTHER, GW_FLOOD):
            plan.append((at, f"nightwatch/v1/up/{gw}", _envelope(gw, frame)))
    return sorted(plan, key=lambda p: p[0])


def _publish(host: str, port: int, plan: list[tuple[float, str, bytes]]) -> float:
    """Open loop, as a radio would: a late send does not delay the next. Returns the achieved frames a second."""
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="flood-gateways", protocol=mqtt.MQTTv311)
    c.username_pw_set(TEST_USERNAME)
    c.max_inflight_messages_set(5000)
    c.max_queued_messages_set(0)
    c.connect(host, port)
    c.loop_start()
    pause = threading.Event()
    t0 = time.monotonic()
    infos = []
    for at, topic, payload in plan:
        delay = t0 + at - time.monotonic()
        if delay > 0:
            pause.wait(delay)  # pacing to a schedule: there is no event to wait for
        infos.append(c.publish(topic, payload, qos=1))
    elapsed = time.monotonic() - t0
    for info in infos:
        info.wait_for_publish(60)
    c.loop_stop()
    c.disconnect()
    return len(plan) / elapsed


@pytest.mark.skipif(mosquitto_binary() is None, reason="needs an MQTT 5 broker (Mosquitto)")
def test_a_flooding_ring_delays_no_one_else_out_of_their_incident(tmp_path: Path) -> None:
    db = f"sqlite+aiosqlite:///{tmp_path / 'd.db'}"
    upgrade(db)
    roots = {d: os.urandom(16) for d in (FLOODER, *OTHERS)}
    asyncio.run(provision(db, roots))
    plan = _schedule(roots)
    with start_broker(tmp_path / "broker") as broker, Recorder(broker, ["nightwatch/v1/down/#"]) as downs:
        settings = DispatchSettings(
            mqtt_url=f"mqtt://{broker.host}:{broker.port}", mqtt_username=TEST_USERNAME, database_url=db
        )

        async def scenario() -> tuple[Dispatcher, list[dict[str, object]], float]:
            d = Dispatcher(settings)
            await d.start()
            for gw, (lat, lon) in GATEWAYS.items():
                status = json.dumps({"state": "online", "position": {"lat": lat, "lon": lon}}).encode()
                await d.on_gateway_status(gw, status)
            for rid, (lat, lon) in RESPONDERS.items():
                d.state.responders[rid] = Responder(rid, rid, "nl", ["patrol"], True, lat, lon)
            link = MqttLink(settings, d)
            d.publishers.append(link.publish)
            await link.start()
            stream = d.bus.stream()
            pushed: list[dict[str, object]] = []

            async def follow() -> None:
                async for msg in stream:
                    if msg.topic == "incident":
                        pushed.append(msg.data)

            follower = asyncio.create_task(follow())
            try:
                rate = await asyncio.to_thread(_publish, broker.host, broker.port, plan)
                deadline = time.monotonic() + 60
                while sum(d.state.counts.values()) < len(plan) or d.writer.depth:
                    assert time.monotonic() < deadline, f"handled {sum(d.state.counts.values())} of {len(plan)}"
                    await asyncio.sleep(0.05)
                await asyncio.sleep(0.2)  # the last commit's downlinks go out after it
            finally:
                follower.cancel()
                await link.stop()
                await d.stop()
            return d, pushed, rate

        d, pushed, rate = asyncio.run(scenario())
        assert downs.wait_for(lambda r: len(_acked(r, roots)) >= len(OTHERS), 10)
        acked = _acked(downs, roots)

    counts = d.state.counts
    flood_n = int(FLOOD_S * RATE)
    assert rate > 0.5 * RATE, f"the flood ran at {rate:.0f} frames/s, not near {RATE}: the test did not test"
    # Nobody else was shed: each has an incident, pushed to the stream, and a "received" ACK on the air.
    for device in OTHERS:
        inc = d.state.incidents.get(f"{device}-1")
        assert inc is not None and inc.active, device
        assert device in acked, device
    assert {p["id"] for p in pushed} >= {f"{device}-1" for device in OTHERS}
    # The flood folded into one incident; every frame of it was handled and none was an error.
    assert [i.id for i in d.state.incidents.values() if i.device_id == FLOODER] == [f"{FLOODER}-1"]
    assert counts[Outcome.ACCEPTED] + counts[Outcome.RATE_LIMITED] == flood_n + len(OTHERS)
    assert counts[Outcome.DUPLICATE] == len(OTHERS)  # the second gateway's copy of each other alarm
    assert counts[Outcome.RATE_LIMITED] >= flood_n * 0.9


def _acked(rec: Recorder, roots: dict[int, bytes]) -> set[int]:
    """The other rings that were sent an authenticated "received" for their alarm."""
    got = set()
    for _, payload, _ in list(rec.messages):
        frame = bytes.fromhex(json.loads(payload)["frame"])
        for device in OTHERS:
            try:
                if ack.decode(DeviceKeys(roots[device]), frame, 1).state == ACK_RECEIVED:
                    got.add(device)
            except ValueError:
                continue
    return got
