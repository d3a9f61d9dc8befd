"""What responders, operators and the clock do to incidents (pure over the state, like the pipeline).

Each function returns the effects to carry out; a request the lifecycle forbids raises ActionError, which the API
turns into a 409 with the reason.
"""

import heapq
import time
from collections.abc import Callable, Iterator

from basestation.dispatch.core.assignment import available
from basestation.dispatch.core.effects import Effects, NoticeRow, Push
from basestation.dispatch.core.incidents import Incident, State, TransitionError, note, transition
from basestation.dispatch.core.lifecycle import PLANNED, tell_ring
from basestation.dispatch.core.pipeline import UplinkPipeline
from basestation.dispatch.core.state import DispatchState, Gateway

# Each tick looks at this share of the devices for silence, so each is looked at once a minute: a ring is
# silent after two heartbeat periods and five minutes, and 16k rings looked at every second stalled the event
# loop for milliseconds each second.
DEVICE_ROUND_TICKS = 60


class ActionError(ValueError):
    pass


def _incident(st: DispatchState, incident_id: str) -> Incident:
    inc = st.incidents.get(incident_id)
    if inc is None:
        raise ActionError("no such incident")
    return inc


def _move(inc: Incident, to: State, now_ms: int, name: str, **data: object) -> Effects:
    eff = Effects()
    try:
        eff.durable.append(transition(inc, to, now_ms, name, **data))
    except TransitionError as e:
        raise ActionError(str(e)) from None
    return eff


def _current(st: DispatchState, incident_id: str, responder_id: str) -> Incident:
    """An incident a responder may still act on: it exists, it is not over, and they are a known responder."""
    inc = _incident(st, incident_id)
    if responder_id not in st.responders:
        raise ActionError("no such responder")
    if not inc.active:
        raise ActionError(f"incident is {inc.state.value}")
    return inc


def offered_now(inc: Incident, responder_id: str) -> bool:
    """Offered to this responder and not declined by them since (an operator's assign offers it again)."""
    return responder_id in inc.offered_to and responder_id not in inc.declined_by


def accept(st: DispatchState, incident_id: str, responder_id: str, now_ms: int, eta_min: int = 0) -> Effects:
    """Accept what is offered to you now; accepting again changes nothing."""
    inc = _current(st, incident_id, responder_id)
    if responder_id in inc.accepted_by:
        return Effects()
    if not offered_now(inc, responder_id):
        raise ActionError("not offered to you" if responder_id not in inc.offered_to else "you declined it")
    first = not inc.accepted_by
    eff = _move(
        inc,
        State.ACCEPTED if inc.state != State.ON_THE_WAY else inc.state,
        now_ms,
        "accepted",
        responder=responder_id,
        eta_min=eta_min,
    )
    inc.accepted_by.append(responder_id)
    st.engaged.add(inc.id)
    if first:
        inc.eta_min = eta_min
        tell_ring(st, inc, now_ms, eff)  # "help on the way"
    eff.snapshot(inc)
    return eff


def decline(st: DispatchState, incident_id: str, responder_id: str, now_ms: int, pipeline: UplinkPipeline) -> Effects:
    """Decline what is offered to you now; declining again changes nothing. Someone who accepted cannot decline:
    the wearer was told help is coming."""
    inc = _current(st, incident_id, responder_id)
    if responder_id in inc.accepted_by:
        raise ActionError("you accepted it")
    if responder_id in inc.declined_by:
        return Effects()
    if responder_id not in inc.offered_to:
        raise ActionError("not offered to you")
    inc.declined_by.append(responder_id)
    eff = Effects()
    eff.durable.append(note(inc, now_ms, "declined", responder=responder_id))
    offer(st, pipeline, inc, now_ms, eff)  # straight to the next nearest: a decline must not cost a timeout
    eff.snapshot(inc)
    return eff


