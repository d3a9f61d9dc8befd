"""Offering an incident: the assignment plan applied once, and what follows when nobody can come (pure: no I/O).

An alarm's first copy offers it (decisions.py), and so do the clock, a responder's decline and an operator's
escalation (actions.py); each gets its effects back in ``effects``.
"""

from basestation.dispatch.core.assignment import plan
from basestation.dispatch.core.effects import Effects, NoticeRow, notice_push
from basestation.dispatch.core.incidents import Incident, State, note, transition
from basestation.dispatch.core.lifecycle import nobody_can_come
from basestation.dispatch.core.state import DispatchState

ESCALATED = 2  # Incident.escalation: operators and the monitoring centre's webhook


def offer(st: DispatchState, inc: Incident, now_ms: int, effects: Effects, busy: set[str] | None = None) -> None:
    """Run the assignment plan once: offer to whoever it names now, escalate if it says so. ``busy`` is
    ``state.busy()`` when the caller already has it (the clock offers for every incident in one pass).

    When nobody can take it, the operators are told at once and the incident is marked ``unavailable``; the
    caller tells the ring ("nobody can come: call 112"), as the ACK it was about to send or as a change."""
    if busy is None:
        busy = st.busy()
    p = plan(inc, list(st.responders.values()), now_ms, st.last_offer_ms.get(inc.id, 0), st.policy, busy, st.zones)
    if p.escalate_to > inc.escalation:
        inc.escalation = p.escalate_to
        if p.escalate_to >= ESCALATED and inc.state != State.ESCALATED:
            effects.durable.append(transition(inc, State.ESCALATED, now_ms, "escalated", level=2))
        else:
            effects.durable.append(note(inc, now_ms, "broadcast", level=p.escalate_to))
    fresh = [r for r in p.offer if r not in inc.offered_to]
    if fresh:
        inc.offered_to.extend(fresh)
        st.last_offer_ms[inc.id] = now_ms
        # Its timeout goes on the clock's heap now (actions.deadline_slices), not at the clock's next pass.
        st.push_deadline(now_ms + st.policy.offer_timeout_ms, inc.id)
        to = State.OFFERED if inc.state == State.OPEN else inc.state
        effects.durable.append(transition(inc, to, now_ms, "offered", responders=fresh))
    elif not inc.unavailable and nobody_can_come(inc):
        inc.unavailable = True
        effects.durable.append(note(inc, now_ms, "unavailable"))
        if inc.escalation < ESCALATED:
            inc.escalation = ESCALATED
            effects.durable.append(transition(inc, State.ESCALATED, now_ms, "escalated", level=2, by="unavailable"))
        row = NoticeRow("unavailable", inc.id, now_ms, {"kind": inc.kind.value, "device_id": inc.device_id})
        effects.durable.append(row)
        effects.pushes.append(notice_push(row))
