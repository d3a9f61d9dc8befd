"""The virtual-time engine: one heap of events, the real firmware of the rings that matter, the radio model,
the gateways' real dedupe and envelope code, and the dispatch service's real pipeline.

Two paths (docs/simulator.md, "Two paths"):

- exact: every ring with an alarm (or every ring, with ``exact = "all"``) runs firmware.keyring.Keyring on the
  fakes of firmware/fakes.py; its frames go through the radio model to gateways, through
  basestation.gateway.core (Deduper, envelope) and the hop latencies to basestation.dispatch's UplinkPipeline,
  whose ACK downlinks go back over the air to the ring's fake SX1262;
- bulk: the heartbeats of the idle rings, one vectorised batch per hour (simulator.bulk), colliding with the
  exact path's frames.

This module owns the heap, the clock and what the parts share; each family of events is handled in its own
module: exact_rings (boot, wake, button, gesture, what a ring records), ble_air and lora_air (who hears a
frame), backend (gateways, broker, dispatch, responders), downlinks (ACKs back to the rings), attacker (replays).

Time is float ms from the scenario start; a ring's FakeClock counts the same ms, so firmware records need no
conversion. Nothing sleeps; the loop ends at the scenario's end or when the heap is empty.
"""

import heapq
import itertools
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from simulator.attacker import Attacker
from simulator.backend import Backend
from simulator.ble_air import BleAir
from simulator.bulk import BulkHeartbeats
from simulator.dispatch_model import DispatchModel
from simulator.downlinks import Downlinks
from simulator.engine_api import Counters, Progress
from simulator.exact_rings import ExactRings
from simulator.hops import HopSampler
from simulator.links import LoraLink
from simulator.lora_air import LoraAir
from simulator.space import GridIndex
from simulator.world import H_MS, World


class Engine:
    def __init__(self, world: World, progress: Progress | None = None) -> None:
        self.world = world
        sc = self.sc = world.scenario
        # One generator per concern, drawn in event order: the same seed gives the same run.
        self.rng = np.random.default_rng(sc.seed + 1)
        self.hops = HopSampler(sc.hops, np.random.default_rng(sc.seed + 2))
        self.link = LoraLink(sc.radio)
        gws = world.gateways
        # Cells as wide as the farthest a lucky fade reaches at the scenario's most sensitive SF.
        self.index = GridIndex(gws.x, gws.y, max(self.link.reach_m(sf=s) for s in sc.rings.sf))
        self.end_ms = sc.duration_h * H_MS
        self.progress = progress
        self.counters = Counters()

        self._heap: list[tuple[float, int, str, tuple[Any, ...]]] = []
        self._seq = itertools.count()
        self.now = 0.0

        exact = np.array(world.exact, dtype=np.int64)
        idle = np.setdiff1d(np.arange(sc.rings.count, dtype=np.int64), exact)
        self.bulk = BulkHeartbeats(world, self.link, self.index, idle, sc.seed)
        self.bulk_s = 0.0

        self.dispatch = DispatchModel(sc.timezone)
        for i, gid in enumerate(gws.ids):
            lat, lon = world.proj.to_latlon(gws.x[i], gws.y[i])
            self.dispatch.add_gateway(gid, float(lat), float(lon))
        for r in sc.responders:
            self.dispatch.add_responder(r)

        self.downlinks = Downlinks(self)
        self.lora = LoraAir(self)
        self.ble = BleAir(self)
        self.attacker = Attacker(self)
        self.backend = Backend(self)
        self.exact = ExactRings(self)
        # What the report and the checks read, by the names they have always had.
        self.rings = self.exact.rings
        self.traces = self.exact.traces
        self.ring_frames = self.exact.ring_frames
        self.recorded = self.attacker.recorded
        self.wall_s = 0.0

        self._plan()

    def _plan(self) -> None:
        """Boot the exact rings and put the wearers' gestures and the hourly bulk steps on the heap."""
        self.exact.plan()
        for h in range(int(np.ceil(self.sc.duration_h))):
            self.push(min((h + 1) * H_MS - 1e-3, self.end_ms), "hour", (h,))

    # ---- the loop ---------------------------------------------------------------------------------------

    def push(self, t: float, kind: str, args: tuple[Any, ...]) -> None:
        heapq.heappush(self._heap, (t, next(self._seq), kind, args))

    def run(self) -> None:
        t0 = time.perf_counter()
        rings, backend = self.exact, self.backend
        handlers: dict[str, Callable[..., None]] = {
            "boot": rings.boot,
            "wake": rings.wake,
            "button": rings.button,
            "gesture": rings.gesture,
            "lora_end": self.lora.end,
            "gw_rx": backend.gw_rx,
            "dispatch": backend.dispatch,
            "downlink": self.downlinks.send,
            "downlink_end": self.downlinks.end,
            "respond": backend.respond,
            "on_the_way": backend.on_the_way,
            "resolve": backend.resolve,
            "tick": backend.tick,
            "hour": self._hour,
            "replay": self.attacker.replay,
            "sweep": backend.sweep,
        }
        while self._heap:
            t, _seq, kind, args = heapq.heappop(self._heap)
            if t > self.end_ms:
                break
            self.now = t
            self.counters.events += 1
            handlers[kind](*args)
            if self.progress is not None and not self.counters.events % 20_000:
                self.progress(self.now, self.live())
        self.wall_s = time.perf_counter() - t0
        if self.progress is not None:
            self.progress(self.now, self.live())

    def live(self) -> dict[str, Any]:
        c = self.counters
        b = self.bulk.totals
        return {
            "heartbeats": b.sent,
            "hb_delivered": b.delivered,
            "alarms": len(self.traces),
            "incidents": c.incidents,
            "on_screen": sum(1 for t in self.traces if t.screen_ms is not None),
            "acked": sum(1 for t in self.traces if t.ack_ring_ms is not None),
            "exact_rings": len(self.rings),
            "events": c.events,
        }

    def unix_ms(self, t: float) -> int:
        return self.sc.start_unix_ms + int(t)

    def _hour(self, h: int) -> None:
        # The hour's exact frames and downlinks are all known now, so the bulk model can deliver its heartbeats.
        extra, windows = self.lora.take_hour(h)
        t0 = time.perf_counter()
        self.bulk.hour(h, extra, windows)
        self.bulk_s += time.perf_counter() - t0
        if self.progress is not None:
            self.progress(self.now, self.live())
