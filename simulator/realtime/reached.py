"""Did each press of a real-time run reach a person? Judged (simulator/reach.py) against the incident log the real
service committed, read back through its API as the operators read it, on the run's one clock."""

from typing import Any

from simulator.alarm_plan import DURESS_WORD, ESCORT_OUT_OF_HOURS
from simulator.reach import Entry, Logs, judge
from simulator.reach import Press as ReachPress
from simulator.reach import summarise as summarise_reach
from simulator.realtime.clock import WallClock
from simulator.realtime.load import Press
from simulator.trace import LiveTrace

OFFER_TIMEOUT_MS = 30_000.0  # the service's offer timeout (DispatchSettings.offer_timeout_s, not changed here)


def reach(
    traces: list[LiveTrace],
    events: dict[str, list[dict[str, Any]]],
    clock: WallClock,
    end_ms: float,
    plan: dict[str, int],
) -> dict[str, Any]:
    """Each press judged against the incident log the real service committed (simulator/reach.py)."""
    logs = Logs()
    for incident, rows in events.items():
        for row in rows:
            logs.add(
                incident, Entry(clock.from_unix_ms(float(row["at_ms"])), str(row["kind"]), dict(row["data"] or {}))
            )
    verdicts = [judge(_press_of(t), logs, OFFER_TIMEOUT_MS, end_ms) for t in traces]
    out = summarise_reach(verdicts, OFFER_TIMEOUT_MS, ESCORT_OUT_OF_HOURS)
    out["planned"] = plan
    return out


def _press_of(t: LiveTrace) -> ReachPress:
    heard = [r.broker_ms for r in t.radios.values() if r.broker_ms is not None]
    return ReachPress(
        t.ring, t.device_id, t.counter, t.kind, t.act, t.pressed_ms, min(heard, default=None), tuple(t.shown)
    )


def planned(presses: list[Press]) -> dict[str, int]:
    """Presses the plan asks for by act; second holds only come if the ring hears help, or the alarm is resolved."""
    out: dict[str, int] = {}
    for p in presses:
        for act in (p.act, DURESS_WORD if p.duress_at_s is not None else "", p.again):
            if act:
                out[act] = out.get(act, 0) + 1
    return out
