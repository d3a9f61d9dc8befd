"""The uplink pipeline: named steps over a context, as ChirpStack handles an uplink (pure: no I/O).

ingest -> resolve (pseudonym, MIC) -> replay check -> dedupe -> decrypt -> rate limit -> act. ``act`` opens or
updates the incident, locates it, plans the offer and prepares the downlink ACK. Each step either passes or sets
an :class:`Outcome` and stops; nothing here raises for bad input. The result is a list of effects that the
service carries out: durable records (committed before the MQTT ack), pushes (sent at once) and downlinks (sent
after the commit). The first valid copy of an alarm goes on at once; later copies only refine it.
"""

import logging
from collections.abc import Callable

from basestation.dispatch.core import envelope
from basestation.dispatch.core.assignment import plan
from basestation.dispatch.core.effects import DeviceState, Effects, FrameSeen, NoticeRow, Push, ReceptionRow
from basestation.dispatch.core.geo import locate
from basestation.dispatch.core.incidents import Incident, Kind, State, incident_id, note, transition
from basestation.dispatch.core.lifecycle import (
    PLANNED,
    REACK_MS,
    copy_state,
    nobody_can_come,
    queue_ack,
    ring_state,
)
from basestation.dispatch.core.outcomes import Outcome
from basestation.dispatch.core.state import DeviceInfo, DispatchState, Recent
from basestation.pseudonyms.resolver import Resolved
from protocol import uplink
from protocol.constants import (
    ACK_CANCELLED,
    ACK_RECEIVED,
    EVENT_CANCEL,
    EVENT_DURESS,
    EVENT_ESCORT,
    EVENT_HEARTBEAT,
    EVENT_LOW_BATTERY,
    EVENT_NAMES,
    EVENT_SOS,
    EVENT_TEST,
    FLAG_ACK_REQUESTED,
    REASON_LENGTH,
    REASON_MIC,
    REASON_UNKNOWN_DEVICE,
    REASON_VERSION,
)
from protocol.errors import FrameError
from protocol.keys import DeviceKeys
from protocol.uplink import Uplink

log = logging.getLogger("nightwatch.dispatch.pipeline")

ALARMS = frozenset({EVENT_SOS, EVENT_DURESS, EVENT_ESCORT, EVENT_CANCEL})
SUPERVISION = frozenset({EVENT_HEARTBEAT, EVENT_LOW_BATTERY, EVENT_TEST})
LOW_BATTERY_PCT = 15
ESCALATED = 2  # Incident.escalation: operators and the monitoring centre's webhook
UNRESOLVABLE_MAX = 100_000
SAME_TRANSMISSION_MS = 5000  # copies of one transmission reach every gateway within this, spools excepted
COPIES_KEPT = 16  # distinct frames of one counter whose first receive time is kept: a ring retries fewer
AGE_SATURATED = 0xFFFF  # an uplink's age field at its top: older than it can say (SPEC 4.1)


class Context:
    """One uplink on its way through the steps. A plain class, which the compiled pipeline (nightwatch/native.py)
    makes native: the steps read and set its fields directly instead of looking each attribute up by name."""

    def __init__(
        self,
        topic: str,
        payload: bytes,
        now_ms: int,
        reception: envelope.Reception | None = None,
        device_id: int = 0,
        counter: int = 0,
        keys: DeviceKeys | None = None,
    ) -> None:
        self.topic = topic
        self.payload = payload
        self.now_ms = now_ms
        self.reception = reception
        self.device_id = device_id
        self.counter = counter
        self.keys = keys
        self.up: Uplink | None = None
        self.outcome: Outcome | None = None
        self.detail = ""
        self.copy_of: Recent | None = None  # set when the frame is another copy of one accepted lately
        self.effects = Effects()

    def stop(self, outcome: Outcome, detail: str = "") -> None:
        self.outcome = outcome
        self.detail = detail


