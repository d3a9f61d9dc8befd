"""A scenario's city live on the wall clock: rings, the air between them and the real gateways, the observer on
the broker, the responders on the dispatch service. It records each alarm's hops (simulator/trace.py) and narrates what
happens (``say``) for the demo.

Wiring, for one SOS: the wearer's hand (rings.py) -> the firmware puts a BLE burst and a LoRa frame on air
(records) -> the air model says which gateways hear them and when (air.py) -> after that delay, the real relays
get them (gateways.py) -> broker -> dispatch -> the responders' live streams (responders.py) -> accept -> the
dispatch's ACK downlink -> relay -> forwarder -> on air for its time -> every listening ring in reach, whose
firmware verifies it or ignores it.
"""

import asyncio
from collections.abc import Callable
from typing import Any

import numpy as np

from protocol import uplink
from protocol.constants import (
    ACK_CANCELLED,
    ACK_STATE_NAMES,
)
from simulator.alarm_plan import AGAIN_AFTER_CLOSE, AGAIN_WHILE_OPEN, CANCEL, SOS
from simulator.exact_rings import ring_settings
from simulator.reach import SHOWN_AS
from simulator.realtime.air import Air
from simulator.realtime.clock import WallClock
from simulator.realtime.gateways import SimGateways
from simulator.realtime.responders import Responders
from simulator.realtime.rings import LiveRings
from simulator.ring import Record, SimRing
from simulator.trace import LiveTrace
from simulator.world import World

Say = Callable[[str], None]
CANCEL_WAIT_MS = 40_000.0  # the longest a responder waits for a wearer's cancel to reach dispatch
AGAIN_AFTER_S = 0.5  # the wearer who holds SOS again does so this soon after "help on the way" or "it is over"


