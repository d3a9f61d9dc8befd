"""Did each press reach a person? (docs/lifecycle.md, invariant a), judged from dispatch's own incident log.

A press (an SOS, an escort, a duress) reached a person when, within the offer timeout of its first copy reaching
dispatch, the incident that holds it was offered to a responder, accepted, or escalated to the operators (level 2);
whatever came before counts, so a press folded into an incident already offered or accepted reached one at once.
A press that the wearer genuinely cancelled (dispatch cancelled its incident, which it does only within the
cancel window) is not judged, nor one that no copy of ever reached dispatch ("never heard": the radio's part, not
dispatch's), nor one whose timeout falls after the run's end.

The same judgement serves both modes: the virtual-time engine hands in the log of the dispatch core it runs, the
real-time mode the log the real service committed (GET /api/v1/incidents/{id}). Pure: times are ms on one clock.
"""

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

REACHED, NOT_REACHED = "reached", "not_reached"
NEVER_HEARD, CANCELLED, UNJUDGED = "never_heard", "cancelled_in_window", "run_ended"
ESCALATED_LEVEL = 2
# What the wearer was shown, as the ring's feedback patterns name it.
SHOWN = ("received", "help", "unavailable", "closed", "cancelled")
# The ring's feedback patterns (firmware/feedback.py) that tell the wearer where their press stands, by those names.
SHOWN_AS = {
    "received": "received",
    "help": "help",
    "help_locator": "help",
    "unavailable": "unavailable",
    "closed": "closed",
    "cancelled": "cancelled",
    "not_reached": "not_reached",
}


@dataclass(frozen=True, slots=True)
class Entry:
    """One line of an incident's log: when (ms), its name ("opened", "offered", ...) and its data."""

    t_ms: float
    kind: str
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Press:
    ring: int
    device_id: int
    counter: int  # 0: the ring never put it on air
    kind: str  # sos | escort | duress
    act: str
    pressed_ms: float
    heard_ms: float | None  # a copy reached dispatch (by the mode's own wire records); None: never
    shown: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Verdict:
    press: Press
    verdict: str  # REACHED, NOT_REACHED, NEVER_HEARD, CANCELLED, UNJUDGED
    incident: str | None = None
    how: str = ""  # offered | accepted | escalated
    after_ms: float | None = None  # from the press's first copy at dispatch to the person
    why: str = ""


@dataclass
class Logs:
    """Every incident's log, and which press each names: the press that opened it, a press folded into it
    ("pressed_again") or a duress of it, each with the moment dispatch took it."""

    entries: dict[str, list[Entry]] = field(default_factory=dict)
    names: dict[tuple[int, int], tuple[str, float]] = field(default_factory=dict)  # (device, counter) -> (id, t)

    def add(self, incident_id: str, entry: Entry) -> None:
        self.entries.setdefault(incident_id, []).append(entry)
        device, _, counter = incident_id.rpartition("-")
        if entry.kind == "opened":
            self.names.setdefault((int(device), int(counter)), (incident_id, entry.t_ms))
        elif entry.kind in ("pressed_again", "duress") and "counter" in entry.data:
            self.names.setdefault((int(device), int(entry.data["counter"])), (incident_id, entry.t_ms))


def judge(press: Press, logs: Logs, offer_timeout_ms: float, end_ms: float) -> Verdict:
    named = logs.names.get((press.device_id, press.counter)) if press.counter else None
    if named is None:
        if press.heard_ms is None:
            return Verdict(press, NEVER_HEARD, why="no copy reached dispatch")
        return Verdict(press, NOT_REACHED, why="dispatch heard it but no incident holds it")
    incident, arrived = named
    entries = logs.entries[incident]
    if any(e.kind == "cancelled" for e in entries):
        return Verdict(press, CANCELLED, incident)
    deadline = arrived + offer_timeout_ms
    reach = [(e.t_ms, _how(e)) for e in entries if _how(e)]
    first = min(reach) if reach else None
    if first is not None and first[0] <= deadline:
        return Verdict(press, REACHED, incident, first[1], max(0.0, first[0] - arrived))
    if deadline > end_ms:
        return Verdict(press, UNJUDGED, incident, why="its offer timeout falls after the run's end")
    state = [e.data["state"] for e in entries if e.t_ms <= deadline and "state" in e.data]
    why = (
        f"{offer_timeout_ms / 1000:.0f} s after its first copy at dispatch, incident {incident} was "
        f"{state[-1] if state else 'open'}: offered to nobody, not accepted, not escalated"
    )
    if first is not None:
        why += f"; it reached a person {(first[0] - arrived) / 1000:.0f} s after ({first[1]})"
    return Verdict(press, NOT_REACHED, incident, why=why)


def _how(e: Entry) -> str:
    if e.kind in ("offered", "accepted"):
        return e.kind
    if e.kind == "escalated" and int(e.data.get("level", 0)) >= ESCALATED_LEVEL:
        return "escalated"
    return ""


def _share(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None


def _row(vs: list[Verdict]) -> dict[str, Any]:
    by = Counter(v.verdict for v in vs)
    judged = by[REACHED] + by[NOT_REACHED]
    shown = {name: sum(1 for v in vs if name in v.press.shown) for name in SHOWN}
    shown["nothing"] = sum(1 for v in vs if not set(v.press.shown) & set(SHOWN))
    return {
        "presses": len(vs),
        "never_heard": by[NEVER_HEARD],
        "cancelled_in_window": by[CANCELLED],
        "run_ended": by[UNJUDGED],
        "judged": judged,
        "reached": by[REACHED],
        "share": _share(by[REACHED], judged),
        "how": dict(Counter(v.how for v in vs if v.verdict == REACHED)),
        "shown": shown,
    }


def summarise(verdicts: Iterable[Verdict], offer_timeout_ms: float, out_of_hours_act: str) -> dict[str, Any]:
    vs = list(verdicts)
    acts = sorted({v.press.act for v in vs})
    late = [v.after_ms for v in vs if v.after_ms is not None]
    ooh = [v for v in vs if v.press.act == out_of_hours_act and v.verdict != NEVER_HEARD]
    heard_unavailable = sum(1 for v in ooh if "unavailable" in v.press.shown)
    return {
        "offer_timeout_s": offer_timeout_ms / 1000,
        **_row(vs),
        "slowest_to_a_person_ms": None if not late else round(max(late), 1),
        "by_act": {a: _row([v for v in vs if v.press.act == a]) for a in acts},
        "not_reached": [_listed(v) for v in vs if v.verdict == NOT_REACHED],
        "never_heard_presses": [_listed(v) for v in vs if v.verdict == NEVER_HEARD],
        "escorts_out_of_hours": {
            "heard_by_dispatch": len(ooh),
            "heard_unavailable": heard_unavailable,
            "share": _share(heard_unavailable, len(ooh)),
        },
    }


def _listed(v: Verdict) -> dict[str, Any]:
    p = v.press
    return {
        "ring": p.ring,
        "act": p.act,
        "counter": p.counter,
        "pressed_s": round(p.pressed_ms / 1000, 1),
        "incident": v.incident,
        "why": v.why,
    }
