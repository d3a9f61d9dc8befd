"""The numbers of a real-time run (pure): each hop's distribution per radio, the budget, the dispatch steps after
the push, and the bare broker hop every figure is also stated against.

Per radio, an alarm's chain is its first copy over that radio, judged as if that radio were the only one, as the
virtual-time summary does. Dispatch is a black box here: the moment it decoded the first copy (the incident's
``opened_ms``) is visible, the moments it handled later copies are not, so an alarm's broker -> dispatch hop is
the one its first copy took, whichever radio brought it.
"""

import math
from typing import Any

import numpy as np

from simulator.alarm_plan import FOLLOW_UPS
from simulator.realtime.trace import LiveTrace
from simulator.summary import BUDGET_MS

HOPS = ("firmware", "air", "gateway_broker", "broker_dispatch", "push")
HOP_LABELS = {
    "firmware": "recognised -> first frame on air (firmware)",
    "air": "on air -> gateway receive (BLE discovery / LoRa time on air, modelled and waited out; UDP or bleak)",
    "gateway_broker": "gateway receive -> broker delivers the envelope (relay, spool, MQTT QoS 1)",
    "broker_dispatch": "broker -> dispatch decoded the first copy",
    "push": "dispatch -> responder's live stream (the responder's screen)",
}
STEPS = {
    "dispatch_to_operator": ("dispatch_ms", "operator_ms"),
    "dispatch_to_first_ack_published": ("dispatch_ms", "downlink_ms"),
    "push_to_accept": ("push_ms", "accept_ms"),
    "accept_to_help_published": ("accept_ms", "help_downlink_ms"),
    "help_published_to_ring": ("help_downlink_ms", "help_ring_ms"),
    "recognised_to_ack_on_ring": ("recognised_ms", "ack_ring_ms"),
    "recognised_to_help_on_ring": ("recognised_ms", "help_ring_ms"),
}


def hop_times(t: LiveTrace, radio: str) -> dict[str, float] | None:
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


def pct(values: list[float], q: float) -> float | None:
    return None if not values else round(float(np.percentile(values, q)), 2)


def dist(values: list[float]) -> dict[str, Any]:
    return {
        "n": len(values),
        "p50": pct(values, 50),
        "p95": pct(values, 95),
        "p99": pct(values, 99),
        "max": None if not values else round(max(values), 2),
    }


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else round(a / b, 2)


