"""The dispatch service end to end on a real broker and a real SQLite file: a gateway publishes, a responder
accepts, the key ring gets "help on the way" through the gateway that heard it."""

import asyncio
import json
import os
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from basestation.dispatch.settings import DispatchSettings
from harness.broker_base import TEST_USERNAME
from harness.brokers import start_broker
from harness.mosquitto import MosquittoBroker, mosquitto_binary
from harness.recorder import Recorder
from protocol import ack, uplink
from protocol.constants import ACK_HELP_ON_THE_WAY, ACK_RECEIVED, EVENT_SOS, FLAG_ACK_REQUESTED
from protocol.keys import DeviceKeys
from tests.dispatch.conftest import mqtt_links, running, until
from tests.dispatch.world import envelope

OPERATOR = "operator-token-0123456789"
RESPONDER = "responder-token-0123456789"
PROVISION = "provision-token-0123456789"


def _gateway(broker: MosquittoBroker, gw: str, lat: float, lon: float) -> mqtt.Client:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=gw, protocol=mqtt.MQTTv311)
    c.username_pw_set(TEST_USERNAME)
    c.connect(broker.host, broker.port)
    c.loop_start()
    status = {"gateway_id": gw, "state": "online", "position": {"lat": lat, "lon": lon}}
    c.publish(f"nightwatch/v1/gw/{gw}/status", json.dumps(status), qos=1, retain=True).wait_for_publish(5)
    return c


@pytest.mark.skipif(mosquitto_binary() is None, reason="needs an MQTT 5 broker (Mosquitto)")
def test_sos_to_accept_to_help_on_the_way(tmp_path: Path) -> None:
    with start_broker(tmp_path / "broker") as broker, Recorder(broker, ["nightwatch/v1/down/#"]) as downs:
        settings = DispatchSettings(
            mqtt_url=f"mqtt://{broker.host}:{broker.port}",
            mqtt_username=TEST_USERNAME,
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'd.db'}",
            tokens={OPERATOR: "operator", RESPONDER: "responder:anna", PROVISION: "provisioning"},
        )
        root = os.urandom(16)
        keys = DeviceKeys(root)

        async def scenario() -> None:
            async with running(settings, mqtt_links(settings)) as svc:
                d, http = svc.dispatcher, svc.http
                hdr = {"Authorization": f"Bearer {OPERATOR}"}
                r = await http.post(
                    "/api/v1/devices",
                    json={"device_id": 42, "root_key": root.hex()},
                    headers={"Authorization": f"Bearer {PROVISION}"},
                )
                assert r.status_code == 201, r.text
                r = await http.put("/api/v1/responders/anna", json={"name": "Anna", "skills": ["patrol"]}, headers=hdr)
                assert r.status_code == 200
                me = {"Authorization": f"Bearer {RESPONDER}"}
                r = await http.put("/api/v1/me/duty", json={"on_duty": True, "lat": 52.158, "lon": 4.486}, headers=me)
                assert r.status_code == 200

                gw_a = _gateway(broker, "gw-a", 52.1589, 4.4894)  # type: ignore[arg-type]
                gw_b = _gateway(broker, "gw-b", 52.1664, 4.4817)  # type: ignore[arg-type]
                await until(lambda: len(d.state.gateways) == 2 and all(g.lat for g in d.state.gateways.values()))

                stream = d.bus.stream()
                frame = uplink.encode(keys, uplink.Uplink(1, 42, EVENT_SOS, 70, flags=FLAG_ACK_REQUESTED))
                gw_a.publish(
                    "nightwatch/v1/up/gw-a", envelope(frame, "gw-a", int(time.time() * 1000), rssi=-100), qos=1
                )
                first = await asyncio.wait_for(anext(stream), 5)
                assert first.topic == "incident" and first.data["state"] == "offered"
                assert first.data["offered_to"] == ["anna"]
                gw_b.publish("nightwatch/v1/up/gw-b", envelope(frame, "gw-b", int(time.time() * 1000), rssi=-80), qos=1)
                refined = await asyncio.wait_for(anext(stream), 5)
                assert refined.data["location"] != first.data["location"]

                incident_id = first.data["id"]
                r = await http.get("/api/v1/incidents", headers=me)
                assert [i["id"] for i in r.json()] == [incident_id]
                assert "device_id" not in r.json()[0]  # a responder sees no device identity
                r = await http.post(f"/api/v1/incidents/{incident_id}/accept", json={"eta_min": 3}, headers=me)
                assert r.status_code == 200 and r.json()["you_accepted"]

                await until(lambda: len(downs.payloads("nightwatch/v1/down/")) >= 2)
                states = []
                for topic, payload, _ in downs.messages:
                    doc = json.loads(payload)
                    states.append((topic, ack.decode(keys, bytes.fromhex(doc["frame"]), 1).state))
                assert states[0] == ("nightwatch/v1/down/gw-a", ACK_RECEIVED)
                assert states[-1] == ("nightwatch/v1/down/gw-b", ACK_HELP_ON_THE_WAY)  # the stronger gateway

                r = await http.get(f"/api/v1/incidents/{incident_id}", headers=hdr)
                kinds = [e["kind"] for e in r.json()["events"]]
                assert kinds[:2] == ["opened", "located"] and "accepted" in kinds
                assert (await http.get("/api/v1/incidents", headers={})).status_code == 401
                assert (await http.get("/api/v1/notices", headers=me)).status_code == 403
                metrics = (await http.get("/metrics")).text
                assert 'nightwatch_uplinks_total{outcome="accepted"} 1.0\n' in metrics
                assert 'nightwatch_uplinks_total{outcome="duplicate"} 1.0\n' in metrics
                await http.aclose()
                for c in (gw_a, gw_b):
                    c.loop_stop()
                    c.disconnect()

        asyncio.run(scenario())
