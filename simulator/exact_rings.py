"""The exact path's rings in the engine: boot, wakes, the wearer's hand, and what each ring's firmware reports.

Each ring is a SimRing (the real firmware on the fakes); this module puts its wakes on the engine's heap and turns
its records into the alarm traces and into frames on air (BLE bursts to ble_air, LoRa uplinks to lora_air).
"""

from dataclasses import dataclass
from typing import Any

import numpy as np

from firmware.airtime import UPLINK_CHANNELS
from firmware.config import DEFAULTS
from protocol import uplink
from protocol.constants import ACK_CANCELLED, ACK_CLOSED, ACK_HELP_ON_THE_WAY, ACK_RECEIVED, ACK_UNAVAILABLE
from simulator.alarm_plan import (
    AGAIN_WHILE_OPEN,
    CANCEL,
    DURESS,
    DURESS_WORD,
    ESCORT,
    FALSE_ALARM,
    SOS,
    first_act,
)
from simulator.engine_api import EngineAPI
from simulator.gestures import gesture
from simulator.on_air import Tx
from simulator.reach import SHOWN_AS
from simulator.ring import Record, SimRing
from simulator.trace import AlarmTrace
from simulator.world import World

_ACK_EVENTS = {
    ACK_RECEIVED: "ack-received",
    ACK_HELP_ON_THE_WAY: "ack-help",
    ACK_CANCELLED: "ack-cancelled",
    ACK_CLOSED: "ack-closed",
    ACK_UNAVAILABLE: "ack-unavailable",
}
UNPLANNED = "unplanned_"  # a gesture the ring recognised as other than the one the wearer meant


@dataclass(frozen=True, slots=True)
class Intent:
    """The gesture the wearer started, until the ring says what it recognised."""

    kind: str
    act: str
    t: float
    again_after_close_ms: int | None


def ring_settings(world: World, i: int) -> dict[str, Any] | None:
    """The firmware settings a ring runs with that differ from its defaults: its SF, if not the default."""
    sf = int(world.people.sf[i])
    return None if sf == DEFAULTS["lora_sf"] else {"lora_sf": sf}


