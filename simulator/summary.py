"""The numbers of one run (pure), in either clock: hop latencies, the budget check, the presses that reached a
person, and what only that clock measures (virtual time: delivery, dispatch outcomes, the attacker; real time: the
dispatch steps after the push, the bare broker hop every figure is also stated against, BLE by distance).

The budget (issue 7) runs from the recognised SOS to the responder's screen: p95 within 300 ms over BLE and 600 ms
over LoRa at SF9; rings at other SFs are held to the same 600 ms, per SF. Per radio, the chain is that of the first
copy to reach dispatch over that radio, so each radio is judged as if it were the only one; "first" is the real
run, both radios at once. In real time dispatch is a black box: the moment it decoded the first copy (the
incident's ``opened_ms``) is visible, the moments it handled later copies are not, so an alarm's broker ->
dispatch hop is the one its first copy took, whichever radio brought it.
"""

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np

from simulator.alarm_plan import ESCORT_OUT_OF_HOURS, FOLLOW_UPS, planned_presses
from simulator.ble_reach import Reach
from simulator.bulk import DIST_BIN_M
from simulator.engine import Engine
from simulator.reach import Press, Verdict, judge
from simulator.reach import summarise as reach_summary
from simulator.trace import AlarmTrace, LiveTrace, PressTrace

BUDGET_MS = {"ble": 300.0, "lora": 600.0}
RADIOS = ("ble", "lora")
T = TypeVar("T", bound=PressTrace)


def virtual_hop_times(t: AlarmTrace, radio: str) -> dict[str, float] | None:
    """The hops of ``t`` over ``radio``, or None when that radio never got a copy to dispatch."""
    p = t.radios[radio]
    if (
        t.recognised_ms is None
        or t.accepted_ms is None
        or t.screen_ms is None
        or p.on_air_ms is None
        or p.gateway_rx_ms is None
        or p.gateway_out_ms is None
        or p.broker_ms is None
        or p.dispatch_ms is None
    ):
        return None
    push = t.screen_ms - t.accepted_ms  # the push does not depend on the radio that brought the alarm
    return {
        "firmware": p.on_air_ms - t.recognised_ms,
        "air": p.gateway_rx_ms - p.on_air_ms,
        "gateway": p.gateway_out_ms - p.gateway_rx_ms,
        "backhaul": p.broker_ms - p.gateway_out_ms,
        "broker_dispatch": p.dispatch_ms - p.broker_ms,
        "push": push,
    }


def live_hop_times(t: LiveTrace, radio: str) -> dict[str, float] | None:
    r, first = t.radios[radio], t.radios.get(t.first_radio)
    if (
        t.recognised_ms is None
        or t.dispatch_ms is None
        or t.push_ms is None
        or first is None
        or first.broker_ms is None
        or r.on_air_ms is None
        or r.gateway_rx_ms is None
        or r.broker_ms is None
    ):
        return None
    return {
        "firmware": r.on_air_ms - t.recognised_ms,
        "air": r.gateway_rx_ms - r.on_air_ms,
        "gateway_broker": r.broker_ms - r.gateway_rx_ms,
        "broker_dispatch": t.dispatch_ms - first.broker_ms,
        "push": t.push_ms - t.dispatch_ms,
    }


@dataclass(frozen=True)
class Chain(Generic[T]):
    """The hops one clock measures from a press to a screen, and the precision its stamps allow."""

    hops: tuple[str, ...]
    labels: dict[str, str]
    times: Callable[[T, str], dict[str, float] | None]
    digits: int  # virtual ms are drawn, to 0.1 ms; the wall clock's stamps are worth 0.01 ms

    def pct(self, values: Sequence[float], q: float) -> float | None:
        return None if not values else round(float(np.percentile(values, q)), self.digits)

    def dist(self, values: Sequence[float]) -> dict[str, Any]:
        return {
            "n": len(values),
            "p50": self.pct(values, 50),
            "p95": self.pct(values, 95),
            "p99": self.pct(values, 99),
            "max": None if not values else round(max(values), self.digits),
        }

    def rows(self, traces: Sequence[T], radio: str) -> list[dict[str, float]]:
        return [h for h in (self.times(t, radio) for t in traces) if h is not None]