class UplinkPipeline:
    def __init__(self, state: DispatchState) -> None:
        self.state = state
        # The decision steps; each passes or stops with an outcome. ``act`` or ``copy`` then applies the result.
        self.steps: list[tuple[str, Callable[[Context], None]]] = [
            ("ingest", self.ingest),
            ("resolve", self.resolve),
            ("replay_check", self.replay_check),
            ("decrypt", self.decrypt),
            ("rate_limit", self.rate_limit),
        ]
        self._step_fns = tuple(fn for _, fn in self.steps)

    def handle(self, topic: str, payload: bytes, now_ms: int) -> Context:
        """The whole pipeline for one message, on this process's state."""
        return self.finish(self.decode(topic, payload, now_ms))

    def decode(
        self, topic: str, payload: bytes, now_ms: int, first_step: int = 0, ctx: Context | None = None
    ) -> Context:
        """Run the decision steps; they never touch an incident, so a cluster can lock before ``finish``."""
        if ctx is None:
            ctx = Context(topic, payload, now_ms)
        for step in self._step_fns[first_step:] if first_step else self._step_fns:
            step(ctx)
            if ctx.outcome is not None:
                break
        return ctx

    def finish(self, ctx: Context) -> Context:
        """Apply a decoded frame: act on a new one, fold a copy into its incident; then count the outcome."""
        decided = ctx.outcome
        if decided is None:
            self.act(ctx)  # which may stop it (an alarm flood folded into its incident): ctx.outcome read again
            outcome = ctx.outcome or Outcome.ACCEPTED
            ctx.outcome = outcome
        else:
            outcome = decided
            if outcome == Outcome.DUPLICATE and ctx.copy_of is not None:
                self.copy(ctx, ctx.copy_of)
        self.state.counts[outcome] += 1
        return ctx

    # -- steps ---------------------------------------------------------------------------------------------

    def ingest(self, ctx: Context) -> None:
        try:
            ctx.reception = envelope.parse(ctx.topic, ctx.payload)
        except envelope.EnvelopeError as e:
            ctx.stop(Outcome.MALFORMED_ENVELOPE, e.detail)

    def resolve(self, ctx: Context) -> None:
        rec = ctx.reception
        assert rec is not None
        if self._known_copy(ctx, rec.frame):
            return
        try:
            found = self.state.resolver.resolve(rec.frame)
        except FrameError as e:
            if e.reason in (REASON_LENGTH, REASON_VERSION):
                ctx.stop(Outcome.MALFORMED_FRAME, e.reason)
            elif e.reason == REASON_MIC:
                ctx.stop(Outcome.BAD_MIC)
            else:
                assert e.reason == REASON_UNKNOWN_DEVICE
                old = self.state.resolver.behind(rec.frame)
                if old is not None:
                    # A recording of a frame its ring has moved past: no sweep could place it (the sweep looks
                    # ahead of the window), and counting it unknown would hide a replay.
                    ctx.device_id, ctx.counter = old[0], old[1]
                    ctx.stop(Outcome.REPLAY, old[2])
                    return
                if rec.frame[1:7] not in self.state.unresolvable:
                    self._hold_unresolved(rec, ctx.now_ms)
                ctx.stop(Outcome.UNKNOWN_DEVICE)
            return
        ctx.device_id, ctx.counter, ctx.keys = found.device_id, found.counter, found.keys

    def _known_copy(self, ctx: Context, frame: bytes) -> bool:
        """A frame whose pseudonym is one accepted lately is another copy of it. Bytes equal to the first copy's
        are that frame: authentic, and a copy; two of every three uplinks are such copies (three gateways hear
        each frame), so they skip the MIC and the replay window. A retry (its ``age`` differs) is checked under
        the counter it names: this is how a late copy of an open alarm is still known when the ring has moved on
        past the resolver's lookbehind, or the service restarted since."""
        st = self.state
        key = st.by_pseudonym.get(frame[1:7])
        if key is None:
            return False
        known = st.recent.get(key)
        if known is None or key[0] not in st.resolver:
            return False
        if known.frame != frame:
            if len(frame) != len(known.frame) or frame[0] != known.frame[0]:
                return False
            keys = st.resolver.keys(key[0])
            if not uplink.verify(keys, frame, key[1]):
                return False  # another device's colliding pseudonym, or a forgery: the resolver decides
            ctx.keys = keys
        ctx.device_id, ctx.counter = key  # keys only if an ACK is owed (``_ack``): most copies need none
        ctx.copy_of = known
        ctx.stop(Outcome.DUPLICATE)
        return True

    def replay_check(self, ctx: Context) -> None:
        verdict = self.state.resolver.accept(ctx.device_id, ctx.counter)
        if verdict == "accept":
            # Remembered now, not after acting: a copy decoded while this one is still in flight (a replica
            # waiting on the database) must already count as a copy.
            rec = ctx.reception
            assert rec is not None
            fresh = Recent("", None, ctx.now_ms, {rec.gateway_id: (rec.radio, rec.rssi)}, rec.frame)
            self.state.remember((ctx.device_id, ctx.counter), fresh, ctx.now_ms)
            return
        known = self.state.recent.get((ctx.device_id, ctx.counter))
        if known is None:
            ctx.stop(Outcome.REPLAY, verdict)
            return
        ctx.copy_of = known
        ctx.stop(Outcome.DUPLICATE)

    def decrypt(self, ctx: Context) -> None:
        assert ctx.reception is not None and ctx.keys is not None
        try:
            # The resolve step verified the MIC under this key and counter; only decrypt and check the fields.
            up = uplink.open_verified(ctx.keys, ctx.reception.frame, ctx.counter)
        except FrameError as e:
            self._invalid(ctx, e.reason)
            return
        if up.device_id != ctx.device_id:
            self._invalid(ctx, "device")
            return
        ctx.up = up
        recent = self.state.recent.get((ctx.device_id, ctx.counter))
        if recent is not None:
            recent.event = EVENT_NAMES[up.event]
            recent.age, recent.press_rx_ms = up.age, ctx.reception.rx_time_ms - up.age * 1000
        self._device_seen(ctx)

    def rate_limit(self, ctx: Context) -> None:
        assert ctx.up is not None
        if ctx.up.event in SUPERVISION and not self.state.limiter.allow(ctx.device_id, ctx.now_ms):
            ctx.stop(Outcome.RATE_LIMITED)

    def act(self, ctx: Context) -> None:
        up, rec = ctx.up, ctx.reception
        assert up is not None and rec is not None
        recent = self.state.recent.get((ctx.device_id, ctx.counter))
        if recent is None:
            recent = Recent(EVENT_NAMES[up.event], None, ctx.now_ms, {rec.gateway_id: (rec.radio, rec.rssi)}, rec.frame)
            recent.age, recent.press_rx_ms = up.age, rec.rx_time_ms - up.age * 1000
            self.state.remember((ctx.device_id, ctx.counter), recent, ctx.now_ms)
        if up.event in (EVENT_SOS, EVENT_ESCORT):
            self._alarm(ctx, recent)
        elif up.event == EVENT_CANCEL:
            self._cancel(ctx, recent, forced=False)
        elif up.event == EVENT_DURESS:
            self._cancel(ctx, recent, forced=True)
        else:
            self._supervision(ctx)
        # The bytes are kept for what a restart must still answer: an incident's frames (they route its ACKs) and
        # cancels (retried until answered). Other frames' copies after a restart cannot be told from recordings,
        # so they are not answered (docs/lifecycle.md, "Restarts").
        frame = rec.frame if recent.incident_id or up.event in (EVENT_CANCEL, EVENT_DURESS) else None
        ctx.effects.durable.append(
            FrameSeen(
                ctx.device_id, ctx.counter, recent.event, ctx.now_ms, recent.incident_id, frame, recent.press_rx_ms
            )
        )

    # -- what each event does ------------------------------------------------------------------------------

    def _alarm(self, ctx: Context, recent: Recent) -> None:
        up, st = ctx.up, self.state
        assert up is not None
        open_id = st.open_by_device.get(ctx.device_id)
        if open_id is not None and st.incidents[open_id].active:
            self._again(ctx, recent, st.incidents[open_id])
            return
        inc = self._open(ctx, recent, Kind.SOS if up.event == EVENT_SOS else Kind.ESCORT)
        self.offer(inc, ctx.now_ms, ctx.effects)
        ctx.effects.snapshot(inc)
        self._ack(ctx, recent, ring_state(inc), inc)

    def _open(self, ctx: Context, recent: Recent, kind: Kind, forced: bool = False) -> Incident:
        up, rec, st = ctx.up, ctx.reception, self.state
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
        self._reception(ctx, inc, recent)
        return inc

    def _again(self, ctx: Context, recent: Recent, inc: Incident) -> None:
        """Pressed again while an incident is open: one incident per person, never a pile of them. The new press
        is the one the ring now listens for, so it is answered with the incident's state as it is."""
        up, st = ctx.up, self.state
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
                self._ack(ctx, recent, ring_state(inc), inc)
            return
        ctx.effects.durable.append(note(inc, ctx.now_ms, "pressed_again", counter=ctx.counter))
        if upgrade:
            # An SOS during a "walk me home": it is an emergency now, for the monitoring centre too.
            inc.kind = Kind.SOS
            ctx.effects.durable.append(note(inc, ctx.now_ms, "upgraded", kind=Kind.SOS.value))
        self._reception(ctx, inc, recent)
        if inc.state in PLANNED:
            self.offer(inc, ctx.now_ms, ctx.effects)
        ctx.effects.snapshot(inc)
        if ctx.counter == inc.ring_counter:
            self._ack(ctx, recent, ring_state(inc), inc)

    def _cancel(self, ctx: Context, recent: Recent, forced: bool) -> None:
        up, st = ctx.up, self.state
        assert up is not None
        named = st.recent.get((ctx.device_id, up.cancels))
        target = st.incidents.get(named.incident_id) if named is not None and named.incident_id else None
        if target is None:
            target = st.incidents.get(incident_id(ctx.device_id, up.cancels))
        if forced:
            self._duress(ctx, recent, target)
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
        self._ack(ctx, recent, ACK_CANCELLED, None)

    def _duress(self, ctx: Context, recent: Recent, target: Incident | None) -> None:
        """A cancel under coercion: escalated at once, to operators, the monitoring centre and every responder
        involved, while the ring looks exactly as after a genuine cancel (docs/lifecycle.md)."""
        st, now = self.state, ctx.now_ms
        if target is None or not target.active:
            open_id = st.open_by_device.get(ctx.device_id)
            target = st.incidents[open_id] if open_id is not None and st.incidents[open_id].active else None
        if target is None:
            # The alarm it names never reached us, or is already over: someone is being watched. Open one now.
            target = self._open(ctx, recent, Kind.SOS, forced=True)
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
            self.offer(target, now, ctx.effects)
        ctx.effects.snapshot(target)

    def _supervision(self, ctx: Context) -> None:
        up = ctx.up
        assert up is not None and ctx.reception is not None
        if up.event == EVENT_LOW_BATTERY or (up.battery != 255 and up.battery <= LOW_BATTERY_PCT):
            row = NoticeRow("low_battery", str(ctx.device_id), ctx.now_ms, {"battery": up.battery})
            ctx.effects.durable.append(row)
            ctx.effects.pushes.append(notice_push(row))
        if up.event == EVENT_TEST or up.flags & FLAG_ACK_REQUESTED:
            self._ack(ctx, self.state.recent[(ctx.device_id, ctx.counter)], ACK_RECEIVED, None)

    # -- shared pieces -------------------------------------------------------------------------------------

    def offer(self, inc: Incident, now_ms: int, effects: Effects, busy: set[str] | None = None) -> None:
        """Run the assignment plan once: offer to whoever it names now, escalate if it says so. ``busy`` is
        ``state.busy()`` when the caller already has it (the clock offers for every incident in one pass).

        When nobody can take it, the operators are told at once and the incident is marked ``unavailable``; the
        caller tells the ring ("nobody can come: call 112"), as the ACK it was about to send or as a change."""
        st = self.state
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

    def copy(self, ctx: Context, recent: Recent) -> None:
        """A duplicate: note which gateway heard it, and refine the incident's location if it has one."""
        rec, st = ctx.reception, self.state
        assert rec is not None
        inc = st.incidents.get(recent.incident_id) if recent.incident_id else None
        # A recording played back elsewhere would drag the location to the attacker, and answering it would spend
        # airtime and ACK numbers: it counts as a copy, and nothing more.
        if self._recorded(ctx, recent):
            return
        best = recent.heard.get(rec.gateway_id)
        if best is None or (rec.rssi is not None and (best[1] is None or rec.rssi > best[1])):
            recent.heard[rec.gateway_id] = (rec.radio, rec.rssi)
        if inc is not None and self._reception(ctx, inc, recent):
            ctx.effects.snapshot(inc)
        # A retry means the ring did not hear our ACK: answer again, with the state as it is now. Copies of one
        # retry heard by several gateways within REACK_MS get one answer between them. An alarm's copies are
        # always answered (docs/lifecycle.md); other frames only if they asked for an ACK.
        owed = inc is not None or recent.ack_state is not None
        if not owed or rec.radio != "lora" or ctx.now_ms - recent.acked_ms < REACK_MS:
            return
        state = recent.ack_state if inc is None else copy_state(inc, ctx.counter)
        if state is not None and st.ack_limiter.allow(ctx.device_id, ctx.now_ms):
            self._ack(ctx, recent, state, inc)
        elif state is not None:
            st.acks_withheld += 1

    def _recorded(self, ctx: Context, recent: Recent) -> bool:
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
            keys = ctx.keys or self.state.resolver.keys(ctx.device_id)
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

    def _reception(self, ctx: Context, inc: Incident, recent: Recent) -> bool:
        """Store where this copy was heard and re-locate; True when the estimate moved."""
        rec = ctx.reception
        assert rec is not None
        ctx.effects.durable.append(ReceptionRow(inc.id, rec.gateway_id, rec.radio, rec.rssi, rec.snr, rec.rx_time_ms))
        heard = []
        for gw_id, (radio, rssi) in recent.heard.items():
            gw = self.state.gateways.get(gw_id)
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

    def _ack(self, ctx: Context, recent: Recent, state: int, inc: Incident | None) -> None:
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
            self.state,
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

    def _device_seen(self, ctx: Context) -> None:
        up = ctx.up
        assert up is not None
        info = self.state.devices.get(ctx.device_id)
        if info is None:
            info = self.state.devices[ctx.device_id] = DeviceInfo()
        info.last_seen_ms = ctx.now_ms
        info.silent_notified = False
        if up.battery != 255:
            info.battery = up.battery
        if up.event in (EVENT_HEARTBEAT, EVENT_LOW_BATTERY):
            info.heartbeat_min = up.aux or None
        highest, bitmap = self.state.resolver.replay_state(ctx.device_id)
        ctx.effects.durable.append(
            DeviceState(ctx.device_id, highest, bitmap, ctx.now_ms, info.battery, info.heartbeat_min)
        )

    def _invalid(self, ctx: Context, reason: str) -> None:
        # Authentic but impossible: a firmware fault worth an operator's attention, not just a counter.
        log.error("invalid frame body from device %s counter %s: %s", ctx.device_id, ctx.counter, reason)
        row = NoticeRow("invalid_body", str(ctx.device_id), ctx.now_ms, {"reason": reason, "counter": ctx.counter})
        ctx.effects.durable.append(row)
        ctx.effects.pushes.append(notice_push(row))
        ctx.stop(Outcome.INVALID_BODY, reason)

    def _hold_unresolved(self, rec: envelope.Reception, now_ms: int) -> None:
        """Keep the frame for the recovery sweep (SPEC 7.5); when the queue is full the oldest goes, counted."""
        q = self.state.unresolved
        if len(q) >= self.state.timing.unresolved_max:
            q.popleft()
            self.state.unresolved_dropped += 1
        q.append((rec, now_ms))

    def sweep(self, now_ms: int) -> list[Context]:
        """Run the recovery sweep over every held frame (SPEC 7.5), in one go."""
        held = self.take_unresolved()
        return self.resume(held, self.state.resolver.recover([rec.frame for rec, _ in held]), now_ms)

    def take_unresolved(self) -> list[tuple[envelope.Reception, int]]:
        held = list(self.state.unresolved)
        self.state.unresolved.clear()
        return held

    def resume(
        self,
        held: list[tuple[envelope.Reception, int]],
        found: dict[bytes, Resolved],
        now_ms: int,
        finish: bool = True,
    ) -> list[Context]:
        """Frames the sweep found continue through the pipeline from the replay check; the rest are given up,
        counted and logged: nothing vanishes unseen. One line a sweep, however many: sweeps are spaced apart, and
        a flood of recordings or garbage must not become a flood of log lines."""
        st = self.state
        out = []
        given_up: dict[str, int] = {}
        for rec, _ in held:
            r = found.get(rec.frame)
            if r is None:
                st.unresolved_given_up += 1
                st.unresolvable[rec.frame[1:7]] = None
                while len(st.unresolvable) > UNRESOLVABLE_MAX:
                    st.unresolvable.popitem(last=False)
                given_up[rec.gateway_id] = given_up.get(rec.gateway_id, 0) + 1
                continue
            ctx = Context("", b"", now_ms, reception=rec, device_id=r.device_id, counter=r.counter, keys=r.keys)
            self.decode("", b"", now_ms, first_step=2, ctx=ctx)
            if finish:
                self.finish(ctx)
            out.append(ctx)
        if given_up:
            busiest = sorted(given_up.items(), key=lambda kv: -kv[1])[:3]
            log.warning(
                "%d frame(s) from %d gateway(s) match no device after recovery (most from %s; %d given up in all)",
                sum(given_up.values()),
                len(given_up),
                ", ".join(f"{gw} {n}" for gw, n in busiest),
                st.unresolved_given_up,
            )
        return out


def notice_push(row: NoticeRow) -> Push:
    return Push("notice", {"kind": row.kind, "subject": row.subject, "at_ms": row.at_ms, **row.data})
