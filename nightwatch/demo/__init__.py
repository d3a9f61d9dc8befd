"""`make demo`: the whole chain on one machine, on embedded defaults.

An embedded broker (amqtt), the dispatch service on SQLite with its API and live stream, three real gateway
relays fed over the Semtech UDP protocol by packet-forwarder stand-ins, key rings around Leiden's centre and
responders on duty. Every ~20 s a ring presses SOS, asks for an escort, or presses SOS and cancels it; a responder
accepts, and the ring hears "help on the way" through the gateway that heard it best. Ctrl-C stops it cleanly.
"""

import asyncio
import contextlib
import json
import math
import random
import secrets
import signal
import socket
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from basestation.dispatch.geo import distance_m
from nightwatch.logs import configure as configure_logs
from protocol import ack, uplink
from protocol.constants import (
    ACK_STATE_NAMES,
    EVENT_CANCEL,
    EVENT_ESCORT,
    EVENT_NAMES,
    EVENT_SOS,
    FLAG_ACK_REQUESTED,
)
from protocol.errors import FrameError
from protocol.keys import DeviceKeys

CENTRE = (52.1601, 4.4970)
GATEWAYS = {
    "gw-centraal": ((52.1664, 4.4817), "b827ebfffe000001"),
    "gw-breestraat": ((52.1589, 4.4894), "b827ebfffe000002"),
    "gw-hooglandse": ((52.1592, 4.4940), "b827ebfffe000003"),
}
RESPONDERS = [
    ("anna", "Anna de Vries", "nl", ["patrol", "first_aid"], (52.1575, 4.4856)),
    ("ben", "Ben Okafor", "en", ["patrol"], (52.1630, 4.4905)),
    ("chloe", "Chloé Martin", "en", ["first_aid"], (52.1560, 4.4990)),
    ("daan", "Daan Bakker", "nl", ["patrol", "security"], (52.1655, 4.4850)),
]
RINGS = 24
LORA_RANGE_M = 2500.0


def _free(port: int, kind: int = socket.SOCK_STREAM) -> tuple[int, bool]:
    """The default port if it is free, else any free one; and whether the default was taken."""
    for candidate in (port, 0):
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            return int(s.getsockname()[1]), candidate == 0
    raise OSError("no free port")


@dataclass
class Ring:
    device_id: int
    root: bytes
    lat: float
    lon: float
    counter: int = 0
    waiting: dict[int, str] = field(default_factory=dict)  # counter -> event awaiting an ACK

    def __post_init__(self) -> None:
        self.keys = DeviceKeys(self.root)

    def frame(self, event: int, aux: int = 0) -> tuple[bytes, int]:
        self.counter += 1
        up = uplink.Uplink(self.counter, self.device_id, event, random.randint(40, 100), aux, 0, FLAG_ACK_REQUESTED)
        self.waiting[self.counter] = EVENT_NAMES[event]
        return uplink.encode(self.keys, up), self.counter