def on_the_way(st: DispatchState, incident_id: str, responder_id: str, now_ms: int) -> Effects:
    inc = _current(st, incident_id, responder_id)
    if responder_id not in inc.accepted_by:
        raise ActionError("accept the incident first")
    if inc.state == State.ON_THE_WAY:
        return Effects()  # said once is said: a second tap writes nothing
    eff = _move(inc, State.ON_THE_WAY, now_ms, "on_the_way", responder=responder_id)
    eff.snapshot(inc)
    return eff


def arrived(st: DispatchState, incident_id: str, responder_id: str, now_ms: int) -> Effects:
    """The responder who accepted is with the person: a walk-me-home request's own page says so. The incident
    stays open (they walk on together) until it is resolved; saying it again writes nothing."""
    inc = _current(st, incident_id, responder_id)
    if responder_id not in inc.accepted_by:
        raise ActionError("accept the incident first")
    if inc.arrived_ms:
        return Effects()
    eff = _move(inc, State.ON_THE_WAY, now_ms, "arrived", responder=responder_id)
    inc.arrived_ms = now_ms
    eff.snapshot(inc)
    return eff


def resolve(
    st: DispatchState,
    incident_id: str,
    by: str,
    now_ms: int,
    referral: str | None = None,
    operator: str | None = None,
) -> Effects:
    """``by`` is the responder's id, or ``operator``; ``operator`` then names who, when their grant has a name."""
    inc = _incident(st, incident_id)
    who: dict[str, object] = {"by": by} if operator is None else {"by": by, "operator": operator}
    eff = _move(inc, State.RESOLVED, now_ms, "resolved", **who, referral=referral)
    inc.referral = referral
    if st.open_by_device.get(inc.device_id) == inc.id:
        del st.open_by_device[inc.device_id]
    tell_ring(st, inc, now_ms, eff)  # "it is over": the ring stops calling and goes quiet
    eff.snapshot(inc)
    return eff


def offer(
    st: DispatchState, pipeline: UplinkPipeline, inc: Incident, now_ms: int, eff: Effects, busy: set[str] | None = None
) -> None:
    """The pipeline's offer, and the ring told at once if it found that nobody can come."""
    before = inc.unavailable
    pipeline.offer(inc, now_ms, eff, busy)
    if inc.unavailable and not before:
        tell_ring(st, inc, now_ms, eff)  # "nobody can come: call 112"


def tick(st: DispatchState, pipeline: UplinkPipeline, now_ms: int) -> Effects:
    """The clock's part: offer timeouts, broadcast, escalation, and silent key rings."""
    eff = Effects()
    for part in tick_slices(st, pipeline, now_ms):
        eff.merge(part)
    return eff


# How long the clock may hold the event loop before it lets alarms through. Thousands of open incidents took a
# pass of 10-15 ms each second (bench/dispatch_bench.py, a thousand uplinks a second), and every alarm arriving
# in it waited for the whole pass. In slices of 0.5 ms, 2,700 open incidents made three slices a second, of
# 0.51 ms at the median and up to 0.76 ms, each in front of any alarm that came during it; at 0.2 ms an alarm
# waits less than half that, for a few more slices (each asks who is busy and who is available, a few us).
SLICE_S = 0.0002


def tick_slices(
    st: DispatchState,
    pipeline: UplinkPipeline,
    now_ms: int,
    slice_s: float = SLICE_S,
    carry_out: Callable[[Effects], None] | None = None,
) -> Iterator[Effects]:
    """``tick`` in slices of about ``slice_s`` each, so the caller can run other work between two of them.

    Each incident is planned within one slice. Other work may accept an incident between two slices, so each
    slice asks again who is busy; an incident opened meanwhile waits for the next pass.

    With ``carry_out`` (the service's), each incident's effects go to it as soon as they are made, and the time
    it takes counts in the slice. Planned first and carried out after, a slice of re-offers took its 0.2 ms to
    plan and then as long again or more to push (every responder offered an incident gets it on their stream)
    before any alarm that arrived meanwhile was read: with thousands of unanswered alarms timing out, the stream's
    p99 at a thousand uplinks a second was 0.7-0.8 ms higher than with no offer timing out. Carried out within
    the slice, p99 3.57 -> 2.24 ms and 3.63 -> 2.55 ms in two A/B runs (bench/ab.py, 32 turns each way, the
    second with the variants swapped)."""
    yield from _plan_slices(st, pipeline, now_ms, iter(list(st.incidents.values())), slice_s, carry_out)
    eff = Effects()
    tick_devices(st, now_ms, eff, st.devices_due(DEVICE_ROUND_TICKS))
    yield eff


