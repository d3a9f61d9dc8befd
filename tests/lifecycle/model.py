"""The alarm's life as a person lives it, as a hypothesis state machine (docs/lifecycle.md, "Invariants").

One key ring runs the real firmware logic (``firmware.keyring.Keyring`` on the shared fakes and a virtual clock);
the real dispatch pipeline and actions run on a real SQLite database, and a restart rebuilds them from it alone
(tests/dispatch/desk.py). Between them a radio holds every copy the ring put on air and every ACK dispatch sent:
each may be delivered, delivered again later (a duplicate, or a recording), or dropped, in any order. The wearer
presses SOS, asks to be walked home, cancels, cancels under coercion; responders accept, decline, go, resolve;
operators assign, escalate, resolve; responders come and go off duty; the clock runs across both daylight-saving
changes. After every step the invariants a-h are checked.

The ring, the desk and the radio between them, and the checks made at each dispatch step, are
tests/lifecycle/stage.py; here are the rules, what a person or the radio may do, and the invariants.
"""

from hypothesis import strategies as st
from hypothesis.stateful import invariant, precondition, rule

from basestation.dispatch.core import actions, operator_actions
from basestation.dispatch.core.incidents import State
from basestation.dispatch.core.lifecycle import PLANNED, ring_listening
from basestation.dispatch.core.outcomes import Outcome
from firmware.config import DEFAULTS
from protocol.constants import (
    ACK_CANCELLED,
    ACK_CLOSED,
    ACK_HELP_ON_THE_WAY,
    ACK_UNAVAILABLE,
    EVENT_CANCEL,
    EVENT_DURESS,
    EVENT_ESCORT,
    EVENT_SOS,
)
from tests.dispatch.world import GATEWAYS
from tests.lifecycle.stage import ADVANCES, ALARMS, DEVICE, GENUINE, SAME_TRANSMISSION_MS, Air, Stage