VIRTUAL: Chain[AlarmTrace] = Chain(
    ("firmware", "air", "gateway", "backhaul", "broker_dispatch", "push"),
    {
        "firmware": "recognised -> first frame on air (firmware)",
        "air": "on air -> gateway receive (BLE discovery / LoRa time on air, retries included)",
        "gateway": "gateway: receive -> envelope to MQTT",
        "backhaul": "gateway -> broker (backhaul)",
        "broker_dispatch": "broker -> dispatch pipeline done",
        "push": "dispatch -> responder screen (push)",
    },
    virtual_hop_times,
    1,
)
LIVE: Chain[LiveTrace] = Chain(
    ("firmware", "air", "gateway_broker", "broker_dispatch", "push"),
    {
        "firmware": "recognised -> first frame on air (firmware)",
        "air": "on air -> gateway receive (BLE discovery / LoRa time on air, modelled and waited out; UDP or bleak)",
        "gateway_broker": "gateway receive -> broker delivers the envelope (relay, spool, MQTT QoS 1)",
        "broker_dispatch": "broker -> dispatch decoded the first copy",
        "push": "dispatch -> responder's live stream (the responder's screen)",
    },
    live_hop_times,
    2,
)


def latency(traces: Sequence[T], chain: Chain[T]) -> dict[str, Any]:
    """Per radio: press to screen, each hop, each hop's share of the summed medians, the budget."""
    out: dict[str, Any] = {}
    for radio in RADIOS:
        rows = chain.rows(traces, radio)
        totals = [sum(h.values()) for h in rows]
        hops = {name: chain.dist([h[name] for h in rows]) for name in chain.hops}
        # A hop between two clocks' stamps may come out a hair below zero; it has no share of the time.
        p50_sum = sum(max(v["p50"] or 0.0, 0.0) for v in hops.values())
        p95 = chain.pct(totals, 95)
        out[radio] = {
            "press_to_screen": chain.dist(totals),
            "hops": hops,
            "share_of_median": {
                k: round(max(v["p50"] or 0.0, 0.0) / p50_sum, 3) if p50_sum else None for k, v in hops.items()
            },
            "budget_ms": BUDGET_MS[radio],
            "budget_met": None if p95 is None else p95 <= BUDGET_MS[radio],
        }
    return out


def lora_by_sf(traces: Sequence[AlarmTrace], sfs: tuple[int, ...]) -> dict[str, Any]:
    """LoRa recognised-to-screen per spreading factor of the ring (the air hop grows with the SF)."""
    out: dict[str, Any] = {}
    for sf in sfs:
        rows = VIRTUAL.rows([t for t in traces if t.sf == sf], "lora")
        totals = [sum(h.values()) for h in rows]
        p95 = VIRTUAL.pct(totals, 95)
        out[f"SF{sf}"] = {
            "press_to_screen": VIRTUAL.dist(totals),
            "air": VIRTUAL.dist([h["air"] for h in rows]),
            "budget_met": None if p95 is None else p95 <= BUDGET_MS["lora"],
        }
    return out


def virtual_latency(traces: Sequence[AlarmTrace], sfs: tuple[int, ...]) -> dict[str, Any]:
    d = VIRTUAL.dist
    out = latency(traces, VIRTUAL)
    first = [t.screen_ms - t.recognised_ms for t in traces if t.screen_ms is not None and t.recognised_ms is not None]
    out["first_copy"] = {"press_to_screen": d(first)}
    acks = [t.ack_ring_ms - t.recognised_ms for t in traces if t.ack_ring_ms is not None and t.recognised_ms]
    helps = [t.help_ring_ms - t.recognised_ms for t in traces if t.help_ring_ms is not None and t.recognised_ms]
    out["press_to_ack_on_ring"] = d(acks)
    out["press_to_help_on_ring"] = d(helps)
    out["lora_by_sf"] = lora_by_sf(traces, sfs)
    return out