def deadlines_due(st: DispatchState, now_ms: int) -> bool:
    return bool(st.deadlines) and st.deadlines[0][0] <= now_ms


def deadline_slices(
    st: DispatchState,
    pipeline: UplinkPipeline,
    now_ms: int,
    slice_s: float = SLICE_S,
    carry_out: Callable[[Effects], None] | None = None,
) -> Iterator[Effects]:
    """Plan, in slices as ``tick_slices`` does, the incidents whose deadline (``planned``) has come by ``now_ms``.

    The walk over every incident once a second found all the deadlines of that second at once: with a thousand
    uplinks a second and nobody answering, some 330 offers timed out each second and went out together, 5 ms and
    more of re-offers and their pushes on the responders' streams. The alarms that came meanwhile were the
    slowest: of the slowest 1 %, 12 % came during such a pass, against 1.5 % of all (bench/ab.py). Taken from a
    heap as they fall due, the re-offers go out as the alarms came in, spread over the second. The walk stays,
    for what changes without a deadline (a responder coming on duty) and for an incident that found nobody to
    offer it to."""
    heap = st.deadlines

    def falling_due() -> Iterator[Incident]:
        while heap and heap[0][0] <= now_ms:
            inc = st.incidents.get(heapq.heappop(heap)[1])
            if inc is not None:
                yield inc  # a stale entry (its deadline moved) is skipped by ``due``

    yield from _plan_slices(st, pipeline, now_ms, falling_due(), slice_s, carry_out)


def _plan_slices(
    st: DispatchState,
    pipeline: UplinkPipeline,
    now_ms: int,
    incidents: Iterator[Incident],
    slice_s: float,
    carry_out: Callable[[Effects], None] | None,
) -> Iterator[Effects]:
    more = True
    while more:
        eff = Effects()
        # Offers and escalations accept nothing, so who is busy stays the same through a slice: asking per
        # incident made each tick quadratic in the incidents held (800 open: 90 ms against 4 ms).
        busy = st.busy()
        pool = offer_pool(st, now_ms, busy)
        ends = time.perf_counter() + slice_s
        looked = 0
        while True:
            inc = next(incidents, None)
            if inc is None:
                more = False
                break
            looked += 1
            if due(st, inc, now_ms, pool):
                tick_incident(pipeline, inc, now_ms, eff, busy)
                planned(st, inc, pool, now_ms)
                if carry_out is not None and (eff.pushes or eff.durable):
                    carry_out(eff)  # changes nothing that planning reads: who is busy stays as it was
                    eff = Effects()
                    if time.perf_counter() > ends:
                        break
            if not looked % 16 and time.perf_counter() > ends:
                break
        if looked:
            yield eff


# Planning an incident again changes nothing unless one of its deadlines passed, it changed, or who could be
# offered it changed. Skipping the rest keeps a tick from stalling the event loop when thousands of incidents
# are open (a festival night: 4,300 open, each planned every second, held up every alarm behind the tick).


def offer_pool(st: DispatchState, now_ms: int, busy: set[str]) -> int:
    """A number that changes whenever the responders an incident could be offered to, or where they are, do."""
    pool = tuple(
        (r.id, r.lat, r.lon, tuple(r.skills)) for r in st.responders.values() if available(r, now_ms, st.policy, busy)
    )
    if pool != st.pool:
        st.pool, st.pool_version = pool, st.pool_version + 1
    return st.pool_version


