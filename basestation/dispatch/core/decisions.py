"""What an uplink that passed the pipeline's steps does to the incidents (pure: no I/O).

``act`` takes a new frame: an alarm opens its incident or is folded into the open one, a cancel or a duress acts on
the incident it names, supervision frames warn of a low battery and answer a test. ``copy`` takes another copy of a
frame accepted lately: it notes which gateway heard it, refines the incident's location, answers a retry again, and
does nothing more for a recording played back. Both put their effects on the uplink's ``Context``.
"""

from basestation.dispatch.core.context import Context
from basestation.dispatch.core.effects import FrameSeen, NoticeRow, ReceptionRow, notice_push
from basestation.dispatch.core.geo import locate
from basestation.dispatch.core.incidents import Incident, Kind, State, incident_id, note, transition
from basestation.dispatch.core.lifecycle import PLANNED, REACK_MS, copy_state, queue_ack, ring_state
from basestation.dispatch.core.offers import ESCALATED, offer
from basestation.dispatch.core.outcomes import Outcome
from basestation.dispatch.core.state import DispatchState, Recent
from protocol import uplink
from protocol.constants import (
    ACK_CANCELLED,
    ACK_RECEIVED,
    EVENT_CANCEL,
    EVENT_DURESS,
    EVENT_ESCORT,
    EVENT_LOW_BATTERY,
    EVENT_NAMES,
    EVENT_SOS,
    EVENT_TEST,
    FLAG_ACK_REQUESTED,
)
from protocol.errors import FrameError

LOW_BATTERY_PCT = 15
SAME_TRANSMISSION_MS = 5000  # copies of one transmission reach every gateway within this, spools excepted
COPIES_KEPT = 16  # distinct frames of one counter whose first receive time is kept: a ring retries fewer
AGE_SATURATED = 0xFFFF  # an uplink's age field at its top: older than it can say (SPEC 4.1)


def act(st: DispatchState, ctx: Context) -> None:
    """A new frame, through every step: what its event does, then the frame kept (``FrameSeen``)."""
    up, rec = ctx.up, ctx.reception
    assert up is not None and rec is not None
    recent = st.recent.get((ctx.device_id, ctx.counter))
    if recent is None:
        recent = Recent(EVENT_NAMES[up.event], None, ctx.now_ms, {rec.gateway_id: (rec.radio, rec.rssi)}, rec.frame)
        recent.age, recent.press_rx_ms = up.age, rec.rx_time_ms - up.age * 1000
        st.remember((ctx.device_id, ctx.counter), recent, ctx.now_ms)
    if up.event in (EVENT_SOS, EVENT_ESCORT):
        _alarm(st, ctx, recent)
    elif up.event == EVENT_CANCEL:
        _cancel(st, ctx, recent, forced=False)
    elif up.event == EVENT_DURESS:
        _cancel(st, ctx, recent, forced=True)
    else:
        _supervision(st, ctx)
    # The bytes are kept for what a restart must still answer: an incident's frames (they route its ACKs) and
    # cancels (retried until answered). Other frames' copies after a restart cannot be told from recordings,
    # so they are not answered (docs/lifecycle.md, "Restarts").
    frame = rec.frame if recent.incident_id or up.event in (EVENT_CANCEL, EVENT_DURESS) else None
    ctx.effects.durable.append(
        FrameSeen(ctx.device_id, ctx.counter, recent.event, ctx.now_ms, recent.incident_id, frame, recent.press_rx_ms)
    )