class ExactRings:
    def __init__(self, engine: EngineAPI) -> None:
        self.e = engine
        self.rings: dict[int, SimRing] = {}
        self.frame_ring: dict[bytes, int] = {}
        self.frame_trace: dict[bytes, AlarmTrace] = {}
        self.traces: list[AlarmTrace] = []
        self._open_trace: dict[int, AlarmTrace] = {}  # ring -> its alarm being pressed or sent
        self._pid: dict[int, bytes] = {}  # ring -> pseudonym of its open alarm's counter
        self._intent: dict[int, Intent] = {}
        self.unexpected: list[tuple[int, str, str, str]] = []  # (ring, act, meant, recognised): a word read otherwise
        self.ring_frames: list[tuple[int, str, bytes]] = []  # (ring, radio, frame): every exact frame, for checks
        self.keep_frames = len(engine.world.exact) <= 5000

    def plan(self) -> None:
        """Boot every exact ring and put its wearer's gestures on the heap."""
        e = self.e
        world, sc = e.world, e.sc
        first_alarm: dict[int, int] = {}
        for plan in world.alarms:
            first_alarm.setdefault(plan.ring, plan.at_ms)
        for i in world.exact:
            ring = SimRing(i, i + 1, world.root_key(i), self._on_record, ring_settings(world, i))
            self.rings[i] = ring
            e.dispatch.add_ring(i + 1, world.root_key(i))
            boot = int(world.people.phase_ms[i]) % int(sc.rings.heartbeat_min * 60_000)
            boot = min(boot, max(0, first_alarm.get(i, boot) - 60_000), int(e.end_ms))
            e.push(boot, "boot", (i,))
        for plan in world.alarms:
            e.push(plan.at_ms, "gesture", (plan.ring, plan.kind, first_act(plan), plan.again_after_close_ms))
            if plan.cancel_at_ms is not None:
                e.push(plan.cancel_at_ms, "gesture", (plan.ring, CANCEL, plan.act, None))
            if plan.duress_at_ms is not None:
                e.push(plan.duress_at_ms, "gesture", (plan.ring, DURESS, DURESS_WORD, None))
            if plan.again_at_ms is not None:
                e.push(plan.again_at_ms, "gesture", (plan.ring, SOS, AGAIN_WHILE_OPEN, None))

    def schedule(self, ring: SimRing) -> None:
        if ring.wake_at is not None:
            self.e.push(float(ring.wake_at), "wake", (ring.index, ring.wake_at))

    def boot(self, i: int) -> None:
        ring = self.rings[i]
        ring.boot(int(self.e.now))
        self.schedule(ring)

    def wake(self, i: int, due: int) -> None:
        ring = self.rings[i]
        if ring.wake_at != due:
            return  # superseded: the ring stepped since and asked for another time
        ring.wake(int(self.e.now))
        self.schedule(ring)

    def button(self, i: int, pressed: bool) -> None:
        ring = self.rings[i]
        if ring.app is None and not ring.deep:
            return  # not booted yet
        ring.button(int(np.ceil(self.e.now)), pressed)
        self.schedule(ring)

    def gesture(self, i: int, kind: str, act: str, again_after_close_ms: int | None) -> None:
        """The wearer's hand: an SOS hold, or a word (escort, cancel, duress) as this ring's firmware spells it.
        What it means is the firmware's to say (``_on_record``): a press becomes a trace when the ring recognises it."""
        e = self.e
        ring = self.rings[i]
        for down, up in gesture(kind, ring.cfg, e.now):
            e.push(down, "button", (i, True))
            e.push(up, "button", (i, False))
        self._intent[i] = Intent(kind, act, e.now, again_after_close_ms)

    def _recognised(self, ring: SimRing, value: str, t: float) -> None:
        """The firmware recognised a gesture: a press (SOS, escort, duress) opens a trace; a cancel marks the alarm
        it cancels. A gesture other than the one the wearer meant is recorded as what the ring made of it."""
        i = ring.index
        intent = self._intent.pop(i, None)
        if intent is not None and intent.kind != value:
            self.unexpected.append((i, intent.act, intent.kind, value))
            intent = None
        if value == CANCEL:
            trace = self._open_trace.get(i)
            if trace is not None and trace.cancel_pressed_ms is None:
                trace.cancel_pressed_ms = t if intent is None else intent.t
            return
        if value not in (SOS, ESCORT, DURESS):
            return
        e = self.e
        pressed = t if intent is None else intent.t
        x, y, _ = e.world.people.position(np.array([i]), pressed)
        trace = AlarmTrace(
            i,
            value,
            pressed,
            recognised_ms=t,
            x=float(x[0]),
            y=float(y[0]),
            false_alarm=intent is not None and intent.act == FALSE_ALARM,
            sf=int(e.world.people.sf[i]),
            act=UNPLANNED + value if intent is None else intent.act,
            again_after_close_ms=None if intent is None else intent.again_after_close_ms,
        )
        self.traces.append(trace)
        self._open_trace[i] = trace

    def _on_record(self, ring: SimRing, rec: Record) -> None:
        kind, t = rec["kind"], float(rec["t_ms"])
        if kind == "pattern":
            self._recognised(ring, str(rec["value"]), t)
            return
        trace = self._open_trace.get(ring.index)
        if kind == "uplink" and trace is not None and not trace.counter:
            trace.counter = int(rec["value"])
            self._pid[ring.index] = uplink.pseudonym(ring.keys, trace.counter)
        elif kind == "radio":
            self._on_air(ring, rec, trace, t)
        elif kind == "feedback" and trace is not None and rec["value"] in SHOWN_AS:
            trace.shown.append(SHOWN_AS[rec["value"]])
        elif kind == "ack":
            name = _ACK_EVENTS.get(int(rec["value"]))
            if name is not None:
                ring.inputs.append((int(t) - ring.boot_ms, name))
            if trace is not None:
                self._acked(ring, trace, int(rec["value"]), t)

    def _acked(self, ring: SimRing, trace: AlarmTrace, state: int, t: float) -> None:
        app = ring.app
        # The ring listens for its newest press only: an ACK is this trace's when the alarm in flight is its counter.
        ours = app is not None and app.alarm is not None and app.alarm.counter == trace.counter
        trace.ring_verified(state, t, ours)

    def _on_air(self, ring: SimRing, rec: Record, trace: AlarmTrace | None, t: float) -> None:
        e = self.e
        frame = bytes.fromhex(rec["frame"])
        radio = rec["radio"]
        e.counters.exact_frames[radio] += 1
        self.frame_ring[frame] = ring.index
        ring.sent.append((int(t) - ring.boot_ms, radio, rec["frame"]))
        if self.keep_frames:
            self.ring_frames.append((ring.index, radio, frame))
        pid = self._pid.get(ring.index)
        if trace is not None and pid is not None and frame[1:7] == pid:
            self.frame_trace[frame] = trace
            path = trace.radios[radio]
            if path.on_air_ms is None:
                path.on_air_ms = t
            if radio == "lora":
                trace.attempts += 1
        x, y, indoor = e.world.people.position(np.array([ring.index]), t)
        ind_db = e.sc.rings.indoor_loss_db if bool(indoor[0]) else 0.0
        e.attacker.record(t, float(x[0]), float(y[0]), frame)
        if radio == "lora":
            e.attacker.record_sf(frame, int(rec["sf"]))
        if radio == "ble":
            e.ble.burst(ring, t, float(x[0]), float(y[0]), ind_db, frame)
        else:
            chan = UPLINK_CHANNELS.index(int(rec["freq_hz"]))
            tx = Tx(
                t,
                t + float(rec["toa_ms"]),
                chan,
                float(x[0]),
                float(y[0]),
                ring.index,
                ind_db,
                frame,
                int(rec["freq_hz"]),
                e.sc.radio.ring_tx_dbm,
                "ring",
                int(rec["sf"]),
            )
            e.lora.on_air(tx)
