"""What the key ring is told about its alarm (pure): the one place that maps an incident to an ACK state and
sends it, so that the ring and dispatch cannot disagree (docs/lifecycle.md).

The ring listens for one alarm at a time: the counter of the wearer's latest press (``Incident.ring_counter``).
Every change the wearer must feel (help accepted, nobody available, the alarm over) goes to that counter, through
the LoRa gateway that heard it best. After a cancel or a duress the ring is quiet and is told nothing more until
the wearer presses again.
"""

import logging
from typing import Any

from basestation.dispatch.core.effects import AckSent, Downlink, Effects
from basestation.dispatch.core.incidents import Incident, State, from_ring, note
from basestation.dispatch.core.state import DispatchState, Recent
from protocol import ack, constants
from protocol.keys import DeviceKeys

log = logging.getLogger("nightwatch.dispatch.lifecycle")

REACK_MS = 2000  # copies of one retry heard by several gateways within this get one answer between them

# The states an incident waits for a responder in: the ones ``assignment.plan`` acts in, and in which "nobody
# can come" is decided.
PLANNED = frozenset({State.OPEN, State.OFFERED, State.ESCALATED})
# The frames whose answer the wearer waits for, by ``Recent.event``: their ACKs are never dropped on the way out.
ALARM_EVENTS = frozenset({"sos", "escort", "cancel", "duress"})


def ring_listening(inc: Incident) -> bool:
    """Whether the ring still listens for this incident: its latest press came after its latest cancel."""
    return inc.ring_counter > inc.quiet_counter


def ring_state(inc: Incident) -> int:
    """The ACK state that tells the wearer the truth about ``inc`` now (docs/lifecycle.md, "What the wearer feels").

    A quiet ring (after a cancel, and by design after a duress) is only ever told "cancelled": after a duress a
    coercer watching the ring must see nothing that says the alarm lives on."""
    if not ring_listening(inc) or inc.state == State.CANCELLED:
        return constants.ACK_CANCELLED
    if inc.state == State.RESOLVED:
        return constants.ACK_CLOSED
    if inc.accepted_by:
        return constants.ACK_HELP_ON_THE_WAY
    if inc.unavailable:
        return constants.ACK_UNAVAILABLE
    return constants.ACK_RECEIVED


def copy_state(inc: Incident, counter: int) -> int | None:
    """The answer to a retried copy of press ``counter`` of ``inc``; None when the ring no longer listens for it
    (it pressed again since, so its newer counter carries the answer)."""
    if counter == inc.ring_counter or not ring_listening(inc):
        return ring_state(inc)
    return None


def nobody_can_come(inc: Incident) -> bool:
    """Nobody accepted it and everyone it was offered to declined (or it was offered to nobody): called when the
    plan found nobody new to offer it to. An offer that timed out unanswered is not a "no": that responder may
    still accept, and the clock broadcasts and escalates meanwhile."""
    if inc.state not in PLANNED or inc.accepted_by:
        return False
    return all(o in inc.declined_by for o in inc.offered_to)


def queue_ack(
    st: DispatchState,
    eff: Effects,
    device_id: int,
    counter: int,
    recent: Recent,
    state: int,
    gateway_id: str,
    now_ms: int,
    eta_min: int = 0,
    keys: DeviceKeys | None = None,
) -> bool:
    """Queue one ACK for ``counter`` through ``gateway_id`` with the next seq, stored before it is sent."""
    seq = recent.acks
    if seq > constants.ACK_SEQ_MAX:
        # SPEC 6: seq never wraps. The ring's next press takes a new counter, which starts again at 0.
        st.acks_withheld += 1
        log.warning("device %s counter %s: all ACK numbers used; no more ACKs for it", device_id, counter)
        return False
    recent.acks = seq + 1
    recent.ack_state, recent.acked_ms = state, now_ms
    eff.durable.append(AckSent(device_id, counter, seq))
    k = keys if keys is not None else st.resolver.keys(device_id)
    answer = ack.Ack(counter, state, seq, min(255, max(0, eta_min)))
    msg_id, heard = f"{device_id}-{counter}-{seq}", recent.frame

    def payload() -> dict[str, Any]:
        # Encoded when the downlink is sent, after the commit: the alarm's push goes out first.
        return {"id": msg_id, "frame": ack.encode(k, answer).hex(), "uplink": heard.hex()}

    alarm = recent.event in ALARM_EVENTS or recent.incident_id is not None
    eff.downlinks.append(Downlink(gateway_id, make=payload, alarm=alarm))
    return True


def best_lora(recent: Recent) -> str | None:
    """The LoRa gateway that heard the frame best (BLE gateways only listen)."""
    lora = [(rssi if rssi is not None else -999.0, gw) for gw, (radio, rssi) in recent.heard.items() if radio == "lora"]
    return max(lora)[1] if lora else None


def tell_ring(st: DispatchState, inc: Incident, now_ms: int, eff: Effects) -> None:
    """Send the ring the incident's state now, on its latest press's counter (a change it must feel). A phone
    intake has no ring: it is told nothing."""
    if not from_ring(inc.device_id) or not ring_listening(inc) or inc.device_id not in st.resolver:
        return
    recent = st.recent.get((inc.device_id, inc.ring_counter))
    if recent is None:
        return
    state = ring_state(inc)
    gateway = best_lora(recent)
    if gateway is None:
        # Heard over BLE only so far: the answer is owed, and the first LoRa copy carries it down.
        recent.ack_state, recent.acked_ms = state, now_ms - REACK_MS
        return
    eta = inc.eta_min if state == constants.ACK_HELP_ON_THE_WAY else 0
    if queue_ack(st, eff, inc.device_id, inc.ring_counter, recent, state, gateway, now_ms, eta):
        eff.durable.append(note(inc, now_ms, "ack_queued", state=constants.ACK_STATE_NAMES[state], gateway=gateway))