def copy(st: DispatchState, ctx: Context, recent: Recent) -> None:
    """A duplicate: note which gateway heard it, and refine the incident's location if it has one."""
    rec = ctx.reception
    assert rec is not None
    inc = st.incidents.get(recent.incident_id) if recent.incident_id else None
    # A recording played back elsewhere would drag the location to the attacker, and answering it would spend
    # airtime and ACK numbers: it counts as a copy, and nothing more.
    if _recorded(st, ctx, recent):
        return
    best = recent.heard.get(rec.gateway_id)
    if best is None or (rec.rssi is not None and (best[1] is None or rec.rssi > best[1])):
        recent.heard[rec.gateway_id] = (rec.radio, rec.rssi)
    if inc is not None and _reception(st, ctx, inc, recent):
        ctx.effects.snapshot(inc)
    # A retry means the ring did not hear our ACK: answer again, with the state as it is now. Copies of one
    # retry heard by several gateways within REACK_MS get one answer between them. An alarm's copies are
    # always answered (docs/lifecycle.md); other frames only if they asked for an ACK.
    owed = inc is not None or recent.ack_state is not None
    if not owed or rec.radio != "lora" or ctx.now_ms - recent.acked_ms < REACK_MS:
        return
    state = recent.ack_state if inc is None else copy_state(inc, ctx.counter)
    if state is not None and st.ack_limiter.allow(ctx.device_id, ctx.now_ms):
        _ack(st, ctx, recent, state, inc)
    elif state is not None:
        st.acks_withheld += 1


def _alarm(st: DispatchState, ctx: Context, recent: Recent) -> None:
    up = ctx.up
    assert up is not None
    open_id = st.open_by_device.get(ctx.device_id)
    if open_id is not None and st.incidents[open_id].active:
        _again(st, ctx, recent, st.incidents[open_id])
        return
    inc = _open(st, ctx, recent, Kind.SOS if up.event == EVENT_SOS else Kind.ESCORT)
    offer(st, inc, ctx.now_ms, ctx.effects)
    ctx.effects.snapshot(inc)
    _ack(st, ctx, recent, ring_state(inc), inc)


def _open(st: DispatchState, ctx: Context, recent: Recent, kind: Kind, forced: bool = False) -> Incident:
    up, rec = ctx.up, ctx.reception
    assert up is not None and rec is not None
    inc = Incident(
        id=incident_id(ctx.device_id, ctx.counter),
        device_id=ctx.device_id,
        counter=ctx.counter,
        kind=kind,
        state=State.OPEN,
        opened_ms=ctx.now_ms,
        press_ms=rec.rx_time_ms - up.age * 1000,
        forced=forced,
        battery=None if up.battery == 255 else up.battery,
        updated_ms=ctx.now_ms,
        ring_counter=ctx.counter,
    )
    st.incidents[inc.id] = inc
    st.open_by_device[ctx.device_id] = inc.id
    recent.incident_id = inc.id
    ctx.effects.durable.append(note(inc, ctx.now_ms, "opened", kind=kind.value, gateway=rec.gateway_id))
    _reception(st, ctx, inc, recent)
    return inc


def _again(st: DispatchState, ctx: Context, recent: Recent, inc: Incident) -> None:
    """Pressed again while an incident is open: one incident per person, never a pile of them. The new press
    is the one the ring now listens for, so it is answered with the incident's state as it is."""
    up = ctx.up
    assert up is not None
    recent.incident_id = inc.id
    inc.presses += 1
    inc.ring_counter = max(inc.ring_counter, ctx.counter)
    upgrade = up.event == EVENT_SOS and inc.kind == Kind.ESCORT
    if not upgrade and not st.alarm_limiter.allow(ctx.device_id, ctx.now_ms):
        # A ring (or a stolen key) flooding alarms: each press is counted in its incident and answered within
        # the device's downlink budget, but it adds a log entry only then, so it cannot crowd out anyone
        # else's alarm. The person's incident is already open.
        ctx.stop(Outcome.RATE_LIMITED, "alarm flood folded into " + inc.id)
        if st.ack_limiter.allow(ctx.device_id, ctx.now_ms):
            ctx.effects.durable.append(
                note(inc, ctx.now_ms, "pressed_again", counter=ctx.counter, rate_limited=True, presses=inc.presses)
            )
            ctx.effects.snapshot(inc)
            _ack(st, ctx, recent, ring_state(inc), inc)
        return
    ctx.effects.durable.append(note(inc, ctx.now_ms, "pressed_again", counter=ctx.counter))
    if upgrade:
        # An SOS during a "walk me home": it is an emergency now, for the monitoring centre too.
        inc.kind = Kind.SOS
        ctx.effects.durable.append(note(inc, ctx.now_ms, "upgraded", kind=Kind.SOS.value))
    _reception(st, ctx, inc, recent)
    if inc.state in PLANNED:
        offer(st, inc, ctx.now_ms, ctx.effects)
    ctx.effects.snapshot(inc)
    if ctx.counter == inc.ring_counter:
        _ack(st, ctx, recent, ring_state(inc), inc)