class LiveCity:
    def __init__(
        self,
        world: World,
        clock: WallClock,
        gateways: SimGateways,
        responders: Responders,
        accept_s: float = 1.0,
        on_scene_s: float = 2.0,
        say: Say | None = None,
    ) -> None:
        self.world = world
        self.clock = clock
        self.air = Air(world)
        self.gateways = gateways
        self.responders = responders
        self.accept_s, self.on_scene_s = accept_s, on_scene_s
        self.say = say or (lambda _text: None)
        self.rings = LiveRings(clock, self._on_record)
        self.where: dict[int, tuple[float, float]] = {}
        self.traces: list[LiveTrace] = []
        self.by_incident: dict[str, LiveTrace] = {}
        self._open: dict[int, LiveTrace] = {}  # ring -> its latest alarm
        self._pid: dict[bytes, LiveTrace] = {}  # pseudonym of an alarm's counter -> its trace
        self._acting: set[str] = set()
        self._last_state: dict[str, str] = {}  # incidents a responder is accepting
        self._tasks: set[asyncio.Task[Any]] = set()
        self.frames = {"ble": 0, "lora": 0}
        self.downlinks_on_air = 0
        self.pending = 0  # second holds due but not pressed yet
        gateways.on_downlink = self._downlink
        responders.on_push = self.on_push

    # ---- rings and the wearer's hand -----------------------------------------------------------------------

    def add_ring(self, index: int, t_virtual_ms: float) -> SimRing:
        """Ring ``index`` of the world, standing where its wearer is at ``t_virtual_ms`` of the scenario."""
        x, y, _ = self.world.people.position(np.array([index]), t_virtual_ms)
        self.where[index] = (float(x[0]), float(y[0]))
        return self.rings.add(index, index + 1, self.world.root_key(index), ring_settings(self.world, index))

    def press(
        self, index: int, kind: str, false_alarm: bool = False, act: str = "", again: str = ""
    ) -> LiveTrace | None:
        """The wearer starts ``kind`` (sos, escort, duress, cancel) now; a press (all but a cancel) gets a trace.
        ``again``: the wearer will hold SOS again once the ring says help is coming, or once the alarm is over."""
        self.rings.gesture(index, kind)
        if kind == CANCEL:
            trace = self._open.get(index)
            if trace is not None:
                trace.cancel_ms = self.clock.ms()
            return trace
        trace = LiveTrace(
            index, kind, self.clock.ms(), device_id=index + 1, false_alarm=false_alarm, act=act or kind, again=again
        )
        self.traces.append(trace)
        self._open[index] = trace
        return trace

    def _again(self, trace: LiveTrace, when: str) -> None:
        """The wearer of ``trace`` holds SOS again, if that is what they were to do ``when``."""
        if trace.again != when:
            return
        trace.again = ""
        self.pending += 1

        def hold() -> None:
            self.pending -= 1
            self.say(f"key ring {trace.device_id} held its button again: SOS ({when.replace('_', ' ')})")
            self.press(trace.ring, SOS, act=when)

        asyncio.get_running_loop().call_later(AGAIN_AFTER_S, hold)

    def _on_record(self, ring: SimRing, rec: Record) -> None:
        kind, t = rec["kind"], float(rec["t_ms"])
        trace = self._open.get(ring.index)
        if kind == "pattern" and trace is not None and trace.recognised_ms is None and rec["value"] == trace.kind:
            trace.recognised_ms = t
        elif kind == "uplink" and trace is not None and trace.recognised_ms is not None and not trace.counter:
            trace.counter = int(rec["value"])
            self._pid[uplink.pseudonym(ring.keys, trace.counter)] = trace
            self.by_incident[trace.incident_id] = trace
        elif kind == "radio":
            self._on_air(ring, rec, t)
        elif kind == "ack":
            self._ack(ring, int(rec["value"]), t, trace)
        elif kind == "feedback" and trace is not None and rec["value"] in SHOWN_AS:
            trace.shown.append(SHOWN_AS[rec["value"]])
            if SHOWN_AS[rec["value"]] == "help":
                self._again(trace, AGAIN_WHILE_OPEN)

    def _on_air(self, ring: SimRing, rec: Record, t: float) -> None:
        frame, radio = bytes.fromhex(rec["frame"]), rec["radio"]
        self.frames[radio] += 1
        trace = self._pid.get(frame[1:7])
        if trace is not None and trace.radios[radio].on_air_ms is None:
            trace.radios[radio].on_air_ms = t
        x, y = self.where[ring.index]
        loop = asyncio.get_running_loop()
        if radio == "ble":
            address = f"C0:00:00:{ring.index >> 16 & 0xFF:02X}:{ring.index >> 8 & 0xFF:02X}:{ring.index & 0xFF:02X}"
            for h in self.air.ble(ring.index, x, y, float(vars(ring.cfg)["ble_burst_ms"])):
                loop.call_at(self.clock.loop_time(t + h.delay_ms), self.gateways.ble, h.gateway, frame, h.rssi, address)
        else:
            for h in self.air.lora(ring.index, x, y, float(rec["toa_ms"]), int(rec["sf"])):
                loop.call_at(self.clock.loop_time(t + h.delay_ms), self.gateways.lora, h.gateway, frame, h.rssi, h.snr)

    def _ack(self, ring: SimRing, state: int, t: float, trace: LiveTrace | None) -> None:
        if trace is None:
            return
        app = ring.app
        trace.ring_verified(state, t, app is not None and app.alarm is not None and app.alarm.counter == trace.counter)
        if state == ACK_CANCELLED and trace.cancelled_ms is None:
            trace.cancelled_ms = t
        name = ACK_STATE_NAMES.get(state, str(state)).replace("_", " ")
        self.say(f"key ring {trace.device_id} ({trace.kind}): vibrates and blinks '{name}'")

    # ---- what the observer sees on the broker ----------------------------------------------------------------

    def on_up(self, t: float, env: dict[str, Any]) -> None:
        try:
            frame = bytes.fromhex(env["frame"])
            radio = env["radio"]
        except (KeyError, TypeError, ValueError):
            return
        trace = self._pid.get(frame[1:7])
        if trace is None or radio not in trace.radios:
            return
        hops = trace.radios[radio]
        if hops.broker_ms is None:
            hops.broker_ms = t
            hops.gateway_rx_ms = self.clock.from_unix_ms(float(env["rx_time_ms"]))
            hops.gateway_id = str(env.get("gateway_id", ""))
            if not trace.first_radio:
                trace.first_radio = radio

    def on_down(self, t: float, gateway_id: str, doc: dict[str, Any]) -> None:
        incident_id = str(doc.get("id", "")).rsplit("-", 1)[0]  # "{device}-{counter}-{seq}"
        trace = self.by_incident.get(incident_id)
        if trace is None:
            return
        if trace.downlink_ms is None:
            trace.downlink_ms = t
        if trace.accept_ms is not None and trace.help_downlink_ms is None:
            trace.help_downlink_ms = t

    # ---- downlinks on air ----------------------------------------------------------------------------------

    def _downlink(self, g: int, frame: bytes) -> None:
        """A txpk left gateway ``g``'s forwarder: the ACK is on air for its time, then every ring listening in
        reach gets it; each firmware checks whether it is its own (SPEC: bound to the alarm's counter)."""
        self.downlinks_on_air += 1
        asyncio.get_running_loop().call_later(self.air.ack_toa_ms / 1000, self._downlink_end, g, frame)

    def _downlink_end(self, g: int, frame: bytes) -> None:
        for i in self.rings.listening():
            x, y = self.where[i]
            if self.air.downlink(g, i, x, y):
                self.rings.downlink(i, frame)

    # ---- the responders' and operators' screens ---------------------------------------------------------------

    def on_push(self, who: str, t: float, inc: dict[str, Any]) -> None:
        trace = self.by_incident.get(str(inc.get("id")))
        state = str(inc.get("state"))
        if who == "operator":
            if trace is not None:
                if trace.operator_ms is None:
                    trace.operator_ms = t
                    trace.dispatch_ms = self.clock.from_unix_ms(float(inc["opened_ms"]))
                if not trace.states or trace.states[-1] != state:
                    trace.states.append(state)
            if self._last_state.get(str(inc.get("id"))) == state:
                return  # a location refined by a later copy: the board updates, the narration does not
            self._last_state[str(inc.get("id"))] = state
            loc = inc.get("location")
            where = f" near {loc['lat']:.4f},{loc['lon']:.4f} (+-{loc['radius_m']:.0f} m)" if loc else ""
            self.say(f"incident {inc.get('id')} {inc.get('kind')}: {state}{where} offered to {inc.get('offered_to')}")
            return
        if trace is not None and trace.push_ms is None:
            trace.push_ms, trace.responder = t, who
        if state == "offered" and inc["id"] not in self._acting:
            self._acting.add(inc["id"])
            self._spawn(self._respond(inc["id"], who, trace))

    async def _respond(self, incident_id: str, rid: str, trace: LiveTrace | None) -> None:
        await asyncio.sleep(self.accept_s)
        if trace is not None:
            # The responder's tap: dispatch may publish the help ACK before its HTTP answer gets back here.
            trace.accept_ms = self.clock.ms()
        if not await self.responders.accept(incident_id, rid):
            if trace is not None:
                trace.accept_ms = None  # taken back: the incident was cancelled or taken meanwhile
        else:
            self.say(f"responder {rid} accepted incident {incident_id} on their phone")
            await asyncio.sleep(self.on_scene_s)
            if trace is not None and trace.cancel_due_ms is not None:
                # The responder is still there when the wearer cancels (a late cancel keeps the incident open:
                # responders go and look); they resolve once it reached dispatch, or find the incident cancelled.
                give_up = trace.cancel_due_ms + CANCEL_WAIT_MS
                while trace.cancelled_ms is None and self.clock.ms() < give_up:
                    await asyncio.sleep(0.1)
                await asyncio.sleep(self.on_scene_s)
            if await self.responders.resolve(incident_id, rid) and trace is not None:
                self._again(trace, AGAIN_AFTER_CLOSE)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def live(self) -> dict[str, int]:
        ts = self.traces
        return {
            "alarms": len(ts),
            "on_air": sum(1 for t in ts if t.counter),
            "incidents": sum(1 for t in ts if t.dispatch_ms is not None),
            "on_screen": sum(1 for t in ts if t.push_ms is not None),
            "accepted": sum(1 for t in ts if t.accept_ms is not None),
            "acked": sum(1 for t in ts if t.ack_ring_ms is not None),
            "help": sum(1 for t in ts if t.help_ring_ms is not None),
        }

    async def close(self) -> None:
        self.rings.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
