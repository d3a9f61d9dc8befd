"""The numbers of one real-time run (pure): hop latencies against the budget (simulator/chain.py), the dispatch
steps after the push, the bare broker hop every figure is also stated against, and BLE by distance."""

import math
from collections.abc import Callable
from typing import Any

from simulator.alarm_plan import FOLLOW_UPS
from simulator.ble_reach import Reach
from simulator.chain import BUDGET_MS, LIVE, RADIOS, by_first_radio, by_kind, count, latency, live_hop_times
from simulator.trace import LiveTrace

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
