"""The uplink pipeline: named steps over a context, as ChirpStack handles an uplink (pure: no I/O).

ingest -> resolve (pseudonym, MIC) -> replay check -> dedupe -> decrypt -> rate limit, then ``finish``: a new frame
is acted on and a copy of one accepted lately refines it (decisions.py). Each step either passes or sets an
:class:`Outcome` and stops; nothing here raises for bad input. The result is a list of effects that the service
carries out: durable records (committed before the MQTT ack), pushes (sent at once) and downlinks (sent after the
commit). The first valid copy of an alarm goes on at once; later copies only refine it. Frames no device's window
placed wait here for the recovery sweep (SPEC 7.5).
"""

import logging
from collections.abc import Callable

from basestation.dispatch.core import decisions, envelope, offers
from basestation.dispatch.core.context import Context
from basestation.dispatch.core.effects import DeviceState, Effects, NoticeRow, notice_push
from basestation.dispatch.core.incidents import Incident
from basestation.dispatch.core.outcomes import Outcome
from basestation.dispatch.core.state import DeviceInfo, DispatchState, Recent
from basestation.pseudonyms.resolver import Resolved
from protocol import uplink
from protocol.constants import (
    EVENT_HEARTBEAT,
    EVENT_LOW_BATTERY,
    EVENT_NAMES,
    EVENT_TEST,
    REASON_LENGTH,
    REASON_MIC,
    REASON_UNKNOWN_DEVICE,
    REASON_VERSION,
)
from protocol.errors import FrameError

log = logging.getLogger("nightwatch.dispatch.pipeline")

SUPERVISION = frozenset({EVENT_HEARTBEAT, EVENT_LOW_BATTERY, EVENT_TEST})
UNRESOLVABLE_MAX = 100_000


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
            decisions.act(
                self.state, ctx
            )  # which may stop it (an alarm flood folded into its incident): ctx.outcome read again
            outcome = ctx.outcome or Outcome.ACCEPTED
            ctx.outcome = outcome
        else:
            outcome = decided
            if outcome == Outcome.DUPLICATE and ctx.copy_of is not None:
                decisions.copy(self.state, ctx, ctx.copy_of)
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

    def offer(self, inc: Incident, now_ms: int, effects: Effects, busy: set[str] | None = None) -> None:
        """``offers.offer`` on this pipeline's state: for the clock and the actions, which hold the pipeline."""
        offers.offer(self.state, inc, now_ms, effects, busy)

    # -- shared pieces -------------------------------------------------------------------------------------

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