def latency(traces: list[LiveTrace]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for radio in ("ble", "lora"):
        rows = [h for h in (hop_times(t, radio) for t in traces) if h is not None]
        totals = [sum(h.values()) for h in rows]
        hops = {name: dist([h[name] for h in rows]) for name in HOPS}
        p50_sum = sum(max(v["p50"] or 0.0, 0.0) for v in hops.values())
        p95 = pct(totals, 95)
        out[radio] = {
            "press_to_screen": dist(totals),
            "hops": hops,
            "share_of_median": {
                k: round(max(v["p50"] or 0.0, 0.0) / p50_sum, 3) if p50_sum else None for k, v in hops.items()
            },
            "budget_ms": BUDGET_MS[radio],
            "budget_met": None if p95 is None else p95 <= BUDGET_MS[radio],
        }
    steps: dict[str, Any] = {}
    for name, (a, b) in STEPS.items():
        pairs = [(getattr(t, a), getattr(t, b)) for t in traces]
        vals = [y - x for x, y in pairs if x is not None and y is not None]
        steps[name] = dist(vals)
    out["after_dispatch"] = steps
    return out


def summarise(every: list[LiveTrace], probe_ms: list[float], meta: dict[str, Any]) -> dict[str, Any]:
    # The budget is each ring's first press. A real-time run scripts a second press half a second after "help on
    # the way" or the resolve (minutes, on a real night), when the ring's LoRa sub-bands are still closed by its
    # first alarm's copies (1 % duty cycle): its copies wait for them, which says nothing about the services.
    traces = [t for t in every if t.act not in FOLLOW_UPS]
    lat = latency(traces)
    bare = dist(probe_ms)
    server = [
        t.push_ms - r.broker_ms
        for t in traces
        if t.push_ms is not None and (r := t.radios.get(t.first_radio)) is not None and r.broker_ms is not None
    ]
    gw = [h["gateway_broker"] for radio in ("ble", "lora") for h in (hop_times(t, radio) for t in traces) if h]
    first = [t.push_ms - t.recognised_ms for t in traces if t.push_ms is not None and t.recognised_ms is not None]
    ratios = {
        "gateway_broker_p50_x_bare": _ratio(dist(gw)["p50"], bare["p50"]),
        "broker_to_screen_p50_x_bare": _ratio(dist(server)["p50"], bare["p50"]),
        "broker_to_screen_p95_x_bare": _ratio(dist(server)["p95"], bare["p95"]),
        "press_to_screen_p50_x_bare": _ratio(dist(first)["p50"], bare["p50"]),
        "press_to_screen_p95_x_bare": _ratio(dist(first)["p95"], bare["p95"]),
    }
    return {
        **meta,
        "mode": "realtime",
        "alarms": {
            "pressed": len(every),
            "by_kind": {k: sum(1 for t in every if t.kind == k) for k in ("sos", "escort", "duress")},
            "first_presses": len(traces),
            "false_alarms": sum(1 for t in traces if t.false_alarm),
            "recognised": sum(1 for t in traces if t.recognised_ms is not None),
            "incidents": sum(1 for t in traces if t.dispatch_ms is not None),
            "on_a_responder_screen": sum(1 for t in traces if t.push_ms is not None),
            "accepted": sum(1 for t in traces if t.accept_ms is not None),
            "acked_on_ring": sum(1 for t in traces if t.ack_ring_ms is not None),
            "help_on_ring": sum(1 for t in traces if t.help_ring_ms is not None),
            "cancelled_on_ring": sum(1 for t in traces if t.cancelled_ms is not None),
            "first_copy_by_radio": {r: sum(1 for t in traces if t.first_radio == r) for r in ("ble", "lora")},
        },
        "latency_ms": {**lat, "first_copy": {"press_to_screen": dist(first)}, "broker_to_screen": dist(server)},
        "bare_broker_hop_ms": bare,
        "ratios_to_bare_broker_hop": ratios,
    }


def ble_coverage(traces: list[LiveTrace], nearest_m: dict[int, float], reach_for: Any) -> dict[str, Any]:
    """BLE press -> screen for the alarms within a scanner's reliable range and for those beyond it.

    The radio's share of the budget is what the software leaves: 300 ms minus this run's own p95 of the hops after
    the gateway receive. ``reach_for(ms)`` gives the range at which 95 % of alarms are heard within that
    (simulator.ble_reach), and the scanner density that keeps every place within it."""
    rows = [(t, h) for t in traces if (h := hop_times(t, "ble")) is not None]
    software = [h["gateway_broker"] + h["broker_dispatch"] + h["push"] for _, h in rows]
    soft_p95 = pct(software, 95) or 0.0
    reach = reach_for(BUDGET_MS["ble"] - soft_p95)
    inside = [sum(h.values()) for t, h in rows if nearest_m.get(t.ring, math.inf) <= reach.range_m]
    beyond = [sum(h.values()) for t, h in rows if nearest_m.get(t.ring, math.inf) > reach.range_m]
    p95_in = pct(inside, 95)
    return {
        "software_p95_ms": soft_p95,
        "radio_allowance_ms": round(BUDGET_MS["ble"] - soft_p95, 1),
        "reliable_range_m": reach.range_m,
        "grid_spacing_m": reach.spacing_m,
        "scanners_per_km2": reach.per_km2,
        "within_range": dist(inside),
        "beyond_range": dist(beyond),
        "budget_met_within_range": None if p95_in is None else p95_in <= BUDGET_MS["ble"],
    }
