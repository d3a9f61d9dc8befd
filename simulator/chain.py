"""The hops from a press to a responder's screen, as each clock measures them, and the budget they are held to.

The budget (issue 7) runs from the recognised SOS to the responder's screen: p95 within 300 ms over BLE and 600 ms
over LoRa at SF9; rings at other SFs are held to the same 600 ms, per SF. Per radio, the chain is that of the first
copy to reach dispatch over that radio, so each radio is judged as if it were the only one; "first" is the real
run, both radios at once. In real time dispatch is a black box: the moment it decoded the first copy (the
incident's ``opened_ms``) is visible, the moments it handled later copies are not, so an alarm's broker ->
dispatch hop is the one its first copy took, whichever radio brought it.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np

from simulator.trace import AlarmTrace, LiveTrace, PressTrace

BUDGET_MS = {"ble": 300.0, "lora": 600.0}
RADIOS = ("ble", "lora")
T = TypeVar("T", bound=PressTrace)


def _spans(spans: dict[str, tuple[float | None, float | None]]) -> dict[str, float] | None:
    """Each hop's time from its first stamp to its last, or None when any stamp is missing."""
    out: dict[str, float] = {}
    for hop, (start, end) in spans.items():
        if start is None or end is None:
            return None
        out[hop] = end - start
    return out


def virtual_hop_times(t: AlarmTrace, radio: str) -> dict[str, float] | None:
    """The hops of ``t`` over ``radio``, or None when that radio never got a copy to dispatch."""
    p = t.radios[radio]
    return _spans(
        {
            "firmware": (t.recognised_ms, p.on_air_ms),
            "air": (p.on_air_ms, p.gateway_rx_ms),
            "gateway": (p.gateway_rx_ms, p.gateway_out_ms),
            "backhaul": (p.gateway_out_ms, p.broker_ms),
            "broker_dispatch": (p.broker_ms, p.dispatch_ms),
            # The push does not depend on the radio that brought the alarm.
            "push": (t.accepted_ms, t.screen_ms),
        }
    )


def live_hop_times(t: LiveTrace, radio: str) -> dict[str, float] | None:
    r, first = t.radios[radio], t.radios.get(t.first_radio)
    return _spans(
        {
            "firmware": (t.recognised_ms, r.on_air_ms),
            "air": (r.on_air_ms, r.gateway_rx_ms),
            "gateway_broker": (r.gateway_rx_ms, r.broker_ms),
            "broker_dispatch": (None if first is None else first.broker_ms, t.dispatch_ms),
            "push": (t.dispatch_ms, t.push_ms),
        }
    )


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


def count(traces: Sequence[PressTrace], what: Callable[[Any], object]) -> int:
    return sum(1 for t in traces if what(t))


def by_kind(traces: Sequence[PressTrace]) -> dict[str, int]:
    return {k: sum(1 for t in traces if t.kind == k) for k in ("sos", "escort", "duress")}


def by_first_radio(traces: Sequence[PressTrace]) -> dict[str, int]:
    return {r: sum(1 for t in traces if t.first_radio == r) for r in RADIOS}