def count(traces: Sequence[PressTrace], what: Callable[[Any], object]) -> int:
    return sum(1 for t in traces if what(t))


def by_kind(traces: Sequence[PressTrace]) -> dict[str, int]:
    return {k: sum(1 for t in traces if t.kind == k) for k in ("sos", "escort", "duress")}


def by_first_radio(traces: Sequence[PressTrace]) -> dict[str, int]:
    return {r: sum(1 for t in traces if t.first_radio == r) for r in RADIOS}


# ---- virtual time -------------------------------------------------------------------------------------------------


def verdicts(engine: Engine) -> list[Verdict]:
    """Each press judged against the incident log of the dispatch core the engine ran (simulator/reach.py)."""
    timeout = engine.dispatch.state.policy.offer_timeout_ms
    return [
        judge(
            Press(t.ring, t.ring + 1, t.counter, t.kind, t.act, t.pressed_ms, t.at_dispatch_ms, tuple(t.shown)),
            engine.backend.logs,
            timeout,
            engine.end_ms,
        )
        for t in engine.traces
    ]


def reach(engine: Engine) -> dict[str, Any]:
    out = reach_summary(verdicts(engine), engine.dispatch.state.policy.offer_timeout_ms, ESCORT_OUT_OF_HOURS)
    out["planned"] = planned_presses(engine.world.alarms)
    out["recognised_otherwise"] = [
        {"ring": i, "act": act, "meant": meant, "recognised": got} for i, act, meant, got in engine.exact.unexpected
    ]
    return out


