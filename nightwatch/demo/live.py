"""`make demo`: the whole chain on one machine, built on the simulator's real-time mode (simulator/realtime/).

An embedded broker (amqtt, in process), the dispatch service on SQLite with its API and live stream, the gateways
of the demo's Leiden scenario (simulator/scenarios/demo-leiden.toml) running the real relay code, fed over the
Semtech UDP protocol by FakePacketForwarders and over BLE by the fake bleak adapter, and a few dozen key rings
running the real firmware logic on the radio model. Every ~20 s a ring's wearer presses SOS, asks for an escort,
or presses SOS and cancels it; a simulated responder accepts on the live stream, and the ring hears "help on the
way" through the gateway that heard it best. Ctrl-C stops it cleanly.
"""

import asyncio
import contextlib
import random
import signal
import tempfile
import time
from pathlib import Path

import httpx

from nightwatch.logs import configure as configure_logs
from simulator.realtime.city import LiveCity
from simulator.realtime.clock import WallClock
from simulator.realtime.gateways import SimGateways
from simulator.realtime.responders import Responders
from simulator.realtime.services import Rules, Tokens, free_port, services
from simulator.scenario import load
from simulator.world import H_MS, build

SCENARIO = "demo-leiden"
NAMES = {
    "anna": ("Anna de Vries", "nl"),
    "ben": ("Ben Okafor", "en"),
    "chloe": ("Chloé Martin", "en"),
    "daan": ("Daan Bakker", "nl"),
}
EVERY_S = 20.0
FIRST_S = 2.0
ACCEPT_S = 3.0
ON_SCENE_S = 15.0
CANCEL_AFTER_S = 5.0


class Demo:
    def __init__(self, duration: float | None) -> None:
        self.duration = duration
        self.t0 = time.monotonic()
        self.stop = asyncio.Event()
        self.rng = random.Random(2026)

    def say(self, text: str) -> None:
        print(f"[{time.monotonic() - self.t0:6.1f} s] {text}", flush=True)

    async def run(self) -> None:
        # The demo narrates on stdout; the services' own logs would drown it, so only errors reach stderr.
        configure_logs(level="ERROR", json_lines=False)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.stop.set)
        world = build(load(SCENARIO))
        # The operator's token is the only one in the settings; the responders are added at run time, as a city
        # adds its volunteers (docs/accounts.md), and each gets a sign-in link.
        tokens = Tokens()
        mqtt_port, mqtt_moved = free_port(1883)
        http_port, http_moved = free_port(8080)
        with tempfile.TemporaryDirectory(prefix="nightwatch-demo-") as tmp:
            work = Path(tmp)
            rules = Rules(walk_hours="")  # the demo runs by day too: its walk-me-home page is open at any hour
            async with services(work, tokens, "amqtt", "in-process", mqtt_port, http_port, rules=rules) as ep:
                self._urls(ep.http_base, tokens, mqtt_port, mqtt_moved, http_moved)
                async with httpx.AsyncClient(base_url=ep.http_base, timeout=10) as http:
                    await self._chain(world, tokens, work, http, mqtt_port)
        self.say("stopped")

    def _urls(self, base: str, tokens: Tokens, mqtt_port: int, mqtt_moved: bool, http_moved: bool) -> None:
        self.say(f"broker   mqtt://127.0.0.1:{mqtt_port} (embedded amqtt){'  [1883 was taken]' if mqtt_moved else ''}")
        self.say(f"dispatch {base}/docs  (OpenAPI){'  [8080 was taken]' if http_moved else ''}")
        self.say(
            f"operator board (live stream): curl -N -H 'Authorization: Bearer {tokens.operator}' {base}/api/v1/stream"
        )
        self.say(
            f"operator view (browser):      {base}/ui/#token={tokens.operator}\n"
            f"walk me home (no key ring):   {base}/walk"
        )

    async def _chain(self, world: object, tokens: Tokens, work: Path, http: httpx.AsyncClient, mqtt_port: int) -> None:
        from simulator.world import World

        assert isinstance(world, World)
        clock = WallClock()
        resp = Responders(clock, http, tokens)
        rings = list(range(world.scenario.rings.count))
        await resp.provision([(i + 1, world.root_key(i)) for i in rings])
        people = [
            (r.id, *NAMES.get(r.id, (r.id, "nl")), list(r.skills), r.lat, r.lon) for r in world.scenario.responders
        ]
        links = await resp.enlist(people)
        # Every responder's own link, to follow one of them on a phone or in a second window.
        for rid, link in sorted(links.items()):
            self.say(f"responder view, {NAMES.get(rid, (rid,))[0]:<14} {link}")
        anna = tokens.responders.get("anna")
        if anna is not None:
            base = str(http.base_url).rstrip("/")
            self.say(f"responder anna's incidents:   curl -H 'Authorization: Bearer {anna}' {base}/api/v1/incidents")
        self.say(f"the simulated responders accept each alarm offered to them after {ACCEPT_S:.0f} s")
        await resp.staff(people)
        self.say(f"{len(rings)} key rings provisioned; {len(people)} responders on duty around the centre")
        gateways = SimGateways(world, work, lambda g, f: None)
        async with gateways.running(mqtt_port, one_at_a_time=True):
            lora, ble = len(gateways.forwarders), len(gateways.adapters)
            # A gateway may have both radios: its count is the gateways', and each radio's is "with" it.
            self.say(
                f"{len(world.gateways.ids)} gateways running the real relay code: {lora} of them with LoRa (over "
                f"the Semtech UDP protocol), {ble} with a BLE scanner"
            )
            city = LiveCity(world, clock, gateways, resp, ACCEPT_S, ON_SCENE_S, say=self.say)
            await resp.listen(["operator", *(p[0] for p in people)])
            for i in rings:
                city.add_ring(i, 0.5 * H_MS)  # half an hour in: everyone is out in the centre
                city.rings.boot(i)
            script = asyncio.create_task(self._script(city, rings))
            try:
                if self.duration is None:
                    await self.stop.wait()
                else:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.stop.wait(), self.duration)
            finally:
                self.say("stopping")
                script.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await script
                await city.close()
                await resp.close()

    async def _script(self, city: LiveCity, rings: list[int]) -> None:
        await asyncio.sleep(FIRST_S)
        cycle = 0
        while True:
            ring = self.rng.choice(rings)
            device = ring + 1
            kind = cycle % 3
            if kind == 0:
                self.say(f"key ring {device} held its button: SOS")
                city.press(ring, "sos")
            elif kind == 1:
                self.say(f"key ring {device} asks the night patrol to walk them home: ESCORT")
                city.press(ring, "escort")
            else:
                self.say(f"key ring {device}: SOS, then a cancel {CANCEL_AFTER_S:.0f} seconds later")
                city.press(ring, "sos", false_alarm=True)
                await asyncio.sleep(CANCEL_AFTER_S)
                city.press(ring, "cancel")
            cycle += 1
            await asyncio.sleep(EVERY_S)


def run(duration: float | None = None) -> None:
    asyncio.run(Demo(duration).run())