class Demo:
    def __init__(self, duration: float | None) -> None:
        self.duration = duration
        self.t0 = time.monotonic()
        self.workdir = Path(tempfile.mkdtemp(prefix="nightwatch-demo-"))
        self.rng = random.Random(2026)
        self.rings = [
            Ring(
                100 + i,
                secrets.token_bytes(16),
                CENTRE[0] + self.rng.uniform(-0.008, 0.008),
                CENTRE[1] + self.rng.uniform(-0.012, 0.012),
            )
            for i in range(RINGS)
        ]
        self.operator = secrets.token_urlsafe(18)
        self.provisioner = secrets.token_urlsafe(18)
        self.responder_tokens = {rid: secrets.token_urlsafe(18) for rid, *_ in RESPONDERS}
        self.forwarders: dict[str, Any] = {}
        self.stop = asyncio.Event()
        self.accepting: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def say(self, text: str) -> None:
        print(f"[{time.monotonic() - self.t0:6.1f} s] {text}", flush=True)

    async def run(self) -> None:
        from basestation.dispatch.api import create_app
        from basestation.dispatch.mqtt_link import MqttLink
        from basestation.dispatch.service import Dispatcher
        from basestation.dispatch.settings import DispatchSettings
        from nightwatch.demo.broker import EmbeddedBroker

        # The demo narrates on stdout; the services' own logs would drown it, so only errors reach stderr.
        configure_logs(level="ERROR", json_lines=False)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.stop.set)
        mqtt_port, mqtt_moved = _free(1883)
        http_port, http_moved = _free(8080)
        broker = EmbeddedBroker("127.0.0.1", mqtt_port)
        await broker.start()
        tokens = {self.operator: "operator", self.provisioner: "provisioning"}
        tokens |= {tok: f"responder:{rid}" for rid, tok in self.responder_tokens.items()}
        settings = DispatchSettings(
            mqtt_url=f"mqtt://127.0.0.1:{mqtt_port}",
            mqtt_protocol=4,
            database_url=f"sqlite+aiosqlite:///{self.workdir / 'dispatch.db'}",
            http_port=http_port,
            tokens=tokens,
            offer_timeout_s=15,
        )
        dispatcher = Dispatcher(settings)
        app = create_app(dispatcher, MqttLink(settings, dispatcher))
        import uvicorn

        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=http_port, log_level="warning"))
        serving = asyncio.create_task(server.serve())
        while not server.started:
            if serving.done():
                await serving
            await asyncio.sleep(0.02)
        base = f"http://127.0.0.1:{http_port}"
        self.say(f"broker   mqtt://127.0.0.1:{mqtt_port} (embedded amqtt){'  [1883 was taken]' if mqtt_moved else ''}")
        self.say(f"dispatch {base}/docs  (OpenAPI){'  [8080 was taken]' if http_moved else ''}")
        self.say(
            f"operator board (live stream): curl -N -H 'Authorization: Bearer {self.operator}' {base}/api/v1/stream"
        )
        self.say(
            f"responder anna's incidents:   curl -H 'Authorization: Bearer {self.responder_tokens['anna']}' "
            f"{base}/api/v1/incidents\n"
            f"operator view (browser):      {base}/ui/#token={self.operator}\n"
            f"responder view, Anna (phone): {base}/ui/#token={self.responder_tokens['anna']}"
        )
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            await self._provision(http)
            gateways = await self._gateways(mqtt_port)
            watcher = asyncio.create_task(self._watch(dispatcher, http))
            script = asyncio.create_task(self._script())
            try:
                if self.duration is None:
                    await self.stop.wait()
                else:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.stop.wait(), self.duration)
            finally:
                self.say("stopping")
                for task in (script, watcher):
                    task.cancel()
                self.stop.set()
                await asyncio.gather(*gateways, return_exceptions=True)
                server.should_exit = True
                await serving
                await broker.stop()
        self.say("stopped")

    async def _provision(self, http: httpx.AsyncClient) -> None:
        prov = {"Authorization": f"Bearer {self.provisioner}"}
        op = {"Authorization": f"Bearer {self.operator}"}
        for ring in self.rings:
            r = await http.post(
                "/api/v1/devices", json={"device_id": ring.device_id, "root_key": ring.root.hex()}, headers=prov
            )
            r.raise_for_status()
        for rid, name, lang, skills, (lat, lon) in RESPONDERS:
            (
                await http.put(
                    f"/api/v1/responders/{rid}", json={"name": name, "language": lang, "skills": skills}, headers=op
                )
            ).raise_for_status()
            me = {"Authorization": f"Bearer {self.responder_tokens[rid]}"}
            (
                await http.put("/api/v1/me/duty", json={"on_duty": True, "lat": lat, "lon": lon}, headers=me)
            ).raise_for_status()
        self.say(f"{len(self.rings)} key rings provisioned; {len(RESPONDERS)} responders on duty around the centre")

    async def _gateways(self, mqtt_port: int) -> list[asyncio.Task[None]]:
        from basestation.gateway.relay import run as run_gateway
        from basestation.gateway.settings import GatewaySettings
        from nightwatch.demo.forwarder import FakePacketForwarder

        tasks = []
        for gw_id, ((lat, lon), eui) in GATEWAYS.items():
            udp_port, _ = _free(0, socket.SOCK_DGRAM)
            settings = GatewaySettings(
                id=gw_id,
                mqtt=f"mqtt://127.0.0.1:{mqtt_port}",
                username=gw_id,
                semtech_udp=f"127.0.0.1:{udp_port}",
                position=f"{lat},{lon}",
                spool=self.workdir / f"{gw_id}.sqlite3",
            )
            ready = asyncio.Event()

            def started(_relay: object, event: asyncio.Event = ready) -> None:
                event.set()

            tasks.append(asyncio.create_task(run_gateway(settings, self.stop, ready=started)))
            await asyncio.wait_for(ready.wait(), 10)
            # amqtt mishandles clients that subscribe at the same instant; one at a time it is steady.
            await asyncio.sleep(0.3)
            self.forwarders[gw_id] = await FakePacketForwarder.connect("127.0.0.1", udp_port, eui, self._downlink)
        self.say(f"{len(GATEWAYS)} gateways relaying LoRa over the Semtech UDP protocol")
        return tasks

    def _send(self, ring: Ring, event: int, aux: int = 0) -> int:
        frame, counter = ring.frame(event, aux)
        heard = 0
        for gw_id, ((lat, lon), _) in GATEWAYS.items():
            d = distance_m(ring.lat, ring.lon, lat, lon)
            if d <= LORA_RANGE_M:
                rssi = -30 - 27 * math.log10(max(d, 1.0)) + self.rng.gauss(0, 4)
                self.forwarders[gw_id].uplink(frame, rssi)
                heard += 1
        return counter

    def _downlink(self, frame: bytes) -> None:
        for ring in self.rings:
            for counter, event in list(ring.waiting.items()):
                try:
                    got = ack.decode(ring.keys, frame, counter)
                except FrameError:
                    continue
                state = ACK_STATE_NAMES[got.state].replace("_", " ")
                self.say(f"key ring {ring.device_id} ({event}): vibrates and blinks '{state}'")
                if got.state != 1 or event not in ("sos", "escort"):
                    ring.waiting.pop(counter, None)
                return

    async def _script(self) -> None:
        await asyncio.sleep(2)
        cycle = 0
        while True:
            ring = self.rng.choice(self.rings)
            kind = cycle % 3
            if kind == 0:
                self.say(f"key ring {ring.device_id} held its button: SOS")
                self._send(ring, EVENT_SOS)
            elif kind == 1:
                self.say(f"key ring {ring.device_id} asks the night patrol to walk them home: ESCORT")
                self._send(ring, EVENT_ESCORT)
            else:
                self.say(f"key ring {ring.device_id}: SOS, then a cancel five seconds later")
                alarm = self._send(ring, EVENT_SOS)
                await asyncio.sleep(5)
                self._send(ring, EVENT_CANCEL, ring.counter + 1 - alarm)
            cycle += 1
            await asyncio.sleep(20)

    async def _watch(self, dispatcher: Any, http: httpx.AsyncClient) -> None:
        last: dict[str, str] = {}
        async for msg in dispatcher.bus.stream():
            doc = json.loads(msg)
            if doc["topic"] != "incident":
                continue
            inc = doc["data"]
            if last.get(inc["id"]) == inc["state"]:
                continue
            last[inc["id"]] = inc["state"]
            loc = inc["location"]
            where = f" near {loc['lat']:.4f},{loc['lon']:.4f} (+-{loc['radius_m']:.0f} m)" if loc else ""
            self.say(f"incident {inc['id']} {inc['kind']}: {inc['state']}{where} offered to {inc['offered_to']}")
            if inc["state"] == "offered" and inc["id"] not in self.accepting:
                self.accepting.add(inc["id"])
                task = asyncio.create_task(self._accept_later(http, inc["id"], inc["offered_to"][0]))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _accept_later(self, http: httpx.AsyncClient, incident_id: str, rid: str) -> None:
        await asyncio.sleep(3)
        me = {"Authorization": f"Bearer {self.responder_tokens[rid]}"}
        r = await http.post(f"/api/v1/incidents/{incident_id}/accept", json={"eta_min": 4}, headers=me)
        if r.status_code == 200:
            self.say(f"responder {rid} accepted incident {incident_id} on their phone")


def run(duration: float | None = None) -> None:
    asyncio.run(Demo(duration).run())
