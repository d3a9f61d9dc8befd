"""ACK downlinks: a gateway's 869.525 MHz sub-band and its duty cycle, half duplex, and the ring's receiver."""

import numpy as np

from simulator.bulk import ACK_TOA_MS
from simulator.engine_api import EngineAPI
from simulator.links import FAST_FADING_DB, shadow_db
from simulator.world import H_MS

DOWNLINK_MAX_WAIT_MS = 10_000  # a queued ACK older than this is dropped; the ring's retry earns a new one
OVERLAP_KEEP_MS = 10_000  # downlinks that ended longer ago than this cannot overlap a frame still to end


class Downlinks:
    def __init__(self, engine: EngineAPI) -> None:
        self.e = engine
        self.on_air: list[tuple[int, float, float]] = []  # downlinks on air: (gateway, start, end)
        self._hour_tx: dict[int, list[tuple[int, float, float]]] = {}  # the same, kept per hour for the bulk
        self._gw_open = np.zeros(len(engine.world.gateways.ids))  # when each gateway's sub-band reopens

    def take_hour(self, h: int) -> list[tuple[int, float, float]]:
        return self._hour_tx.pop(h, [])

    def send(self, gw_id: str, frame: bytes, answers: bytes) -> None:
        e = self.e
        gws = e.world.gateways
        g = gws.ids.index(gw_id)
        if not gws.online(g, e.now):
            e.counters.downlinks["dropped_gateway_offline"] += 1
            return
        start = max(e.now, float(self._gw_open[g]))
        if start - e.now > DOWNLINK_MAX_WAIT_MS:
            e.counters.downlinks["dropped_duty_cycle"] += 1
            return
        end = start + ACK_TOA_MS
        self._gw_open[g] = start + ACK_TOA_MS / e.sc.radio.downlink_duty
        self.on_air.append((g, start, end))
        self._hour_tx.setdefault(int(start // H_MS), []).append((g, start, end))
        e.counters.downlinks["sent"] += 1
        ring = e.exact.frame_ring.get(answers)
        if ring is not None:
            e.push(end, "downlink_end", (g, frame, ring))

    def end(self, g: int, frame: bytes, i: int) -> None:
        e = self.e
        self.on_air = [w for w in self.on_air if w[2] > e.now - OVERLAP_KEEP_MS]
        ring = e.exact.rings[i]
        gws = e.world.gateways
        x, y, indoor = e.world.people.position(np.array([i]), e.now)
        d = np.hypot(gws.x[g] - x, gws.y[g] - y)
        sh = shadow_db(e.sc.seed, np.array([i]), np.array([g]), x, y, e.link.model.sigma_db)
        ind = e.sc.rings.indoor_loss_db if bool(indoor[0]) else 0.0
        p = float(e.link.downlink_dbm(d, sh, ind)[0]) + float(e.rng.normal(0.0, FAST_FADING_DB))
        if p < e.link.sensitivity_dbm:
            e.counters.downlinks["out_of_range"] += 1
            return
        if ring.downlink(int(np.ceil(e.now)), frame):
            e.counters.downlinks["heard"] += 1
            e.exact.schedule(ring)
        else:
            e.counters.downlinks["ring_not_listening"] += 1