def virtual(engine: Engine) -> dict[str, Any]:
    w, sc, c = engine.world, engine.sc, engine.counters
    b = engine.bulk.totals
    hs = engine.bulk.schedule.totals
    traces = engine.traces
    virtual_s = sc.duration_h * 3600
    handle = engine.dispatch.handle_us
    sent = b.by_dist_sent.tolist()
    ok = b.by_dist_ok.tolist()
    never_acked = [
        t for t in traces if t.recognised_ms is not None and t.ack_ring_ms is None and t.cancelled_ms is None
    ]
    return {
        "scenario": sc.name,
        "description": sc.description,
        "start": sc.start.isoformat(),
        "duration_h": sc.duration_h,
        "rings": sc.rings.count,
        "exact_rings": len(engine.rings),
        "gateways": {
            "lora": int(w.gateways.lora.sum()),
            "ble": int(w.gateways.ble.sum()),
            "lora_per_km2": round(float(w.gateways.lora.sum()) / (np.pi * (sc.area_radius_m / 1000) ** 2), 2),
        },
        "speed": {
            "wall_s": round(engine.wall_s, 2),
            "virtual_s": virtual_s,
            "virtual_per_wall": round(virtual_s / engine.wall_s, 1) if engine.wall_s else None,
            "bulk_s": round(engine.bulk_s, 2),
            "events": c.events,
            "ring_steps": sum(r.steps for r in engine.rings.values()),
        },
        "heartbeats": {
            "sent": b.sent,
            "delivered": b.delivered,
            "delivery_ratio": round(b.delivered / b.sent, 4) if b.sent else None,
            "gateway_copies_heard": b.heard_pairs,
            "copies_lost_to_collision": b.lost_to_collision,
            "copies_lost_to_gateway_tx": b.lost_to_downlink,
            "busiest_gateway_ack_duty": round(b.ack_duty_max, 4),
            "acks_dropped_duty_cycle": b.acks_dropped_duty,
            "asked_for_ack": hs.asked,
            "acked": hs.acked,
            "periods_at_end_min": engine.bulk.schedule.periods(),
            "low_battery": {
                "threshold_pct": engine.bulk.schedule.low_pct,
                "frames": hs.low_battery_frames,
                "delivered": hs.low_battery_delivered,
                "rings": int(engine.bulk.schedule.low_rings.sum()),
            },
            "by_sf": [
                {"sf": sf, "sent": int(b.by_sf_sent[sf]), "delivered": int(b.by_sf_ok[sf])}
                for sf in range(7, 13)
                if b.by_sf_sent[sf]
            ],
            "delivery_by_distance": [
                {"from_m": i * DIST_BIN_M, "sent": s, "delivered": k, "ratio": round(k / s, 4) if s else None}
                for i, (s, k) in enumerate(zip(sent, ok, strict=True))
                if s
            ],
        },
        "alarms": {
            "planned": len(w.alarms),
            "pressed": len(traces),
            "by_kind": by_kind(traces),
            "false_alarms": sum(1 for t in traces if t.false_alarm),
            "incidents": c.incidents,
            "on_screen": sum(1 for t in traces if t.screen_ms is not None),
            "offered_to_responder": sum(1 for t in traces if t.offered),
            "responder_accepted": sum(1 for t in traces if t.responder_accept_ms is not None),
            "acked_on_ring": sum(1 for t in traces if t.ack_ring_ms is not None),
            "help_on_ring": sum(1 for t in traces if t.help_ring_ms is not None),
            "cancelled": sum(1 for t in traces if t.cancelled_ms is not None),
            "first_copy_by_radio": by_first_radio(traces),
            "never_acked": len(never_acked),
            "never_acked_first_radio": {r: sum(1 for t in never_acked if t.first_radio == r) for r in ("ble", "lora")},
            "operator_closed": c.operator_closed,
        },
        "reach": reach(engine),
        "latency_ms": virtual_latency(traces, sc.rings.sf),
        "exact_frames": dict(c.exact_frames),
        "gateway_copies": dict(c.gateway_copies),
        "dispatch": {
            "outcomes": dict(c.outcomes),
            "alarm_copies_counted_as_replay": c.alarm_copies_as_replay,
            "unresolved_given_up": engine.dispatch.state.unresolved_given_up,
            "recovery_sweeps": c.sweeps,
            "recovery_sweep_cpu_s": round(c.sweep_s, 2),
            "pipeline_us": {"n": len(handle), "p50": VIRTUAL.pct(handle, 50), "p99": VIRTUAL.pct(handle, 99)},
        },
        "downlinks": dict(c.downlinks),
        "attacker": None
        if sc.attacker is None
        else {
            "frames_recorded": len(engine.recorded),
            "replays_sent": c.replays_sent,
            "outcomes_at_dispatch": dict(c.replay_outcomes),
            "accepted_after_delivery": c.replay_outcomes.get("delivered_before:accepted", 0),
            "first_deliveries_accepted": c.replay_outcomes.get("first_delivery:accepted", 0),
            "moved_an_incident_location": c.replay_moved_location,
        },
    }


# ---- real time ---------------------------------------------------------------------------------------------------

STEPS = {
    "dispatch_to_operator": ("dispatch_ms", "operator_ms"),
    "dispatch_to_first_ack_published": ("dispatch_ms", "downlink_ms"),
    "push_to_accept": ("push_ms", "accept_ms"),
    "accept_to_help_published": ("accept_ms", "help_downlink_ms"),
    "help_published_to_ring": ("help_downlink_ms", "help_ring_ms"),
    "recognised_to_ack_on_ring": ("recognised_ms", "ack_ring_ms"),
    "recognised_to_help_on_ring": ("recognised_ms", "help_ring_ms"),
}


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else round(a / b, 2)


