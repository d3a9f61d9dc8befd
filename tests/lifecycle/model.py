"""The alarm's life as a person lives it, as a hypothesis state machine (docs/lifecycle.md, "Invariants").

One key ring runs the real firmware logic (``firmware.keyring.Keyring`` on the shared fakes and a virtual clock);
the real dispatch pipeline and actions run on a real SQLite database, and a restart rebuilds them from it alone
(tests/dispatch/desk.py). Between them a radio holds every copy the ring put on air and every ACK dispatch sent:
each may be delivered, delivered again later (a duplicate, or a recording), or dropped, in any order. The wearer
presses SOS, asks to be walked home, cancels, cancels under coercion; responders accept, decline, go, resolve;
operators assign, escalate, resolve; responders come and go off duty; the clock runs across both daylight-saving
changes. After every step the invariants a-h are checked.
"""

import atexit
import heapq
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from basestation.dispatch.api.registry import window_before
from basestation.dispatch.core import actions, operator_actions
from basestation.dispatch.core.actions import ActionError
from basestation.dispatch.core.assignment import shift_bounds
from basestation.dispatch.core.effects import Downlink, Effects
from basestation.dispatch.core.incidents import State
from basestation.dispatch.core.lifecycle import PLANNED, ring_listening
from basestation.dispatch.core.outcomes import Outcome
from firmware.config import DEFAULTS
from firmware.keyring import Keyring
from protocol import ack
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
from tests.dispatch.desk import Desk, migrated, remove
from tests.dispatch.world import GATEWAYS, World
from tests.firmware.mp.sim import Sim

DEVICE = 42
ZONE = ZoneInfo("Europe/Amsterdam")
SAME_TRANSMISSION_MS = 5000
TICK_MS = 20_000  # the walk over every incident; deadlines are met when they fall (docs/dispatch.md)


def _utc_ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


# Nights to start on (UTC): the night summer time starts (02:00 local does not exist), the night it ends (02:00
# to 03:00 local happens twice), a winter night and a summer evening, each shortly before the patrol's shift.
STARTS = (
    _utc_ms("2026-03-28T23:40:00"),
    _utc_ms("2026-03-29T00:40:00"),
    _utc_ms("2026-10-24T23:20:00"),
    _utc_ms("2026-10-25T00:40:00"),
    _utc_ms("2026-12-06T23:50:00"),
    _utc_ms("2026-07-01T22:50:00"),
)
SHIFTS = (None, "01:00-05:00", "22:00-02:00", "02:00-03:00", "00:30-01:30")
ADVANCES = (150, 700, 2_000, 5_000, 31_000, 95_000, 185_000, 600_000, 1_000_000)
ALARMS = (EVENT_SOS, EVENT_ESCORT, EVENT_DURESS)
# What the pipeline may say about a genuine frame from the ring, whatever the radio did to it.
GENUINE = frozenset({Outcome.ACCEPTED, Outcome.DUPLICATE, Outcome.RATE_LIMITED, Outcome.REPLAY, Outcome.UNKNOWN_DEVICE})

_TMP = Path(tempfile.mkdtemp(prefix="nightwatch-model-"))
atexit.register(shutil.rmtree, _TMP, True)


@dataclass
class Press:
    """One act of the wearer that went on air under its own counter."""

    kind: int  # EVENT_SOS, EVENT_ESCORT, EVENT_CANCEL, EVENT_DURESS
    counter: int
    at_ms: int
    names: int = 0  # for a cancel or duress: the counter of the alarm it cancels
    incident_id: str | None = None  # set when its first copy reached dispatch
    first_copy_ms: int | None = None


@dataclass
class Air:
    """One copy on air, as the ring sent it."""

    frame: bytes
    radio: str
    sent_ms: int


@dataclass
class Sent:
    """One ACK dispatch queued, decoded: its counter, seq and state."""

    counter: int
    seq: int
    state: int
    frame: bytes
    at_ms: int


@dataclass
class Log:
    presses: list[Press] = field(default_factory=list)
    acks: list[Sent] = field(default_factory=list)
    first_heard: dict[bytes, int] = field(default_factory=dict)  # frame bytes -> when first delivered
    feedback: list[tuple[int, str]] = field(default_factory=list)
    assigned: set[tuple[str, str]] = field(default_factory=set)  # (incident, responder) offered by an operator
    gestures: list[tuple[int, str]] = field(default_factory=list)  # what the ring recognised the wearer did, when


