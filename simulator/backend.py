"""Behind the radios: the gateways' real dedupe and envelope code, the broker and its outages, the dispatch
service's real pipeline, and what its effects set off (pushes to screens, responders, downlinks, the clock)."""

import time
from typing import Any

import numpy as np

from basestation.dispatch.core.context import Context
from basestation.dispatch.core.effects import Effects
from basestation.dispatch.core.incidents import Event, State
from basestation.dispatch.core.outcomes import Outcome
from basestation.gateway.core import Deduper, encode_envelope
from basestation.gateway.record import ReceivedFrame
from simulator.alarm_plan import AGAIN_AFTER_CLOSE, ESCORT, SOS
from simulator.engine_api import EngineAPI
from simulator.reach import Entry, Logs
from simulator.trace import AlarmTrace
from simulator.world import H_MS

TICK_MS = 1000  # the dispatch clock (settings.tick_s)
RECOVERY_EVERY_MS = 5_000  # settings.recovery_every_s
ON_THE_WAY_MS = 10_000  # a responder who accepted taps "on the way" as they set off
Z95 = 1.645  # the standard normal's 95th percentile: a log-normal from its median and p95


class Backend:
    def __init__(self, engine: EngineAPI) -> None:
        self.e = engine
        self.dedupers = [Deduper() for _ in engine.world.gateways.ids]
        self.trace_by_incident: dict[str, AlarmTrace] = {}
        self._notified: set[tuple[str, str]] = set()
        self._ticking = False
        self._sweeping = False
        self._delivered: set[bytes] = set()  # pseudonyms of ring frames dispatch has resolved
        self.logs = Logs()  # dispatch's incident log as it commits it, in virtual ms

    # ---- gateways and broker ----------------------------------------------------------------------------

    def _broker_up_at(self, t: float) -> float:
        for w in self.e.sc.broker_outages:
            if w.contains_ms(t):
                return w.end_h * H_MS + 1.0  # the gateways' spools drain when the broker comes back
        return t

    def gw_rx(self, g: int, frame: bytes, radio: str, meta: dict[str, Any], rx_t: float, origin: str) -> None:
        e = self.e
        gws = e.world.gateways
        sighting = self.dedupers[g].observe(frame, e.now / 1000)
        if not sighting.forward:
            return
        e.counters.gateway_copies[radio] += 1
        rec = ReceivedFrame(
            frame,
            "ble" if radio == "ble" else "lora",
            (e.sc.start_unix_ms + rx_t) / 1000,
            rssi=meta.get("rssi"),
            snr=meta.get("snr"),
            freq_mhz=meta.get("freq_mhz"),
            datr=meta.get("datr"),
        )
        payload = encode_envelope(rec, gws.ids[g])
        at_broker = self._broker_up_at(e.now + e.hops.draw("backhaul"))
        at_dispatch = at_broker + e.hops.draw("broker")
        chain = (rx_t, e.now, at_broker)
        e.push(at_dispatch, "dispatch", (gws.ids[g], payload, frame, radio, origin, chain))

    # ---- dispatch ---------------------------------------------------------------------------------------

    def dispatch(
        self, gw_id: str, payload: bytes, frame: bytes, radio: str, origin: str, chain: tuple[float, float, float]
    ) -> None:
        e = self.e
        c = e.counters
        before = None
        if origin == "replay":
            inc = self._incident_of(frame)
            before = None if inc is None else (inc.lat, inc.lon)
        ctx = e.dispatch.handle(f"nightwatch/v1/up/{gw_id}", payload, e.unix_ms(e.now))
        outcome = str(ctx.outcome)
        c.outcomes[outcome] += 1
        done = e.now + e.hops.draw("dispatch")
        pid = frame[1:7]  # the pseudonym: one (device, counter), whatever the age byte of the copy
        if origin == "ring" and ctx.outcome in (Outcome.ACCEPTED, Outcome.DUPLICATE, Outcome.REPLAY):
            self._delivered.add(pid)
        if origin == "replay":
            # A replay of a counter dispatch already had must be refused. A frame the network never heard is a
            # first delivery, however late: the replay window cannot tell it from a slow copy (SPEC 8).
            seen = "delivered_before" if pid in self._delivered else "first_delivery"
            c.replay_outcomes[f"{seen}:{outcome}"] += 1
            inc = self._incident_of(frame)
            if inc is not None and before is not None and (inc.lat, inc.lon) != before:
                c.replay_moved_location += 1
        frame_trace = e.exact.frame_trace
        trace = frame_trace.get(frame) if origin == "ring" else None
        if trace is not None:
            self._at_dispatch(trace, ctx, radio, chain, done)
        if origin == "ring" and ctx.outcome == Outcome.REPLAY and frame in frame_trace:
            c.alarm_copies_as_replay += 1
        if ctx.outcome == Outcome.UNKNOWN_DEVICE and not self._sweeping:
            self._sweeping = True
            e.push(e.now + RECOVERY_EVERY_MS, "sweep", ())
        self._effects(ctx.effects, done)

    def _at_dispatch(
        self, trace: AlarmTrace, ctx: Context, radio: str, chain: tuple[float, float, float] | None, done: float
    ) -> None:
        """A copy of a press was handled: the first one's hops, and what dispatch made of the press."""
        if ctx.outcome == Outcome.UNKNOWN_DEVICE:
            return  # held for the recovery sweep, which hands it on if it finds the ring
        path = trace.radios[radio]
        if path.dispatch_ms is None and chain is not None:
            # The hops of the first copy to reach dispatch over this radio, so the shares add up.
            path.gateway_rx_ms, path.gateway_out_ms, path.broker_ms = chain
            path.dispatch_ms = done
            path.gateway_id = ctx.reception.gateway_id if ctx.reception is not None else ""
        if trace.at_dispatch_ms is not None:
            return
        trace.at_dispatch_ms = self.e.now
        trace.dispatch_outcome = str(ctx.outcome)
        recent = self.e.dispatch.state.recent.get((ctx.device_id, ctx.counter))
        holder = None if recent is None else recent.incident_id
        if holder is None:
            return
        trace.incident_id = holder
        inc = self.e.dispatch.state.incidents[holder]
        if inc.counter == ctx.counter and holder not in self.trace_by_incident:
            self._opened(trace, holder, radio, done)

    def _opened(self, trace: AlarmTrace, incident_id: str, radio: str, done: float) -> None:
        """The press opened an incident (not folded into the person's open one): its screen and its close."""
        e = self.e
        if trace.kind in (SOS, ESCORT):
            trace.accepted_ms = done  # the latency budget's alarms: SOS and escort
            trace.first_radio = radio
        self.trace_by_incident[incident_id] = trace
        e.counters.incidents += 1
        e.push(done + e.sc.behaviour.operator_close_min * 60_000, "resolve", (incident_id, "operator"))

    def sweep(self) -> None:
        """The recovery sweep (SPEC 7.5) over the frames no device claimed, as the service runs it."""
        e = self.e
        self._sweeping = False
        t0 = time.perf_counter()
        found = e.dispatch.pipeline.sweep(e.unix_ms(e.now))
        e.counters.sweeps += 1
        e.counters.sweep_s += time.perf_counter() - t0
        for ctx in found:
            e.counters.outcomes["recovered_" + str(ctx.outcome)] += 1
            done = e.now + e.hops.draw("dispatch")
            rec = ctx.reception
            trace = None if rec is None else e.exact.frame_trace.get(rec.frame)
            if trace is not None and rec is not None:
                self._at_dispatch(trace, ctx, rec.radio, None, done)
            self._effects(ctx.effects, done)

    def _incident_of(self, frame: bytes) -> Any:
        trace = self.e.exact.frame_trace.get(frame)
        if trace is None or trace.incident_id is None:
            return None
        return self.e.dispatch.state.incidents.get(trace.incident_id)

    def _effects(self, eff: Effects, t: float) -> None:
        e = self.e
        start = e.sc.start_unix_ms
        for row in eff.durable:
            if isinstance(row, Event):
                self.logs.add(row.incident_id, Entry(float(row.at_ms - start), row.kind, dict(row.data)))
        for push in eff.pushes:
            if push.topic != "incident":
                continue
            d = push.data
            trace = self.trace_by_incident.get(d["id"])
            shown = t + e.hops.draw("push")
            if trace is not None:
                if trace.screen_ms is None:
                    trace.screen_ms = shown
                if d["state"] == State.CANCELLED and trace.cancelled_ms is None:
                    trace.cancelled_ms = shown
                if d["offered_to"]:
                    trace.offered = True
            for rid in d["offered_to"]:
                if (d["id"], rid) not in self._notified and d["state"] in (State.OFFERED, State.ESCALATED):
                    self._notified.add((d["id"], rid))
                    lo, hi = e.sc.behaviour.accept_s
                    react = lo * float(np.exp(np.log(max(hi, lo) / max(lo, 1e-3)) / Z95 * e.rng.standard_normal()))
                    e.push(shown + react * 1000, "respond", (d["id"], rid))
        if eff.downlinks:
            out = t + e.hops.draw("commit")  # downlinks are published after the commit
            for dl in eff.downlinks:
                at_gw = self._broker_up_at(out) + e.hops.draw("downlink")
                e.push(
                    at_gw,
                    "downlink",
                    (dl.gateway_id, bytes.fromhex(dl.payload["frame"]), bytes.fromhex(dl.payload.get("uplink", ""))),
                )
        if not self._ticking and e.dispatch.active_incidents():
            self._ticking = True
            e.push(e.now + TICK_MS, "tick", ())

    def tick(self) -> None:
        e = self.e
        self._effects(e.dispatch.tick(e.unix_ms(e.now)), e.now)
        if e.dispatch.active_incidents():
            e.push(e.now + TICK_MS, "tick", ())
        else:
            self._ticking = False

    # ---- responders and operators -----------------------------------------------------------------------

    def respond(self, incident_id: str, responder_id: str) -> None:
        e = self.e
        inc = e.dispatch.state.incidents.get(incident_id)
        if inc is None or not inc.active or inc.accepted_by or responder_id in inc.declined_by:
            return
        now = e.unix_ms(e.now)
        if e.rng.random() < e.sc.behaviour.accept_share:
            eff = e.dispatch.accept(incident_id, responder_id, now)
            trace = self.trace_by_incident.get(incident_id)
            if trace is not None and trace.responder_accept_ms is None:
                trace.responder_accept_ms = e.now
            e.push(e.now + ON_THE_WAY_MS, "on_the_way", (incident_id, responder_id))
            e.push(e.now + e.sc.behaviour.on_scene_min * 60_000, "resolve", (incident_id, responder_id))
        else:
            eff = e.dispatch.decline(incident_id, responder_id, now)
        self._effects(eff, e.now + e.hops.draw("dispatch"))

    def on_the_way(self, incident_id: str, responder_id: str) -> None:
        e = self.e
        inc = e.dispatch.state.incidents.get(incident_id)
        if inc is None or not inc.active:
            return  # cancelled by the wearer while the responder was getting ready
        self._effects(e.dispatch.on_the_way(incident_id, responder_id, e.unix_ms(e.now)), e.now)

    def resolve(self, incident_id: str, by: str) -> None:
        """A responder back from the scene, or an operator closing what nobody took."""
        e = self.e
        inc = e.dispatch.state.incidents.get(incident_id)
        if inc is None or not inc.active:
            return
        taken = inc.state in (State.ACCEPTED, State.ON_THE_WAY)
        if taken != (by != "operator"):
            return  # the operator leaves accepted incidents to their responder
        if by == "operator":
            e.counters.operator_closed += 1
        self._effects(e.dispatch.resolve(incident_id, by, e.unix_ms(e.now)), e.now)
        trace = self.trace_by_incident.get(incident_id)
        if trace is not None and trace.again_after_close_ms is not None:
            # The wearer's alarm is over (their ring says so, if it heard): some minutes on, they press again.
            e.push(e.now + trace.again_after_close_ms, "gesture", (trace.ring, SOS, AGAIN_AFTER_CLOSE, None))
            trace.again_after_close_ms = None
