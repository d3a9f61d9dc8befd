"""What removing a responder, or revoking their last sign-in, does to the incidents they were part of (pure over
the state, as actions.py).

A responder who can no longer come (removed, or left with no way to sign in and so off duty) is never offered
anything again, and is stood down from every open incident that names them:
an offer to them is withdrawn (they no longer see it), and an incident they had accepted goes back to waiting for
help, offered at once to the nearest who can come, or escalated when nobody can. The wearer's ring is told, so
it no longer says help is on the way when nobody is.
"""

from typing import Any

from basestation.dispatch.core.actions import offer
from basestation.dispatch.core.effects import Effects, Push
from basestation.dispatch.core.incidents import Event, State
from basestation.dispatch.core.lifecycle import tell_ring
from basestation.dispatch.core.offers import ESCALATED
from basestation.dispatch.core.pipeline import UplinkPipeline
from basestation.dispatch.core.state import DispatchState


def forget_device(st: DispatchState, device_id: int) -> None:
    """Take a removed ring out of memory: its key and window, every list that shows it, and its recent frames, so
    that a recording of one is not taken for a copy of it (and answered) if the id is registered again."""
    if device_id in st.resolver:
        st.resolver.remove(device_id)
    st.devices.pop(device_id, None)
    for key in [k for k in st.recent if k[0] == device_id]:
        frame = st.recent.pop(key).frame
        if frame and st.by_pseudonym.get(frame[1:7]) == key:
            del st.by_pseudonym[frame[1:7]]


def forget(st: DispatchState, kind: str, data: dict[str, Any]) -> None:
    """Apply another replica's ``responder_removed`` or ``gateway_removed`` to this one's memory."""
    if kind == "responder_removed":
        st.responders.pop(data["id"], None)
        st.former[data["id"]] = data["name"]
    else:
        st.gateways.pop(data["id"], None)
        st.removed_gateways.add(data["id"])


def shown(kind: str, data: dict[str, object]) -> Effects:
    """A registry change on the operators' live streams (``registry``): every board's registries follow it at once,
    on every replica, not at their next refresh."""
    eff = Effects()
    eff.pushes.append(Push("registry", {"kind": kind, **data}))
    return eff


def names_in(st: DispatchState, responder_id: str) -> list[str]:
    """The open incidents offered to or accepted by ``responder_id``."""
    return [
        inc.id
        for inc in st.incidents.values()
        if inc.active and (responder_id in inc.offered_to or responder_id in inc.accepted_by)
    ]


def stand_down(
    st: DispatchState,
    incident_id: str,
    responder_id: str,
    now_ms: int,
    pipeline: UplinkPipeline,
    why: str = "removed",
    operator: str | None = None,
) -> Effects:
    """Take a responder who can no longer come off one incident: ``why`` is ``removed`` or ``revoked``,
    ``operator`` names who did it when known (the audit trail says so, as for the other operator actions).

    Call it once they can no longer be offered anything (out of ``st.responders``, or off duty), so that the
    offer made here cannot go to them again. Nothing to do (an incident over meanwhile, or not naming them) is no
    error.
    """
    eff = Effects()
    inc = st.incidents.get(incident_id)
    if inc is None or not inc.active:
        return eff
    was_coming = responder_id in inc.accepted_by
    if not was_coming and responder_id not in inc.offered_to:
        return eff
    inc.offered_to = [r for r in inc.offered_to if r != responder_id]
    inc.declined_by = [r for r in inc.declined_by if r != responder_id]
    inc.accepted_by = [r for r in inc.accepted_by if r != responder_id]
    data: dict[str, object] = {"responder": responder_id, "by": "operator", "why": why}
    if operator is not None:
        data["operator"] = operator
    if was_coming and not inc.accepted_by:
        # Nobody is coming any more. The lifecycle has no way back from accepted (a responder cannot take back
        # an accept), so this entry names the state it returns to: the log and the state still agree.
        inc.state = State.ESCALATED if inc.escalation >= ESCALATED else State.OFFERED
        inc.eta_min = 0
        inc.arrived_ms = 0
        data["state"] = inc.state.value
        st.last_offer_ms.pop(inc.id, None)  # the next nearest is asked now, not after an offer timeout
        st.planned.pop(inc.id, None)
    inc.updated_ms = now_ms
    eff.durable.append(Event(inc.id, now_ms, "stood_down", data))
    told = inc.unavailable
    if inc.state in (State.OPEN, State.OFFERED, State.ESCALATED):
        offer(st, pipeline, inc, now_ms, eff)  # which tells the ring itself when it finds nobody can come
    if was_coming and not inc.accepted_by and inc.unavailable == told:
        tell_ring(st, inc, now_ms, eff)  # "received" again, or "nobody can come": no longer "help on the way"
    eff.snapshot(inc)
    return eff