def _cancel(st: DispatchState, ctx: Context, recent: Recent, forced: bool) -> None:
    up = ctx.up
    assert up is not None
    named = st.recent.get((ctx.device_id, up.cancels))
    target = st.incidents.get(named.incident_id) if named is not None and named.incident_id else None
    if target is None:
        target = st.incidents.get(incident_id(ctx.device_id, up.cancels))
    if forced:
        _duress(st, ctx, recent, target)
    elif target is not None and target.active:
        target.quiet_counter = max(target.quiet_counter, ctx.counter)
        if target.forced:
            # After a duress no cancel stands responders down: it may be made under the same coercion.
            ctx.effects.durable.append(note(target, ctx.now_ms, "cancel_after_duress", counter=ctx.counter))
        elif ctx.now_ms - target.opened_ms <= st.timing.cancel_window_ms:
            ctx.effects.durable.append(
                transition(target, State.CANCELLED, ctx.now_ms, "cancelled", by="wearer", counter=ctx.counter)
            )
            if st.open_by_device.get(ctx.device_id) == target.id:
                del st.open_by_device[ctx.device_id]
        else:
            # Past the window responders still go and look: a late cancel may not be the wearer's choice.
            ctx.effects.durable.append(note(target, ctx.now_ms, "cancel_after_window", counter=ctx.counter))
        ctx.effects.snapshot(target)
    # The wearer sees "cancelled" for a cancel and, by design, for a duress too (SPEC 6).
    _ack(st, ctx, recent, ACK_CANCELLED, None)


def _duress(st: DispatchState, ctx: Context, recent: Recent, target: Incident | None) -> None:
    """A cancel under coercion: escalated at once, to operators, the monitoring centre and every responder
    involved, while the ring looks exactly as after a genuine cancel (docs/lifecycle.md)."""
    now = ctx.now_ms
    if target is None or not target.active:
        open_id = st.open_by_device.get(ctx.device_id)
        target = st.incidents[open_id] if open_id is not None and st.incidents[open_id].active else None
    if target is None:
        # The alarm it names never reached us, or is already over: someone is being watched. Open one now.
        target = _open(st, ctx, recent, Kind.SOS, forced=True)
    recent.incident_id = target.id
    target.forced = True
    target.quiet_counter = max(target.quiet_counter, ctx.counter)
    ctx.effects.durable.append(note(target, now, "duress", counter=ctx.counter))
    if target.escalation < ESCALATED:
        target.escalation = ESCALATED
        if target.state in (State.OPEN, State.OFFERED):
            ctx.effects.durable.append(transition(target, State.ESCALATED, now, "escalated", level=2, by="duress"))
        else:
            ctx.effects.durable.append(note(target, now, "escalated", level=2, by="duress"))
    row = NoticeRow("duress", target.id, now, {"device_id": ctx.device_id})
    ctx.effects.durable.append(row)
    ctx.effects.pushes.append(notice_push(row))
    if target.state in PLANNED:
        offer(st, target, now, ctx.effects)
    ctx.effects.snapshot(target)


def _supervision(st: DispatchState, ctx: Context) -> None:
    up = ctx.up
    assert up is not None and ctx.reception is not None
    if up.event == EVENT_LOW_BATTERY or (up.battery != 255 and up.battery <= LOW_BATTERY_PCT):
        row = NoticeRow("low_battery", str(ctx.device_id), ctx.now_ms, {"battery": up.battery})
        ctx.effects.durable.append(row)
        ctx.effects.pushes.append(notice_push(row))
    if up.event == EVENT_TEST or up.flags & FLAG_ACK_REQUESTED:
        _ack(st, ctx, st.recent[(ctx.device_id, ctx.counter)], ACK_RECEIVED, None)


