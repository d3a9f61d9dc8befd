"""A phone call an operator logs becomes an incident like any other (pure over the state, like actions.py): it is
offered to the nearest on-duty responders, accepted, on the way, resolved, with the same log, pushes and webhooks.
No key ring is involved, so none is ever told anything (lifecycle.tell_ring).

Ids: an intake's device id is drawn from ``INTAKE_DEVICE_BASE`` up, above every ring's 32-bit id, with counter 0
(docs/dispatch.md, "Phone intake").
"""

import secrets
from dataclasses import dataclass

from basestation.dispatch.core.actions import ActionError
from basestation.dispatch.core.effects import Effects
from basestation.dispatch.core.incidents import INTAKE_DEVICE_BASE, Incident, Kind, State, incident_id, note
from basestation.dispatch.core.pipeline import UplinkPipeline
from basestation.dispatch.core.state import DispatchState

# What the caller asks for, as the board names it, to the incident kind that has the same assignment rules.
KINDS = {"emergency": Kind.SOS, "escort": Kind.ESCORT, "worried": Kind.WORRIED}
# Room for this many intakes a millisecond from one process, each with a random low part so that two replicas
# taking a call in the same millisecond do not pick the same number.
_SPREAD = 1024
# A point clicked on the board's map is where the caller said they are, to a street or so: shown as that circle.
CLICK_RADIUS_M = 50.0


class IdTakenError(ActionError):
    """Another replica opened an intake with this id first (it re-read it under the id's lock): take the next."""


@dataclass(frozen=True, slots=True)
class Call:
    kind: str  # a key of KINDS
    callback_number: str
    caller_name: str | None = None
    lat: float | None = None
    lon: float | None = None
    address: str | None = None
    notes: str | None = None
    source: str = "phone"  # or "walk", "telephony", "sms": see Incident.source
    destination: str | None = None


class IntakeIds:
    """Fresh intake incident ids, strictly increasing in this process."""

    def __init__(self) -> None:
        self._last = 0

    def next(self, now_ms: int) -> str:
        n = max(self._last + 1, now_ms * _SPREAD + secrets.randbelow(_SPREAD))
        self._last = n
        return incident_id(INTAKE_DEVICE_BASE + n, 0)


def open_call(
    st: DispatchState, new_id: str, call: Call, operator: str | None, now_ms: int, pipeline: UplinkPipeline
) -> Effects:
    """Open the incident ``new_id`` for ``call`` and offer it at once. Without a position (an address only) it is
    offered to responders at an unknown distance, as a ring's alarm not yet located is, until an operator places
    it. ``operator`` names the operator who took the call, when their grant names one."""
    if new_id in st.incidents:
        raise IdTakenError(new_id)
    device_id = int(new_id.split("-", 1)[0])
    inc = Incident(
        id=new_id,
        device_id=device_id,
        counter=0,
        kind=KINDS[call.kind],
        state=State.OPEN,
        opened_ms=now_ms,
        press_ms=now_ms,
        lat=call.lat,
        lon=call.lon,
        radius_m=None if call.lat is None else CLICK_RADIUS_M,
        updated_ms=now_ms,
        callback_number=call.callback_number,
        caller_name=call.caller_name,
        address=call.address,
        notes=call.notes,
        source=call.source,
        destination=call.destination,
    )
    st.incidents[inc.id] = inc
    st.open_by_device[device_id] = inc.id
    eff = Effects()
    who = {"by": "operator" if call.source == "phone" else "caller"}
    if operator is not None:
        who["operator"] = operator
    eff.durable.append(note(inc, now_ms, "opened", kind=inc.kind.value, source=call.source, request=call.kind, **who))
    pipeline.offer(inc, now_ms, eff)
    eff.snapshot(inc)
    return eff