class AlarmLife(RuleBasedStateMachine):
    desk: Desk
    sim: Sim

    def __init__(self) -> None:
        super().__init__()
        self.log = Log()
        self.air: list[Air] = []
        self.down: list[Sent] = []
        self.ready = False

    # -- set-up --------------------------------------------------------------------------------------------

    @initialize(
        start=st.sampled_from(STARTS),
        counter_start=st.integers(1, 1 << 20),
        shifts=st.lists(st.sampled_from(SHIFTS), min_size=3, max_size=3),
        on_duty=st.lists(st.booleans(), min_size=3, max_size=3),
    )
    def setup(self, start: int, counter_start: int, shifts: list[str | None], on_duty: list[bool]) -> None:
        world = World()
        self.desk = Desk(migrated(_TMP, world), world, registered=True)
        for r, shift, duty in zip(world.state.responders.values(), shifts, on_duty, strict=True):
            if (r.shift, r.on_duty) != (shift, duty):
                r.shift, r.on_duty = shift, duty
                self.desk.save_responder(r.id)
        self.t0 = start
        # The ring on the shared fakes, with a fixed key, so that an example replays exactly when hypothesis
        # shrinks it; its records come to ``_record`` as they happen.
        self.sim = Sim(counter_start=counter_start, device_id=DEVICE, sink=self._record)
        root = self.sim.cfg.root_key
        world.roots[DEVICE] = root
        # Provisioned as POST /api/v1/devices does with the record `nightwatch provision --counter-start N` prints:
        # the window sits just below the ring's first counter (g).
        highest, bitmap = window_before(counter_start)
        world.state.resolver.add(DEVICE, root, highest, bitmap)
        self.desk._run(self.desk.store.add_device(DEVICE, root, None, 0, highest, bitmap))
        self.keys, self.board, self.clock = self.sim.keys, self.sim.board, self.sim.clock
        self.ready = True

    def teardown(self) -> None:
        if self.ready:
            self.desk.close()
            remove(self.desk.path)

    # -- the ring's side ---------------------------------------------------------------------------------------

    @property
    def app(self) -> Keyring:
        return self.sim.app

    @property
    def now(self) -> int:
        return self.t0 + self.clock.elapsed

    def _record(self, rec: dict[str, Any]) -> None:
        kind = rec["kind"]
        if kind == "radio":
            self.air.append(Air(bytes.fromhex(rec["frame"]), rec["radio"], self.t0 + rec["t_ms"]))
        elif kind == "feedback":
            self.log.feedback.append((self.t0 + rec["t_ms"], rec["value"]))
        elif kind == "pattern" and rec["value"] in ("sos", "escort", "cancel", "duress"):
            # The moment the ring recognised what the wearer did: an SOS at the end of its 2 s hold.
            self.log.gestures.append((self.t0 + rec["t_ms"], rec["value"]))
        elif kind == "uplink" and self.ready:  # not the boot heartbeat, sent as the ring is made
            counter = int(rec["value"])
            out = self.app.cancel if self.app.cancel is not None and self.app.cancel.counter == counter else None
            if out is None and self.app.alarm is not None and self.app.alarm.counter == counter:
                out = self.app.alarm
            if out is not None and out.event in (*ALARMS, EVENT_CANCEL):
                names = counter - out.aux if out.event in (EVENT_CANCEL, EVENT_DURESS) else 0
                self.log.presses.append(Press(out.event, counter, self.now, names))

    def _run_for(self, ms: int) -> None:
        """The clock moves on: the ring steps, and dispatch's clock runs at each deadline it set (an offer timing
        out, a broadcast, an escalation) and at least every TICK_MS, as the service's does."""
        end = self.clock.elapsed + ms
        while self.clock.elapsed < end:
            step = self.clock.elapsed + TICK_MS
            heap = self.desk.state.deadlines
            if heap:
                step = min(step, max(self.clock.elapsed + 1, heap[0][0] - self.t0))
            self.sim.run_until(min(end, step))
            self._dispatch(lambda: self.desk.act(actions.tick, self.desk.pipeline, self.now))
            while heap and heap[0][0] <= self.now:
                heapq.heappop(heap)  # met by the tick just run

    def _button(self, pressed: bool, hold_ms: int) -> None:
        self.board.button.set(pressed)
        self.app.poll(self.clock.ticks_ms())
        self._run_for(hold_ms)

    def _word(self, word: str) -> None:
        for c in word:
            self._button(True, 150 if c == "S" else 1000)
            self._button(False, 200)
        self._run_for(800)  # the word ends after the gap

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

    # -- dispatch's side ----------------------------------------------------------------------------------------

    def _dispatch(self, step: Any) -> Any:
        """Run one dispatch step, then look at the offers it made and the ACKs it queued."""
        before = {i.id: list(i.offered_to) for i in self.desk.state.incidents.values()}
        result = step()
        eff = result.effects if hasattr(result, "effects") else result
        for inc in self.desk.state.incidents.values():
            for rid in inc.offered_to[len(before.get(inc.id, [])) :]:
                if (inc.id, rid) in self.log.assigned:
                    continue
                # e. Offered only inside the shift, read on Amsterdam's wall clock.
                shift = self.desk.state.responders[rid].shift
                if shift:
                    local = datetime.fromtimestamp(self.now / 1000, ZONE)
                    ms = ((local.hour * 60 + local.minute) * 60 + local.second) * 1000 + local.microsecond // 1000
                    start, end = shift_bounds(shift)
                    inside = start <= ms < end if start <= end else ms >= start or ms < end
                    assert inside, f"{rid} offered at {local.isoformat()} outside {shift}"
        self._queue(eff)
        return result

    def _queue(self, eff: Effects) -> None:
        for down in eff.downlinks:
            self._sent(down)

    def _sent(self, down: Downlink) -> None:
        device, counter, seq = (int(x) for x in down.payload["id"].split("-"))
        frame = bytes.fromhex(down.payload["frame"])
        a = ack.decode(self.keys, frame, counter)
        assert (device, a.seq) == (DEVICE, seq)
        sent = Sent(counter, a.seq, a.state, frame, self.now)
        # h. A seq is never used twice for one counter, restarts included.
        assert all((s.counter, s.seq) != (counter, seq) for s in self.log.acks), f"seq {seq} of {counter} repeated"
        self.log.acks.append(sent)
        self.down.append(sent)

    def _incidents(self) -> list[str]:
        return sorted(self.desk.state.incidents)

    def _refused_writes_nothing(self, incident_id: str, act: Any) -> bool:
        """Run an act; if refused, nothing changed in memory or in the database (f). True when it was done."""
        inc = self.desk.state.incidents[incident_id]
        before, logged = inc.to_dict(), self.desk.logged(incident_id)
        try:
            self._dispatch(act)
        except ActionError:
            assert inc.to_dict() == before and self.desk.logged(incident_id) == logged
            return False
        return True

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