def _recorded(st: DispatchState, ctx: Context, recent: Recent) -> bool:
    """Whether a copy was recorded and played back: its ``age`` puts the press later (or earlier) than the first
    copy's did, by the gateways' clocks. A retry or another gateway's copy puts it at the same moment, a
    restart in between or not; a recording played back D seconds later puts it D seconds late (SPEC 10a)."""
    rec = ctx.reception
    assert rec is not None
    copies = recent.copies
    if not copies and recent.frame and recent.press_rx_ms and recent.age >= 0:
        copies[recent.frame] = recent.press_rx_ms + recent.age * 1000  # the first copy's receive time
    first_rx = copies.get(rec.frame)
    if first_rx is None:
        if len(copies) < COPIES_KEPT:
            copies[rec.frame] = rec.rx_time_ms
    elif rec.rx_time_ms - first_rx > SAME_TRANSMISSION_MS:
        # These very bytes were received long before. The press time alone cannot tell when the copy it was
        # taken from was itself played back late; the bytes can (a gateway's spool keeps its receive time).
        return True
    if rec.frame == recent.frame and recent.age >= 0:
        age = recent.age  # the same bytes: the same age, nothing to decrypt (two of every three uplinks)
    else:
        keys = ctx.keys or st.resolver.keys(ctx.device_id)
        try:
            age = uplink.open_verified(keys, rec.frame, ctx.counter).age
        except FrameError:
            return True
    if age >= AGE_SATURATED or not recent.press_rx_ms:
        return age < AGE_SATURATED  # an age at the top tells nothing; an unknown press time, nothing either
    press_ms = rec.rx_time_ms - age * 1000
    if press_ms < recent.press_rx_ms:
        # A copy can only be heard late, never early: each one's press time is the press plus how late it
        # came, and a recording's is later still. The earliest any authentic copy gives is the truest, and it
        # is kept durably: a restart must not leave a late first copy as the measure (SPEC 10a).
        recent.press_rx_ms = press_ms
        ctx.effects.durable.append(
            FrameSeen(ctx.device_id, ctx.counter, recent.event, recent.rx_ms, recent.incident_id, None, press_ms)
        )
        return False
    return press_ms - recent.press_rx_ms > SAME_TRANSMISSION_MS


def _reception(st: DispatchState, ctx: Context, inc: Incident, recent: Recent) -> bool:
    """Store where this copy was heard and re-locate; True when the estimate moved."""
    rec = ctx.reception
    assert rec is not None
    ctx.effects.durable.append(ReceptionRow(inc.id, rec.gateway_id, rec.radio, rec.rssi, rec.snr, rec.rx_time_ms))
    heard = []
    for gw_id, (radio, rssi) in recent.heard.items():
        gw = st.gateways.get(gw_id)
        if gw is not None and gw.lat is not None and gw.lon is not None:
            heard.append((gw.lat, gw.lon, radio, rssi))
    est = locate(heard)
    if est is None or (inc.lat, inc.lon, inc.radius_m) == (est.lat, est.lon, est.radius_m):
        return False
    inc.lat, inc.lon, inc.radius_m = est.lat, est.lon, est.radius_m
    ctx.effects.durable.append(
        note(inc, ctx.now_ms, "located", lat=est.lat, lon=est.lon, radius_m=est.radius_m, gateways=est.gateways)
    )
    return True


def _ack(st: DispatchState, ctx: Context, recent: Recent, state: int, inc: Incident | None) -> None:
    """Queue an authenticated ACK through the LoRa gateway that heard this copy (BLE gateways only listen)."""
    rec = ctx.reception
    assert rec is not None
    if rec.radio != "lora":
        # Heard over BLE only so far: the ACK is owed, and the first LoRa copy of this frame (a ring sends
        # both) carries it down (see ``copy``).
        if recent.ack_state is None:
            recent.ack_state, recent.acked_ms = state, ctx.now_ms - REACK_MS
        return
    eta = inc.eta_min if inc is not None and inc.accepted_by else 0
    queue_ack(
        st,
        ctx.effects,
        ctx.device_id,
        ctx.counter,
        recent,
        state,
        rec.gateway_id,
        ctx.now_ms,
        eta,
        ctx.keys,
    )
