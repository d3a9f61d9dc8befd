"""What the browser tests run the real dispatch service with (harness.dispatch.LiveService): its tokens and
settings, gateways and key rings that publish as the real ones do, and the service with its rings, its responders
and the city's gateways online."""

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from basestation.dispatch.settings import DispatchSettings
from harness.broker_base import TEST_USERNAME, Broker
from harness.dispatch import LiveService
from harness.ports import free_port
from protocol import uplink
from protocol.constants import FLAG_ACK_REQUESTED
from protocol.keys import DeviceKeys
from tests.dispatch.conftest import wait_for
from tests.dispatch.world import envelope, topic

OPERATOR = "operator-token-web-0123456789"
ANNA = "anna-token-web-0123456789"
BEN = "ben-token-web-0123456789"
CHLOE = "chloe-token-web-0123456789"
PROVISION = "provision-token-web-0123456789"

# Leiden: gateways at the Breestraat and by the station; gw-morspoort goes offline for the operator's map.
GATEWAYS = {
    "gw-breestraat": (52.1589, 4.4894),
    "gw-centraal": (52.1664, 4.4817),
    "gw-hooglandse": (52.1592, 4.4940),
    "gw-morspoort": (52.1612, 4.4785),
}


def web_service(broker: Broker, workdir: Path) -> LiveService:
    """The service the browser tests drive: these tokens, a quick tick, and the walk-me-home page always open."""
    port = free_port()
    settings = DispatchSettings(
        mqtt_url=f"mqtt://{broker.host}:{broker.port}",
        mqtt_username=TEST_USERNAME,
        mqtt_client_id=f"dispatch-web-{port}",
        database_url=f"sqlite+aiosqlite:///{workdir / 'dispatch.db'}",
        tokens={
            OPERATOR: "operator",
            ANNA: "responder:anna",
            BEN: "responder:ben",
            CHLOE: "responder:chloe",
            PROVISION: "provisioning",
        },
        tick_s=0.2,
        walk_hours="",  # the walk-me-home page open at any hour: tests close it through the operators' API
        patrol_phone="+31 71 555 0100",
    )
    return LiveService(settings, port)


class Gateways:
    """Gateways as MQTT clients: a retained status with a position, and uplink envelopes on nightwatch/v1/up/{gw}."""

    def __init__(self, broker: Broker) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="web-gateways", protocol=mqtt.MQTTv311)
        self.client.username_pw_set(TEST_USERNAME)
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()

    def status(self, gw: str, online: bool) -> None:
        lat, lon = GATEWAYS[gw]
        doc = {"gateway_id": gw, "state": "online" if online else "offline", "position": {"lat": lat, "lon": lon}}
        self.client.publish(f"nightwatch/v1/gw/{gw}/status", json.dumps(doc), qos=1, retain=True).wait_for_publish(5)

    def uplink(self, gw: str, frame: bytes, rssi: float = -85.0) -> None:
        doc = envelope(frame, gw, int(time.time() * 1000), rssi=rssi)
        self.client.publish(topic(gw), doc, qos=1).wait_for_publish(5)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def gateways_online(broker: Broker, svc: LiveService) -> Gateways:
    """The city's gateways, each online, once the service has heard all of them."""
    gateways = Gateways(broker)
    for gw in GATEWAYS:
        gateways.status(gw, online=True)
    wait_for(lambda: svc.dispatcher is not None and len(svc.dispatcher.state.gateways) == len(GATEWAYS))
    return gateways


class Ring:
    """A provisioned key ring that builds real frames (the same codec as the firmware)."""

    def __init__(self, device_id: int, root: bytes) -> None:
        self.device_id = device_id
        self.keys = DeviceKeys(root)
        self.counter = 0

    def frame(self, event: int, aux: int = 0) -> tuple[bytes, int]:
        self.counter += 1
        up = uplink.Uplink(self.counter, self.device_id, event, 80, aux=aux, flags=FLAG_ACK_REQUESTED)
        return uplink.encode(self.keys, up), self.counter


def provisioned(prov: httpx.Client, *device_ids: int) -> dict[int, Ring]:
    """Rings with fresh root keys, each provisioned through the API by ``prov`` (a provisioning client)."""
    rings = {}
    for device_id in device_ids:
        root = os.urandom(16)
        r = prov.post("/api/v1/devices", json={"device_id": device_id, "root_key": root.hex()})
        assert r.status_code == 201, r.text
        rings[device_id] = Ring(device_id, root)
    return rings


@dataclass
class World:
    """The service, the city's gateways online, and the key rings provisioned on it, by device id."""

    svc: LiveService
    gateways: Gateways
    rings: dict[int, Ring]


@contextmanager
def city(
    broker: Broker, svc: LiveService, device_ids: tuple[int, ...], responders: dict[str, dict[str, Any]]
) -> Iterator[World]:
    """``svc`` with these key rings provisioned, these responders on its roster (each id with the document put for
    it) and the city's gateways online, until they close."""
    with svc.http(PROVISION) as prov, svc.http(OPERATOR) as op:
        rings = provisioned(prov, *device_ids)
        for rid, doc in responders.items():
            r = op.put(f"/api/v1/responders/{rid}", json=doc)
            assert r.status_code == 200, r.text
    gateways = gateways_online(broker, svc)
    try:
        yield World(svc, gateways, rings)
    finally:
        gateways.close()