def live(every: list[LiveTrace], probe_ms: list[float], meta: dict[str, Any]) -> dict[str, Any]:
    """A real-time run's summary, without its ``reach`` and ``ble_coverage`` (simulator/realtime/run.py adds them)."""
    # The budget is each ring's first press. A real-time run scripts a second press half a second after "help on
    # the way" or the resolve (minutes, on a real night), when the ring's LoRa sub-bands are still closed by its
    # first alarm's copies (1 % duty cycle): its copies wait for them, which says nothing about the services.
    traces = [t for t in every if t.act not in FOLLOW_UPS]
    d = LIVE.dist
    lat = latency(traces, LIVE)
    steps: dict[str, Any] = {}
    for name, (a, b) in STEPS.items():
        pairs = [(getattr(t, a), getattr(t, b)) for t in traces]
        steps[name] = d([y - x for x, y in pairs if x is not None and y is not None])
    lat["after_dispatch"] = steps
    bare = d(probe_ms)
    server = [
        t.push_ms - r.broker_ms
        for t in traces
        if t.push_ms is not None and (r := t.radios.get(t.first_radio)) is not None and r.broker_ms is not None
    ]
    gw = [h["gateway_broker"] for radio in RADIOS for h in LIVE.rows(traces, radio)]
    first = [t.push_ms - t.recognised_ms for t in traces if t.push_ms is not None and t.recognised_ms is not None]
    ratios = {
        "gateway_broker_p50_x_bare": _ratio(d(gw)["p50"], bare["p50"]),
        "broker_to_screen_p50_x_bare": _ratio(d(server)["p50"], bare["p50"]),
        "broker_to_screen_p95_x_bare": _ratio(d(server)["p95"], bare["p95"]),
        "press_to_screen_p50_x_bare": _ratio(d(first)["p50"], bare["p50"]),
        "press_to_screen_p95_x_bare": _ratio(d(first)["p95"], bare["p95"]),
    }
    return {
        **meta,
        "mode": "realtime",
        "alarms": {
            "pressed": len(every),
            "by_kind": by_kind(every),
            "first_presses": len(traces),
            "false_alarms": count(traces, lambda t: t.false_alarm),
            "recognised": count(traces, lambda t: t.recognised_ms is not None),
            "incidents": count(traces, lambda t: t.dispatch_ms is not None),
            "on_a_responder_screen": count(traces, lambda t: t.push_ms is not None),
            "accepted": count(traces, lambda t: t.accept_ms is not None),
            "acked_on_ring": count(traces, lambda t: t.ack_ring_ms is not None),
            "help_on_ring": count(traces, lambda t: t.help_ring_ms is not None),
            "cancelled_on_ring": count(traces, lambda t: t.cancelled_ms is not None),
            "first_copy_by_radio": by_first_radio(traces),
        },
        "latency_ms": {**lat, "first_copy": {"press_to_screen": d(first)}, "broker_to_screen": d(server)},
        "bare_broker_hop_ms": bare,
        "ratios_to_bare_broker_hop": ratios,
    }


def ble_coverage(
    traces: list[LiveTrace], nearest_m: dict[int, float], reach_for: Callable[[float], Reach]
) -> dict[str, Any]:
    """BLE press -> screen for the alarms within a scanner's reliable range and for those beyond it.

    The radio's share of the budget is what the software leaves: 300 ms minus this run's own p95 of the hops after
    the gateway receive. ``reach_for(ms)`` gives the range at which 95 % of alarms are heard within that
    (simulator.ble_reach), and the scanner density that keeps every place within it."""
    rows = [(t, h) for t in traces if (h := live_hop_times(t, "ble")) is not None]
    software = [h["gateway_broker"] + h["broker_dispatch"] + h["push"] for _, h in rows]
    soft_p95 = LIVE.pct(software, 95) or 0.0
    reach = reach_for(BUDGET_MS["ble"] - soft_p95)
    inside = [sum(h.values()) for t, h in rows if nearest_m.get(t.ring, math.inf) <= reach.range_m]
    beyond = [sum(h.values()) for t, h in rows if nearest_m.get(t.ring, math.inf) > reach.range_m]
    p95_in = LIVE.pct(inside, 95)
    return {
        "software_p95_ms": soft_p95,
        "radio_allowance_ms": round(BUDGET_MS["ble"] - soft_p95, 1),
        "reliable_range_m": reach.range_m,
        "grid_spacing_m": reach.spacing_m,
        "scanners_per_km2": reach.per_km2,
        "within_range": LIVE.dist(inside),
        "beyond_range": LIVE.dist(beyond),
        "budget_met_within_range": None if p95_in is None else p95_in <= BUDGET_MS["ble"],
    }