class AlarmLife(Stage):
    # -- the wearer ---------------------------------------------------------------------------------------------

    @rule()
    def press_sos(self) -> None:
        self._button(True, 2100)
        self._button(False, 100)

    @precondition(lambda self: self.ready and self.app.alarm is None)
    @rule()
    def ask_to_be_walked_home(self) -> None:
        self._word(str(DEFAULTS["escort_word"]))

    @precondition(lambda self: self.ready and self.app.alarm is not None and self.app.alarm.event != 7)
    @rule(duress=st.booleans())
    def cancel(self, duress: bool) -> None:
        self._word(str(DEFAULTS["duress_word"] if duress else DEFAULTS["cancel_word"]))

    @rule(ms=st.sampled_from(ADVANCES))
    def wait(self, ms: int) -> None:
        self._run_for(ms)

    # -- the radio ----------------------------------------------------------------------------------------------

    @precondition(lambda self: self.ready and bool(self.air))
    @rule(i=st.integers(0, 63), gw=st.sampled_from(sorted(GATEWAYS)), keep=st.booleans(), rssi=st.integers(-120, -60))
    def uplink_heard(self, i: int, gw: str, keep: bool, rssi: int) -> None:
        """A copy reaches dispatch through gateway ``gw``; ``keep`` leaves it on air to be heard again later."""
        copy = self.air[i % len(self.air)]
        if not keep:
            self.air.remove(copy)
        first = self.log.first_heard.setdefault(copy.frame, self.now)
        ctx = self._dispatch(lambda: self.desk.send(copy.frame, gw, self.now, copy.radio, float(rssi)))
        assert ctx.outcome in GENUINE, f"a genuine frame was {ctx.outcome}: {ctx.detail}"
        if self.now - first > SAME_TRANSMISSION_MS:
            # h. The same bytes heard long after they were first heard are a recording: no airtime for it.
            assert ctx.effects.downlinks == [], "a recording was answered"
        if ctx.outcome in (Outcome.ACCEPTED, Outcome.RATE_LIMITED):
            self._first_copy(ctx.counter)
        if ctx.outcome in (Outcome.ACCEPTED, Outcome.DUPLICATE, Outcome.RATE_LIMITED):
            self._carried(ctx.counter, copy)

    def _carried(self, counter: int, copy: Air) -> None:
        """a. Whatever came before, the wearer's latest press reaches a person: a copy the ring sent after it is
        held by an incident that was still open when the wearer pressed (not one that had ended, as a repeated
        counter would be), unless the wearer cancelled since."""
        recent = self.desk.state.recent.get((DEVICE, counter))
        if recent is None or recent.event not in ("sos", "escort", "duress"):
            return
        # Only the ring's newest alarm frame when it sent this copy carries its latest press: a late retry of an
        # older one (a duress is retried for minutes) may belong to an incident that ended since, rightly.
        newest = max((p.counter for p in self.log.presses if p.kind in ALARMS and p.at_ms <= copy.sent_ms), default=0)
        if counter != newest:
            return
        pressed = [t for t, kind in self.log.gestures if kind != "cancel" and t <= copy.sent_ms]
        if not pressed:
            return
        if any(t > pressed[-1] and kind == "cancel" for t, kind in self.log.gestures):
            return
        assert recent.incident_id is not None, f"press {counter} reached dispatch but no incident holds it"
        doc = self.desk.incident(recent.incident_id)
        assert doc is not None
        ended = doc["state"] in ("resolved", "cancelled")
        assert not ended or doc["updated_ms"] >= pressed[-1], f"a press folded into {doc['id']}, over before it"

    def _first_copy(self, counter: int) -> None:
        press = next((p for p in self.log.presses if p.counter == counter), None)
        if press is None:
            return  # a heartbeat
        assert press.first_copy_ms is None, f"counter {counter} accepted twice"  # g. never doubled
        press.first_copy_ms = self.now
        recent = self.desk.state.recent.get((DEVICE, counter))
        press.incident_id = recent.incident_id if recent is not None else None
        if press.kind in ALARMS:
            assert press.incident_id is not None, f"press {counter} reached dispatch but no incident holds it"
            inc = self.desk.state.incidents[press.incident_id]
            if press.kind == EVENT_DURESS:
                # c. Escalated on arrival, for every kind, and forced.
                assert inc.forced and inc.escalation >= 2 and inc.active

    @precondition(lambda self: self.ready and bool(self.air))
    @rule(i=st.integers(0, 63))
    def uplink_lost(self, i: int) -> None:
        self.air.pop(i % len(self.air))

    @precondition(lambda self: self.ready and bool(self.down))
    @rule(i=st.integers(0, 63), keep=st.booleans())
    def downlink_heard(self, i: int, keep: bool) -> None:
        sent = self.down[i % len(self.down)]
        if not keep:
            self.down.remove(sent)
        self.board.lora.deliver(sent.frame)
        self.app.poll(self.clock.ticks_ms())

    @precondition(lambda self: self.ready and bool(self.down))
    @rule(i=st.integers(0, 63))
    def downlink_lost(self, i: int) -> None:
        self.down.pop(i % len(self.down))

    # -- the people at dispatch -------------------------------------------------------------------------------

    @precondition(lambda self: self.ready and bool(self.desk.state.incidents))
    @rule(
        i=st.integers(0, 15),
        rid=st.sampled_from(["r-pieters", "r-hooglandse", "r-far"]),
        act=st.sampled_from(["accept", "decline", "on_the_way", "resolve"]),
        eta=st.integers(0, 30),
    )
    def responder(self, i: int, rid: str, act: str, eta: int) -> None:
        ids = self._incidents()
        inc = self.desk.state.incidents[ids[i % len(ids)]]
        was = inc.to_dict()
        now, desk = self.now, self.desk
        fns = {
            "accept": lambda: desk.act(actions.accept, inc.id, rid, now, eta),
            "decline": lambda: desk.act(actions.decline, inc.id, rid, now, desk.pipeline),
            "on_the_way": lambda: desk.act(actions.on_the_way, inc.id, rid, now),
            "resolve": lambda: desk.act(actions.resolve, inc.id, rid, now),
        }
        if act == "resolve" and rid not in inc.accepted_by:
            return  # the API refuses (403) before the action runs
        done = self._refused_writes_nothing(inc.id, fns[act])
        # f. Only on what is theirs now, and only once.
        if done:
            assert was["state"] not in ("resolved", "cancelled"), f"{act} on an ended incident"
        if done and act == "accept":
            assert rid in was["accepted_by"] or (rid in was["offered_to"] and rid not in was["declined_by"])
            if rid in was["accepted_by"]:
                assert {k: v for k, v in inc.to_dict().items()} == was, "a repeated accept changed something"

    @precondition(lambda self: self.ready and bool(self.desk.state.incidents))
    @rule(
        i=st.integers(0, 15),
        act=st.sampled_from(["assign", "escalate", "resolve"]),
        rid=st.sampled_from(["r-pieters", "r-hooglandse", "r-far"]),
    )
    def operator(self, i: int, act: str, rid: str) -> None:
        ids = self._incidents()
        inc = self.desk.state.incidents[ids[i % len(ids)]]
        was = inc.to_dict()
        now, desk = self.now, self.desk
        fns = {
            "assign": lambda: desk.act(operator_actions.assign, inc.id, rid, now),
            "escalate": lambda: desk.act(operator_actions.escalate, inc.id, now, desk.pipeline),
            "resolve": lambda: desk.act(actions.resolve, inc.id, "operator", now),
        }
        if act == "assign":
            self.log.assigned.add((inc.id, rid))
        if self._refused_writes_nothing(inc.id, fns[act]):
            assert was["state"] not in ("resolved", "cancelled"), f"operator {act} on an ended incident"

    @precondition(lambda self: self.ready)
    @rule(rid=st.sampled_from(["r-pieters", "r-hooglandse", "r-far"]), on=st.booleans())
    def duty(self, rid: str, on: bool) -> None:
        self.desk.state.responders[rid].on_duty = on
        self.desk.save_responder(rid)

    @precondition(lambda self: self.ready)
    @rule()
    def restart(self) -> None:
        self.desk.restart(self.now)

    # -- invariants ---------------------------------------------------------------------------------------------

    @invariant()
    def every_press_reaches_a_person(self) -> None:
        """a. Every SOS, escort or duress that reached dispatch is held by an incident that is offered to someone,
        accepted, or escalated to the operators; or was cancelled by the wearer within the window, or closed."""
        if not self.ready:
            return
        for p in self.log.presses:
            if p.kind not in ALARMS or p.incident_id is None:
                continue
            inc = self.desk.state.incidents.get(p.incident_id)
            if inc is None:
                continue  # over, and dropped from memory by a restart: it was checked while it lasted
            if inc.active:
                waiting = any(o not in inc.declined_by for o in inc.offered_to)
                assert inc.accepted_by or waiting or inc.escalation >= 2, f"{inc.id} reaches nobody: {inc}"
            elif inc.state == State.CANCELLED:
                window = self.desk.timing.cancel_window_ms
                heard = [c.first_copy_ms for c in self.log.presses if c.kind == EVENT_CANCEL and c.first_copy_ms]
                assert any(t - inc.opened_ms <= window for t in heard), f"{inc.id} cancelled, not in the window"

    @invariant()
    def help_on_the_way_is_true(self) -> None:
        """b. The ring shows "help on the way" only for a press whose incident a responder accepted, told so by a
        HELP_ON_THE_WAY for that very counter."""
        if not self.ready or self.app.alarm is None or self.app.alarm.state != ACK_HELP_ON_THE_WAY:
            return
        c = self.app.alarm.counter
        assert any(s.counter == c and s.state == ACK_HELP_ON_THE_WAY for s in self.log.acks)
        press = next(p for p in self.log.presses if p.counter == c)
        assert press.incident_id is not None
        inc = self.desk.state.incidents.get(press.incident_id)
        if inc is not None:
            # If it ended and the ring did not hear so, the ring gives up by itself after the cancel window, and its
            # next press is a new alarm (firmware/keyring.py; the press rules above check that).
            assert inc.accepted_by and c > inc.quiet_counter, f"help shown for {c}: {inc}"

    @invariant()
    def a_quiet_ring_stays_quiet(self) -> None:
        """c. After a cancel or a duress, and until the next press, the ring feels nothing but "cancelled": a
        duress is indistinguishable from a cancel."""
        if not self.ready:
            return
        last_cancel = max((p.at_ms for p in self.log.presses if p.kind in (EVENT_CANCEL, EVENT_DURESS)), default=None)
        if last_cancel is None:
            return
        if any(p.at_ms > last_cancel for p in self.log.presses if p.kind in (EVENT_SOS, EVENT_ESCORT)):
            return
        felt = {name for t, name in self.log.feedback if t > last_cancel}
        assert felt <= {"cancelled", "idle", "low_battery"}, f"after a cancel the ring felt {felt}"

    @invariant()
    def nobody_can_come_is_told(self) -> None:
        """d. An incident nobody can take is marked, escalated to the operators, and its ring told UNAVAILABLE."""
        if not self.ready:
            return
        for inc in self.desk.state.incidents.values():
            if inc.state not in PLANNED or inc.accepted_by:
                continue
            if all(o in inc.declined_by for o in inc.offered_to):
                assert inc.unavailable and inc.escalation >= 2, f"{inc.id}: nobody can come, nobody told"
            if inc.unavailable and ring_listening(inc):
                recent = self.desk.state.recent.get((DEVICE, inc.ring_counter))
                if recent is not None and recent.ack_state is not None:
                    assert recent.ack_state in (ACK_UNAVAILABLE, ACK_HELP_ON_THE_WAY, ACK_CLOSED, ACK_CANCELLED)