def _plan_key(inc: Incident, pool: int) -> tuple[object, ...]:
    return (pool, inc.state, len(inc.offered_to), len(inc.declined_by), inc.escalation, inc.lat, inc.lon)


def due(st: DispatchState, inc: Incident, now_ms: int, pool: int) -> bool:
    if inc.state not in PLANNED:
        st.planned.pop(inc.id, None)
        return False
    seen = st.planned.get(inc.id)
    return seen is None or now_ms >= seen[1] or seen[0] != _plan_key(inc, pool)


def planned(st: DispatchState, inc: Incident, pool: int, now_ms: int) -> None:
    """Remember the plan just made and when the incident's next deadline falls, and put the next one still to
    come on the heap (``deadline_slices``) unless it is there already.

    The two differ when an offer timed out with nobody else to offer it to: the walk plans such an incident
    again every pass, and the heap still holds its broadcast or escalation."""
    if inc.state not in PLANNED:
        st.planned.pop(inc.id, None)
        return
    pol, never = st.policy, 1 << 62
    broadcast = inc.opened_ms + pol.broadcast_after_ms if inc.escalation < 1 else never
    escalate = inc.opened_ms + pol.escalate_after_ms if inc.escalation < 2 else never
    timeout = never
    if any(o not in inc.declined_by for o in inc.offered_to):
        timeout = st.last_offer_ms.get(inc.id, 0) + pol.offer_timeout_ms
    upcoming = min(d if d > now_ms else never for d in (broadcast, escalate, timeout))
    seen = st.planned.get(inc.id)
    if upcoming < never and (seen is None or seen[2] != upcoming):
        st.push_deadline(upcoming, inc.id)
    st.planned[inc.id] = (_plan_key(inc, pool), min(broadcast, escalate, timeout), upcoming)


def tick_incident(
    pipeline: UplinkPipeline, inc: Incident, now_ms: int, eff: Effects, busy: set[str] | None = None
) -> None:
    if inc.state in PLANNED:
        before = (inc.state, len(inc.offered_to), inc.escalation, inc.unavailable)
        offer(pipeline.state, pipeline, inc, now_ms, eff, busy)
        if (inc.state, len(inc.offered_to), inc.escalation, inc.unavailable) != before:
            eff.snapshot(inc)


def tick_devices(st: DispatchState, now_ms: int, eff: Effects, device_ids: list[int] | None = None) -> None:
    """Notice key rings gone silent: ``device_ids``, or every device."""
    for device_id in st.devices if device_ids is None else device_ids:
        info = st.devices.get(device_id)
        if info is None:
            continue
        # Two missed heartbeats and a margin: one lost frame is radio, two is a key ring in trouble.
        silent_for = now_ms - info.last_seen_ms
        if info.heartbeat_min and not info.silent_notified and silent_for > (2 * info.heartbeat_min + 5) * 60_000:
            info.silent_notified = True
            row = NoticeRow("silent_device", str(device_id), now_ms, {"last_seen_ms": info.last_seen_ms})
            eff.durable.append(row)
            eff.pushes.append(Push("notice", {"kind": row.kind, "subject": row.subject, "at_ms": now_ms}))


def gateway_status(
    st: DispatchState, gateway_id: str, online: bool, lat: float | None, lon: float | None, now_ms: int
) -> Effects:
    gw = st.gateways.setdefault(gateway_id, Gateway(gateway_id))
    eff = Effects()
    if lat is not None and lon is not None:
        gw.lat, gw.lon = lat, lon
    if gw.online and not online:
        row = NoticeRow("gateway_offline", gateway_id, now_ms, {})
        eff.durable.append(row)
        eff.pushes.append(Push("notice", {"kind": row.kind, "subject": gateway_id, "at_ms": now_ms}))
    gw.online, gw.changed_ms = online, now_ms
    eff.pushes.append(Push("gateway", {"id": gateway_id, "online": online, "lat": gw.lat, "lon": gw.lon}))
    return eff
