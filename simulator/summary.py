"""The numbers of one run (pure): hop latencies, the budget check, delivery, dispatch outcomes, the attacker.

Latencies are virtual ms. The budget (issue 7) runs from the recognised SOS to the responder's screen: p95 within
300 ms over BLE and 600 ms over LoRa at SF9; rings at other SFs are held to the same 600 ms, per SF. Per radio,
the chain is that of the first copy to reach dispatch over that radio, so each radio is judged as if it were the
only one; "first" is the real run, both radios at once.
"""

from typing import Any

import numpy as np

from simulator.alarm_plan import ESCORT_OUT_OF_HOURS, planned_presses
from simulator.bulk import DIST_BIN_M
from simulator.engine import Engine
from simulator.reach import Press, Verdict, judge
from simulator.reach import summarise as reach_summary
from simulator.trace import AlarmTrace

BUDGET_MS = {"ble": 300.0, "lora": 600.0}
HOPS = ("firmware", "air", "gateway", "backhaul", "broker_dispatch", "push")
HOP_LABELS = {
    "firmware": "recognised -> first frame on air (firmware)",
    "air": "on air -> gateway receive (BLE discovery / LoRa time on air, retries included)",
    "gateway": "gateway: receive -> envelope to MQTT",
    "backhaul": "gateway -> broker (backhaul)",
    "broker_dispatch": "broker -> dispatch pipeline done",
    "push": "dispatch -> responder screen (push)",
}


def hop_times(t: AlarmTrace, radio: str) -> dict[str, float] | None:
    """The hops of ``t`` over ``radio``, or None when that radio never got a copy to dispatch."""
    p = t.paths[radio]
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


def _pct(values: list[float], q: float) -> float | None:
    return None if not values else round(float(np.percentile(values, q)), 1)


def _dist(values: list[float]) -> dict[str, Any]:
    return {
        "n": len(values),
        "p50": _pct(values, 50),
        "p95": _pct(values, 95),
        "p99": _pct(values, 99),
        "max": None if not values else round(max(values), 1),
    }


def lora_by_sf(traces: list[AlarmTrace], sfs: tuple[int, ...]) -> dict[str, Any]:
    """LoRa recognised-to-screen per spreading factor of the ring (the air hop grows with the SF)."""
    out: dict[str, Any] = {}
    for sf in sfs:
        rows = [h for h in (hop_times(t, "lora") for t in traces if t.sf == sf) if h is not None]
        totals = [sum(h.values()) for h in rows]
        p95 = _pct(totals, 95)
        out[f"SF{sf}"] = {
            "press_to_screen": _dist(totals),
            "air": _dist([h["air"] for h in rows]),
            "budget_met": None if p95 is None else p95 <= BUDGET_MS["lora"],
        }
    return out


def latency(traces: list[AlarmTrace]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for radio in ("ble", "lora"):
        rows = [h for h in (hop_times(t, radio) for t in traces) if h is not None]
        totals = [sum(h.values()) for h in rows]
        hops = {name: _dist([h[name] for h in rows]) for name in HOPS}
        p50_sum = sum(v["p50"] or 0.0 for v in hops.values())
        share = {name: round((hops[name]["p50"] or 0.0) / p50_sum, 3) if p50_sum else None for name in HOPS}
        p95 = _pct(totals, 95)
        out[radio] = {
            "press_to_screen": _dist(totals),
            "hops": hops,
            "share_of_median": share,
            "budget_ms": BUDGET_MS[radio],
            "budget_met": None if p95 is None else p95 <= BUDGET_MS[radio],
        }
    first = [t.screen_ms - t.recognised_ms for t in traces if t.screen_ms is not None and t.recognised_ms is not None]
    out["first_copy"] = {"press_to_screen": _dist(first)}
    acks = [t.ack_ring_ms - t.recognised_ms for t in traces if t.ack_ring_ms is not None and t.recognised_ms]
    helps = [t.help_ring_ms - t.recognised_ms for t in traces if t.help_ring_ms is not None and t.recognised_ms]
    out["press_to_ack_on_ring"] = _dist(acks)
    out["press_to_help_on_ring"] = _dist(helps)
    return out


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


def summarise(engine: Engine) -> dict[str, Any]:
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
            "by_kind": {k: sum(1 for t in traces if t.kind == k) for k in ("sos", "escort", "duress")},
            "false_alarms": sum(1 for t in traces if t.false_alarm),
            "incidents": c.incidents,
            "on_screen": sum(1 for t in traces if t.screen_ms is not None),
            "offered_to_responder": sum(1 for t in traces if t.offered),
            "responder_accepted": sum(1 for t in traces if t.responder_accept_ms is not None),
            "acked_on_ring": sum(1 for t in traces if t.ack_ring_ms is not None),
            "help_on_ring": sum(1 for t in traces if t.help_ring_ms is not None),
            "cancelled": sum(1 for t in traces if t.cancelled_ms is not None),
            "first_copy_by_radio": {r: sum(1 for t in traces if t.first_radio == r) for r in ("ble", "lora")},
            "never_acked": len(never_acked),
            "never_acked_first_radio": {r: sum(1 for t in never_acked if t.first_radio == r) for r in ("ble", "lora")},
            "operator_closed": c.operator_closed,
        },
        "reach": reach(engine),
        "latency_ms": {**latency(traces), "lora_by_sf": lora_by_sf(traces, sc.rings.sf)},
        "exact_frames": dict(c.exact_frames),
        "gateway_copies": dict(c.gateway_copies),
        "dispatch": {
            "outcomes": dict(c.outcomes),
            "alarm_copies_counted_as_replay": c.alarm_copies_as_replay,
            "unresolved_given_up": engine.dispatch.state.unresolved_given_up,
            "recovery_sweeps": c.sweeps,
            "recovery_sweep_cpu_s": round(c.sweep_s, 2),
            "pipeline_us": {"n": len(handle), "p50": _pct(handle, 50), "p99": _pct(handle, 99)},
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
