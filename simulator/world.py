"""The city a scenario describes, drawn once from its seed: gateways, people and their routes, the alarm plan.

People live in the districts (weighted by share). Those who go out walk at ``walking_mps`` from home to a
destination (a nightlife street, the station), stay, and walk back; the rest stay in, behind ``indoor_loss_db``
of walls. Alarms come from people who are out at that moment; a burst (a festival) puts its people inside its
circle for the whole burst.
"""

import hashlib
import math
from dataclasses import dataclass

import numpy as np

from simulator.acts import plan_acts
from simulator.alarm_plan import ESCORT, SOS, AlarmPlan
from simulator.radio import BoolArray, FloatArray, IntArray
from simulator.scenario import Place, Scenario
from simulator.space import Projection

H_MS = 3_600_000


@dataclass
class Gateways:
    ids: list[str]
    x: FloatArray
    y: FloatArray
    lora: BoolArray
    ble: BoolArray
    outages: list[list[tuple[float, float]]]  # per gateway, (start_ms, end_ms)

    def online(self, i: int, t_ms: float) -> bool:
        return not any(a <= t_ms < b for a, b in self.outages[i])


@dataclass
class People:
    home_x: FloatArray
    home_y: FloatArray
    dest_x: FloatArray
    dest_y: FloatArray
    out_from: FloatArray  # ms from the start; out_from == out_to: stays in
    out_to: FloatArray
    walk_ms: FloatArray
    phase_ms: IntArray  # heartbeat phase within the period
    channel0: IntArray  # first uplink channel index
    sf: IntArray  # LoRa spreading factor of each ring's uplinks
    battery_pct: FloatArray  # charge at the scenario start

    def position(self, idx: IntArray, t_ms: float | FloatArray) -> tuple[FloatArray, FloatArray, BoolArray]:
        """Where each ring in ``idx`` is at ``t_ms``, and whether it is indoors (at home)."""
        t = np.broadcast_to(np.asarray(t_ms, dtype=np.float64), idx.shape)
        a, b, w = self.out_from[idx], self.out_to[idx], self.walk_ms[idx]
        hx, hy, dx, dy = self.home_x[idx], self.home_y[idx], self.dest_x[idx], self.dest_y[idx]
        going = np.clip((t - a) / np.maximum(w, 1.0), 0.0, 1.0)
        coming = np.clip((b - t) / np.maximum(w, 1.0), 0.0, 1.0)
        f = np.where(t < (a + b) / 2, going, coming)
        out = (t >= a) & (t < b)
        f = np.where(out, f, 0.0)
        return hx + f * (dx - hx), hy + f * (dy - hy), ~out


@dataclass
class World:
    scenario: Scenario
    proj: Projection
    gateways: Gateways
    people: People
    alarms: list[AlarmPlan]
    exact: list[int]  # rings that run the real firmware

    def root_key(self, ring: int) -> bytes:
        # Deterministic per scenario seed and ring, so a run can be repeated and its frames decoded afterwards.
        return hashlib.sha256(f"nightwatch-sim/{self.scenario.seed}/{ring}".encode()).digest()[:16]


