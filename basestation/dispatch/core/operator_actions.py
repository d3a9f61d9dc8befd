"""What an operator does to an incident by hand (pure over the state, in the style of actions.py): escalate it now
instead of waiting for the clock, or offer it to a responder they chose. Each returns the effects to carry out; a
request the lifecycle forbids raises ActionError, which the API turns into a 409."""

from basestation.dispatch.core.actions import ActionError, offer
from basestation.dispatch.core.effects import Effects
from basestation.dispatch.core.incidents import Incident, State, TransitionError, from_ring, note, transition
from basestation.dispatch.core.intake import CLICK_RADIUS_M
from basestation.dispatch.core.offers import ESCALATED
from basestation.dispatch.core.pipeline import UplinkPipeline
from basestation.dispatch.core.state import DispatchState


def _waiting(st: DispatchState, incident_id: str) -> Incident:
    inc = st.incidents.get(incident_id)
    if inc is None:
        raise ActionError("no such incident")
    if not inc.active:
        raise ActionError(f"incident is {inc.state.value}")
    return inc


def escalate(
    st: DispatchState, incident_id: str, now_ms: int, pipeline: UplinkPipeline, operator: str | None = None
) -> Effects:
    """Escalate now: the monitoring centre is told (the notifier sends the escalation webhook on level 2), and
    everyone on duty within the broadcast radius is offered the alarm at once, as the clock would after
    ``broadcast_after``. An accepted incident has its help: there is nothing to escalate."""
    inc = _waiting(st, incident_id)
    if inc.state in (State.ACCEPTED, State.ON_THE_WAY):
        raise ActionError("already accepted: help is on the way")
    if inc.escalation >= ESCALATED:
        raise ActionError("already escalated")
    eff = Effects()
    try:
        who = {"by": "operator"} if operator is None else {"by": "operator", "operator": operator}
        eff.durable.append(transition(inc, State.ESCALATED, now_ms, "escalated", level=ESCALATED, **who))
    except TransitionError as e:
        raise ActionError(str(e)) from None
    inc.escalation = ESCALATED
    offer(st, pipeline, inc, now_ms, eff)
    eff.snapshot(inc)
    return eff


def assign(st: DispatchState, incident_id: str, responder_id: str, now_ms: int) -> Effects:
    """Offer the incident to one responder the operator picked (say, after a phone call), even one who declined
    or is off duty: a person chose them. Offering never takes it from anyone it was offered to."""
    inc = _waiting(st, incident_id)
    if responder_id not in st.responders:
        raise ActionError("no such responder")
    if responder_id in inc.accepted_by:
        raise ActionError("that responder already accepted")
    if responder_id in inc.offered_to and responder_id not in inc.declined_by:
        raise ActionError("already offered to that responder")
    if responder_id in inc.declined_by:
        inc.declined_by.remove(responder_id)
    if responder_id not in inc.offered_to:
        inc.offered_to.append(responder_id)
    st.last_offer_ms[inc.id] = now_ms
    to = State.OFFERED if inc.state == State.OPEN else inc.state
    eff = Effects()
    eff.durable.append(transition(inc, to, now_ms, "offered", responders=[responder_id], by="operator"))
    eff.snapshot(inc)
    return eff


def place(
    st: DispatchState,
    incident_id: str,
    lat: float,
    lon: float,
    now_ms: int,
    pipeline: UplinkPipeline,
    operator: str | None = None,
) -> Effects:
    """Put a request without a ring where the operator found it on the map (a caller gave only an address, or the
    walk-me-home page only words). Nobody has taken it yet: it is offered to whoever is nearest to that point now,
    besides those already offered it. A ring's alarm is placed by the gateways that heard it, never by hand."""
    inc = _waiting(st, incident_id)
    if from_ring(inc.device_id):
        raise ActionError("a key ring's alarm is placed by the gateways that heard it")
    inc.lat, inc.lon, inc.radius_m = lat, lon, CLICK_RADIUS_M
    inc.updated_ms = now_ms
    eff = Effects()
    who = {"by": "operator"} if operator is None else {"by": "operator", "operator": operator}
    eff.durable.append(note(inc, now_ms, "located", lat=lat, lon=lon, radius_m=CLICK_RADIUS_M, **who))
    if not inc.accepted_by:
        # Whoever it was offered to at an unknown distance may be across town: the nearest to the place is asked
        # now, without waiting for that offer to time out.
        st.last_offer_ms.pop(inc.id, None)
        offer(st, pipeline, inc, now_ms, eff)
    eff.snapshot(inc)
    return eff
