"""The numbers of one virtual-time run (pure): hop latencies against the budget (simulator/chain.py), the presses
that reached a person, and what only the virtual clock measures: delivery, dispatch outcomes, the attacker.
A real-time run's are in simulator/live_summary.py.
"""

from collections.abc import Sequence
from typing import Any

import numpy as np

from simulator.alarm_plan import ESCORT_OUT_OF_HOURS, planned_presses
from simulator.bulk import DIST_BIN_M
from simulator.chain import BUDGET_MS, VIRTUAL, by_first_radio, by_kind, latency
from simulator.engine import Engine
from simulator.reach import Press, Verdict, judge
from simulator.reach import summarise as reach_summary
from simulator.trace import AlarmTrace


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
