"""Incident lifecycle (pure): states, allowed transitions, and the append-only event log's entries.

open -> offered -> accepted -> on_the_way -> resolved, or cancelled, or escalated (which can still be offered
and accepted). The service changes an incident only through :func:`transition`, so the event log and the state
can never disagree. docs/lifecycle.md draws the whole alarm, key ring included.
"""

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class State(StrEnum):
    OPEN = "open"
    OFFERED = "offered"
    ACCEPTED = "accepted"
    ON_THE_WAY = "on_the_way"
    RESOLVED = "resolved"
    CANCELLED = "cancelled"
    ESCALATED = "escalated"


class Kind(StrEnum):
    SOS = "sos"
    ESCORT = "escort"
    # A welfare check logged by an operator from a phone call ("I am worried about ..."): no ring has it.
    WORRIED = "worried"


TERMINAL = frozenset({State.RESOLVED, State.CANCELLED})
ACTIVE = frozenset(State) - TERMINAL
_WAITING = {State.OFFERED, State.ACCEPTED, State.CANCELLED, State.ESCALATED, State.RESOLVED}
TRANSITIONS: dict[State, frozenset[State]] = {
    State.OPEN: frozenset(_WAITING),
    State.OFFERED: frozenset(_WAITING),
    State.ESCALATED: frozenset(_WAITING),
    State.ACCEPTED: frozenset({State.ACCEPTED, State.ON_THE_WAY, State.RESOLVED, State.CANCELLED}),
    State.ON_THE_WAY: frozenset({State.ON_THE_WAY, State.RESOLVED, State.CANCELLED}),
    State.RESOLVED: frozenset(),
    State.CANCELLED: frozenset(),
}


class TransitionError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Event:
    incident_id: str
    at_ms: int
    kind: str
    data: dict[str, Any] = field(default_factory=dict)


# Incidents an operator logs from a phone call have a device id from here up: key rings' ids are 32 bits
# (SPEC 4), so no ring's incident can ever share an intake's id, and the code that reads a device from an id
# (the replicas' lock) works unchanged. No key ring exists for these ids: nothing is ever sent to one.
INTAKE_DEVICE_BASE = 1 << 32


def from_ring(device_id: int) -> bool:
    return device_id < INTAKE_DEVICE_BASE


def incident_id(device_id: int, counter: int) -> str:
    """Deterministic: a redelivered uplink after a crash maps to the same incident, never a second one."""
    return f"{device_id}-{counter}"


@dataclass(slots=True)
class Incident:
    id: str
    device_id: int
    counter: int
    kind: Kind
    state: State
    opened_ms: int
    press_ms: int
    forced: bool = False  # a DURESS cancel: looks cancelled to the wearer, stays open here
    lat: float | None = None
    lon: float | None = None
    radius_m: float | None = None
    battery: int | None = None
    updated_ms: int = 0
    offered_to: list[str] = field(default_factory=list)
    accepted_by: list[str] = field(default_factory=list)
    declined_by: list[str] = field(default_factory=list)
    escalation: int = 0  # 0 none, 1 broadcast to the radius, 2 operators and webhook
    referral: str | None = None
    # The counter of the wearer's latest press folded into this incident: the one alarm the key ring listens
    # for, so every change the ring must feel goes to it (lifecycle.py).
    ring_counter: int = 0
    # The counter of the wearer's latest cancel or duress of it: when it is above ``ring_counter`` the ring is
    # quiet and is told nothing more, until the wearer presses again.
    quiet_counter: int = 0
    unavailable: bool = False  # nobody could take it: the ring was told "call 112" and the operators saw it
    presses: int = 1  # presses folded into this incident, rate-limited ones included
    eta_min: int = 0  # the first accepting responder's estimate, sent with "help on the way"
    # A phone call an operator logged (intake.py); None on a key ring's incident.
    callback_number: str | None = None
    caller_name: str | None = None
    address: str | None = None
    notes: str | None = None
    # How a request without a ring came in: "phone" (an operator logged a call), "walk" (the public page),
    # "telephony" or "sms" (the signed hook). Where a walk-me-home request is going.
    source: str | None = None
    destination: str | None = None
    # When the responder on the way said they are with the person: the person's own page says so (walk.py).
    arrived_ms: int = 0

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "id": self.id,
            "device_id": self.device_id,
            "counter": self.counter,
            "kind": self.kind.value,
            "state": self.state.value,
            "forced": self.forced,
            "opened_ms": self.opened_ms,
            "press_ms": self.press_ms,
            "updated_ms": self.updated_ms,
            "location": None if self.lat is None else {"lat": self.lat, "lon": self.lon, "radius_m": self.radius_m},
            "battery": self.battery,
            "offered_to": list(self.offered_to),
            "accepted_by": list(self.accepted_by),
            "declined_by": list(self.declined_by),
            "escalation": self.escalation,
            "referral": self.referral,
            "ring_counter": self.ring_counter,
            "quiet_counter": self.quiet_counter,
            "unavailable": self.unavailable,
            "presses": self.presses,
            "eta_min": self.eta_min,
            "arrived_ms": self.arrived_ms,
        }
        if self.callback_number is not None:
            doc["source"] = self.source or "phone"
            doc["callback_number"] = self.callback_number
            doc["caller_name"] = self.caller_name
            doc["address"] = self.address
            doc["notes"] = self.notes
            doc["destination"] = self.destination
        return doc


def transition(inc: Incident, to: State, at_ms: int, name: str, **data: Any) -> Event:
    """Move ``inc`` to ``to`` (or keep it there) and return the log entry; refuses a move the lifecycle forbids."""
    if to not in TRANSITIONS[inc.state]:
        raise TransitionError(f"{inc.id}: {inc.state} -> {to} is not allowed")
    inc.state = to
    inc.updated_ms = at_ms
    return Event(inc.id, at_ms, name, {"state": to.value, **data})


def note(inc: Incident, at_ms: int, name: str, **data: Any) -> Event:
    """A log entry that changes no state (a copy heard, a push sent, a location refined)."""
    inc.updated_ms = at_ms
    return Event(inc.id, at_ms, name, data)
