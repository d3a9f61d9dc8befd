"""The stage the alarm's life plays on (tests/lifecycle/model.py): one key ring running the real firmware logic
(``firmware.keyring.Keyring`` on the shared fakes and a virtual clock), the real dispatch pipeline and actions on
a real SQLite database that a restart rebuilds from alone (tests/dispatch/desk.py), and between them the radio:
every copy the ring put on air and every ACK dispatch sent. Here are what the model keeps (presses, copies, ACKs),
its set-up on a night near a daylight-saving change, the ring's buttons and clock, and each dispatch step with the
checks that hold at every one: offers only inside a shift (e), an ACK's seq never used twice (h), a refused act
that writes nothing (f). The rules and the other invariants are the model's.
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
from hypothesis.stateful import RuleBasedStateMachine, initialize

from basestation.dispatch.api.registry import window_before
from basestation.dispatch.core import actions
from basestation.dispatch.core.actions import ActionError
from basestation.dispatch.core.assignment import shift_bounds
from basestation.dispatch.core.effects import Downlink, Effects
from basestation.dispatch.core.outcomes import Outcome
from firmware.keyring import Keyring
from protocol import ack
from protocol.constants import (
    EVENT_CANCEL,
    EVENT_DURESS,
    EVENT_ESCORT,
    EVENT_SOS,
)
from tests.dispatch.desk import Desk, migrated, remove
from tests.dispatch.world import World
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


class Stage(RuleBasedStateMachine):
    """The ring and the desk, set up, with the radio between them; the model's rules drive them."""

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