def _gateways(sc: Scenario, proj: Projection) -> Gateways:
    ids, xs, ys, lora, ble, outages = [], [], [], [], [], []
    for g in sc.gateways:
        x, y = proj.to_xy(g.lat, g.lon)
        ids.append(g.id)
        xs.append(float(x))
        ys.append(float(y))
        lora.append("lora" in g.radios)
        ble.append("ble" in g.radios)
        outages.append([(w.start_h * H_MS, w.end_h * H_MS) for w in g.outages])
    if sc.gateway_grid is not None:
        s, r = sc.gateway_grid.spacing_m, sc.area_radius_m
        n = int(r // s)
        k = 0
        for i in range(-n, n + 1):
            for j in range(-n, n + 1):
                # A staggered grid (every other row shifted by half) covers a disc with fewer gateways.
                px, py = (i + 0.5 * (j % 2)) * s, j * s * math.sqrt(3) / 2
                if math.hypot(px, py) <= r:
                    ids.append(f"grid-{k:04d}")
                    xs.append(px)
                    ys.append(py)
                    lora.append("lora" in sc.gateway_grid.radios)
                    ble.append(False)
                    outages.append([])
                    k += 1
    return Gateways(ids, np.array(xs), np.array(ys), np.array(lora), np.array(ble), outages)


def _in_circle(rng: np.random.Generator, n: int, cx: float, cy: float, r: float) -> tuple[FloatArray, FloatArray]:
    rad = r * np.sqrt(rng.random(n))
    ang = rng.uniform(0, 2 * math.pi, n)
    return cx + rad * np.cos(ang), cy + rad * np.sin(ang)


def _in_places(
    rng: np.random.Generator, proj: Projection, places: tuple[Place, ...], which: IntArray
) -> tuple[FloatArray, FloatArray]:
    """A point for each element of ``which`` (an index into ``places``) in that place's circle, place by place."""
    x, y = np.zeros(len(which)), np.zeros(len(which))
    for k, place in enumerate(places):
        m = which == k
        cx, cy = proj.to_xy(place.lat, place.lon)
        x[m], y[m] = _in_circle(rng, int(m.sum()), float(cx), float(cy), place.radius_m)
    return x, y


def build(sc: Scenario) -> World:
    rng = np.random.default_rng(sc.seed)
    proj = Projection(*sc.centre)
    gws = _gateways(sc, proj)
    n = sc.rings.count

    shares = np.array([d.share for d in sc.districts])
    home_d = rng.choice(len(sc.districts), size=n, p=shares / shares.sum())
    hx, hy = _in_places(rng, proj, sc.districts, home_d)
    dest_k = rng.integers(0, len(sc.destinations), size=n)
    dx, dy = _in_places(rng, proj, sc.destinations, dest_k)

    # Going out: a local start hour in the scenario's range (it may wrap midnight), for some hours.
    local0 = sc.start.hour + sc.start.minute / 60
    a, b = sc.rings.out_start_h
    span = (b - a) % 24
    start_local = a + rng.random(n) * span
    from_ms = ((start_local - local0) % 24) * H_MS
    from_ms = np.where(from_ms > 20 * H_MS, from_ms - 24 * H_MS, from_ms)  # started before the scenario
    hours = rng.uniform(*sc.rings.out_hours, size=n)
    goes_out = rng.random(n) < sc.rings.out_share
    out_from = np.where(goes_out, from_ms, 0.0)
    out_to = np.where(goes_out, from_ms + hours * H_MS, 0.0)
    walk_ms = np.hypot(dx - hx, dy - hy) / sc.rings.walking_mps * 1000
    out_to = np.maximum(out_to, out_from + np.where(goes_out, 2 * walk_ms, 0.0))

    period = sc.rings.heartbeat_min * 60_000
    people = People(
        hx,
        hy,
        dx,
        dy,
        out_from,
        out_to,
        walk_ms,
        rng.integers(0, period, size=n),
        rng.integers(0, 8, size=n),
        *_radio_and_cell(sc, n),
    )
    alarms = plan_acts(sc, _alarms(sc, rng, people, proj), people.out_from, people.out_to)
    exact = list(range(n)) if sc.rings.exact == "all" else sorted({al.ring for al in alarms})
    return World(sc, proj, gws, people, alarms, exact)


def _radio_and_cell(sc: Scenario, n: int) -> tuple[IntArray, FloatArray]:
    """Each ring's SF and starting charge, from a generator of their own: the draws above, and so every
    scenario written before these settings, stay as they were."""
    rng = np.random.default_rng((sc.seed, 0x5F))
    sfs = np.array(sc.rings.sf, dtype=np.int64)
    sf = sfs[rng.choice(len(sfs), size=n, p=np.array(sc.rings.sf_share))] if len(sfs) > 1 else np.full(n, sfs[0])
    lo, hi = sc.rings.battery_pct
    return sf, rng.uniform(lo, hi, size=n) if hi > lo else np.full(n, lo)


def _alarms(sc: Scenario, rng: np.random.Generator, people: People, proj: Projection) -> list[AlarmPlan]:
    n = sc.rings.count
    dur = sc.duration_h * H_MS
    taken: set[int] = set()
    plans: list[AlarmPlan] = []
    # Alarms start after the first five minutes, so every ring has booted and sent its first heartbeat.
    earliest = min(300_000.0, dur / 4)

    def pick(t: float) -> int | None:
        out = np.flatnonzero((people.out_from <= t) & (t < people.out_to))
        pool = out if len(out) else np.arange(n)
        for _ in range(20):
            i = int(rng.choice(pool))
            if i not in taken:
                taken.add(i)
                return i
        return None

    def cancel(t: float, kind: str) -> int | None:
        if kind != SOS or rng.random() >= sc.alarms.false_share:
            return None
        return int(t + 2_500 + rng.uniform(*sc.alarms.cancel_after_s) * 1000)

    for kind, rate in ((SOS, sc.alarms.sos_per_hour), (ESCORT, sc.alarms.escort_per_hour)):
        count = int(rng.poisson(rate * sc.duration_h))
        for t in np.sort(rng.uniform(earliest, dur * 0.95, size=count)):
            i = pick(float(t))
            if i is not None:
                plans.append(AlarmPlan(i, int(t), kind, cancel(float(t), kind)))
    for burst in sc.alarms.bursts:
        t0 = burst.start_h * H_MS
        bx, by = proj.to_xy(burst.lat, burst.lon)
        free = np.array([i for i in rng.permutation(n)[: burst.sos * 2 + 10].tolist() if i not in taken])
        chosen = free[: burst.sos]
        taken.update(chosen.tolist())
        # Festival-goers: inside the circle from before the burst until after it.
        x, y = _in_circle(rng, len(chosen), float(bx), float(by), burst.radius_m)
        people.dest_x[chosen], people.dest_y[chosen] = x, y
        people.out_from[chosen] = t0 - 2 * H_MS
        people.out_to[chosen] = t0 + burst.minutes * 60_000 + 2 * H_MS
        people.walk_ms[chosen] = 1.0  # already there
        for i, t in zip(chosen.tolist(), rng.uniform(t0, t0 + burst.minutes * 60_000, size=len(chosen)), strict=True):
            plans.append(AlarmPlan(int(i), int(t), SOS, cancel(float(t), SOS)))
    plans.sort(key=lambda p: p.at_ms)
    return plans
