"""The virtual-time engine: one heap of events, the real firmware of the rings that matter, the radio model,
the gateways' real dedupe and envelope code, and the dispatch service's real pipeline.

Two paths (docs/simulator.md, "Two paths"):

- exact: every ring with an alarm (or every ring, with ``exact = "all"``) runs firmware.keyring.Keyring on the
  fakes of firmware/fakes.py; its frames go through the radio model to gateways, through
  basestation.gateway.core (Deduper, envelope) and the hop latencies to basestation.dispatch's UplinkPipeline,
  whose ACK downlinks go back over the air to the ring's fake SX1262;
- bulk: the heartbeats of the idle rings, one vectorised batch per hour (simulator.bulk), colliding with the
  exact path's frames.

Time is float ms from the scenario start; a ring's FakeClock counts the same ms, so firmware records need no
conversion. Nothing sleeps; the loop ends at the scenario's end or when the heap is empty.
"""

import heapq
import itertools
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from basestation.dispatch.effects import Effects
from basestation.dispatch.incidents import State
from basestation.dispatch.outcomes import Outcome
from basestation.gateway.core import Deduper, encode_envelope
from basestation.gateway.record import ReceivedFrame
from firmware.airtime import UPLINK_CHANNELS
from protocol import uplink
from protocol.constants import ACK_CANCELLED, ACK_HELP_ON_THE_WAY, ACK_RECEIVED, EVENT_ESCORT, EVENT_SOS
from simulator.bulk import ACK_TOA_MS, BulkHeartbeats, Interferers
from simulator.dispatch_model import DispatchModel
from simulator.hops import HopSampler
from simulator.links import FAST_FADING_DB, LoraLink, shadow_db
from simulator.radio import (
    BLE_STREET,
    CAPTURE_DB,
    BleTiming,
    ble_discovery_ms,
    packet_success,
    symbol_ms,
    time_on_air_ms,
)
from simulator.ring import Record, SimRing
from simulator.space import GridIndex
from simulator.trace import AlarmTrace
from simulator.world import ESCORT, H_MS, SOS, World

_ACK_EVENTS = {ACK_RECEIVED: "ack-received", ACK_HELP_ON_THE_WAY: "ack-help", ACK_CANCELLED: "ack-cancelled"}
ATTACKER_RING = 1 << 40  # the attacker's id in the shadowing hash
TICK_MS = 1000  # the dispatch clock (settings.tick_s)
RECOVERY_EVERY_MS = 5_000  # settings.recovery_every_s
DOWNLINK_MAX_WAIT_MS = 10_000  # a queued ACK older than this is dropped; the ring's retry earns a new one
SOS_HOLD_MS = 2600  # the wearer holds past the 2 s hold_ms
CLICK_MS, CLICK_GAP_MS = 150, 300  # one short press of a word, and the pause before the next


@dataclass(slots=True)
class Tx:
    """One LoRa transmission on air."""

    start: float
    end: float
    channel: int
    x: float
    y: float
    ring: int  # index, or ATTACKER_RING
    indoor_db: float
    frame: bytes
    freq_hz: int
    tx_dbm: float
    origin: str  # ring | replay


@dataclass
class Counters:
    events: int = 0
    exact_frames: Counter[str] = field(default_factory=Counter)  # by radio
    gateway_copies: Counter[str] = field(default_factory=Counter)  # by radio, forwarded by a gateway
    outcomes: Counter[str] = field(default_factory=Counter)
    replay_outcomes: Counter[str] = field(default_factory=Counter)
    replay_moved_location: int = 0
    replays_sent: int = 0
    downlinks: Counter[str] = field(default_factory=Counter)  # sent, heard, missed, dropped_*
    incidents: int = 0
    operator_closed: int = 0
    sweeps: int = 0
    sweep_s: float = 0.0  # real CPU time of the recovery sweeps: a cost an attacker can force
    alarm_copies_as_replay: int = 0  # retries of an alarm older than dispatch's 10-minute memory


Progress = Callable[[float, dict[str, Any]], None]


class Engine:
    def __init__(self, world: World, progress: Progress | None = None) -> None:
        self.world = world
        sc = self.sc = world.scenario
        self.rng = np.random.default_rng(sc.seed + 1)
        self.hops = HopSampler(sc.hops, np.random.default_rng(sc.seed + 2))
        self.link = LoraLink(sc.radio)
        gws = world.gateways
        self.index = GridIndex(gws.x, gws.y, self.link.reach_m())
        self.end_ms = sc.duration_h * H_MS
        self.progress = progress
        self.counters = Counters()
        self.toa = float(time_on_air_ms(24, self.link.sf))
        self.lock_ms = float((8 + 4.25 - 5) * symbol_ms(self.link.sf))
        self.ble_timing = BleTiming(scan_interval_ms=sc.radio.scan_interval_ms, scan_window_ms=sc.radio.scan_window_ms)

        self._heap: list[tuple[float, int, str, tuple[Any, ...]]] = []
        self._seq = itertools.count()
        self.now = 0.0

        exact = np.array(world.exact, dtype=np.int64)
        idle = np.setdiff1d(np.arange(sc.rings.count, dtype=np.int64), exact)
        self.bulk = BulkHeartbeats(world, self.link, self.index, idle, sc.seed)
        self._hour_extra: dict[int, Interferers] = {}
        self._gw_tx: list[tuple[int, float, float]] = []  # downlinks on air: (gateway, start, end)
        self._hour_tx: dict[int, list[tuple[int, float, float]]] = {}  # the same, kept per hour for the bulk
        self._gw_open = np.zeros(len(gws.ids))  # when each gateway's 869.525 MHz sub-band reopens
        self._recent_tx: list[Tx] = []
        self._bulk_frames: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # current hour, by start
        self._bulk_hour = -1
        self.bulk_s = 0.0

        self.dispatch = DispatchModel(sc.utc_offset_min)
        for i, gid in enumerate(gws.ids):
            lat, lon = world.proj.to_latlon(gws.x[i], gws.y[i])
            self.dispatch.add_gateway(gid, float(lat), float(lon))
        for r in sc.responders:
            self.dispatch.add_responder(r)
        self.dedupers = [Deduper() for _ in gws.ids]

        self.rings: dict[int, SimRing] = {}
        self.frame_ring: dict[bytes, int] = {}
        self.frame_trace: dict[bytes, AlarmTrace] = {}
        self.traces: list[AlarmTrace] = []
        self.trace_by_incident: dict[str, AlarmTrace] = {}
        self._open_trace: dict[int, AlarmTrace] = {}  # ring -> its alarm being pressed or sent
        self._pid: dict[int, bytes] = {}  # ring -> pseudonym of its open alarm's counter
        self._notified: set[tuple[str, str]] = set()
        self._ticking = False
        self._sweeping = False
        self.recorded: list[tuple[float, int, bytes]] = []  # the attacker's recordings
        self._recorded_set: set[bytes] = set()
        self._delivered: set[bytes] = set()  # pseudonyms of ring frames dispatch has resolved
        self.ring_frames: list[tuple[int, str, bytes]] = []  # (ring, radio, frame): every exact frame, for checks
        self.keep_frames = len(world.exact) <= 5000
        self.wall_s = 0.0

        self._plan()

    def _plan(self) -> None:
        """Boot the exact rings and put the wearers' gestures and the hourly bulk steps on the heap."""
        world, sc = self.world, self.sc
        first_alarm: dict[int, int] = {}
        for plan in world.alarms:
            first_alarm.setdefault(plan.ring, plan.at_ms)
        for i in world.exact:
            ring = SimRing(i, i + 1, world.root_key(i), self._on_record)
            self.rings[i] = ring
            self.dispatch.add_ring(i + 1, world.root_key(i))
            boot = int(world.people.phase_ms[i]) % int(sc.rings.heartbeat_min * 60_000)
            boot = min(boot, max(0, first_alarm.get(i, boot) - 60_000), int(self.end_ms))
            self._push(boot, "boot", (i,))
        for plan in world.alarms:
            self._push(plan.at_ms, "gesture", (plan.ring, plan.kind, plan.cancel_at_ms is not None))
            if plan.cancel_at_ms is not None:
                self._push(plan.cancel_at_ms, "gesture", (plan.ring, "cancel", False))
        for h in range(int(np.ceil(sc.duration_h))):
            self._push(min((h + 1) * H_MS - 1e-3, self.end_ms), "hour", (h,))

    # ---- the loop ---------------------------------------------------------------------------------------

    def _push(self, t: float, kind: str, args: tuple[Any, ...]) -> None:
        heapq.heappush(self._heap, (t, next(self._seq), kind, args))

    def run(self) -> None:
        t0 = time.perf_counter()
        handlers: dict[str, Callable[..., None]] = {
            "boot": self._boot,
            "wake": self._wake,
            "button": self._button,
            "gesture": self._gesture,
            "lora_end": self._lora_end,
            "gw_rx": self._gw_rx,
            "dispatch": self._dispatch,
            "downlink": self._downlink,
            "downlink_end": self._downlink_end,
            "respond": self._respond,
            "resolve": self._resolve,
            "tick": self._tick,
            "hour": self._hour,
            "replay": self._replay,
            "sweep": self._sweep,
        }
        while self._heap:
            t, _seq, kind, args = heapq.heappop(self._heap)
            if t > self.end_ms:
                break
            self.now = t
            self.counters.events += 1
            handlers[kind](*args)
            if self.progress is not None and not self.counters.events % 20_000:
                self.progress(self.now, self.live())
        self.wall_s = time.perf_counter() - t0
        if self.progress is not None:
            self.progress(self.now, self.live())

    def live(self) -> dict[str, Any]:
        c = self.counters
        b = self.bulk.totals
        return {
            "heartbeats": b.sent,
            "hb_delivered": b.delivered,
            "alarms": len(self.traces),
            "incidents": c.incidents,
            "on_screen": sum(1 for t in self.traces if t.screen_ms is not None),
            "acked": sum(1 for t in self.traces if t.ack_ring_ms is not None),
            "exact_rings": len(self.rings),
            "events": c.events,
        }

    def unix_ms(self, t: float) -> int:
        return self.sc.start_unix_ms + int(t)

    # ---- rings ------------------------------------------------------------------------------------------

    def _schedule(self, ring: SimRing) -> None:
        if ring.wake_at is not None:
            self._push(float(ring.wake_at), "wake", (ring.index, ring.wake_at))

    def _boot(self, i: int) -> None:
        ring = self.rings[i]
        ring.boot(int(self.now))
        self._schedule(ring)

    def _wake(self, i: int, due: int) -> None:
        ring = self.rings[i]
        if ring.wake_at != due:
            return  # superseded: the ring stepped since and asked for another time
        ring.wake(int(self.now))
        self._schedule(ring)

    def _button(self, i: int, pressed: bool) -> None:
        ring = self.rings[i]
        if ring.app is None and not ring.deep:
            return  # not booted yet
        ring.button(int(np.ceil(self.now)), pressed)
        self._schedule(ring)

    def _gesture(self, i: int, kind: str, false_alarm: bool) -> None:
        """The wearer's hand: an SOS hold, or a word of short presses (escort, cancel)."""
        t = self.now
        if kind == SOS:
            presses = [(t, t + SOS_HOLD_MS)]
        else:
            presses = [
                (t + k * (CLICK_MS + CLICK_GAP_MS), t + k * (CLICK_MS + CLICK_GAP_MS) + CLICK_MS) for k in range(3)
            ]
        for down, up in presses:
            self._push(down, "button", (i, True))
            self._push(up, "button", (i, False))
        if kind in (SOS, ESCORT):
            x, y, _ = self.world.people.position(np.array([i]), t)
            trace = AlarmTrace(i, kind, t, x=float(x[0]), y=float(y[0]), false_alarm=false_alarm)
            self.traces.append(trace)
            self._open_trace[i] = trace

    def _on_record(self, ring: SimRing, rec: Record) -> None:
        kind, t = rec["kind"], float(rec["t_ms"])
        trace = self._open_trace.get(ring.index)
        if kind == "pattern" and rec["value"] in (SOS, ESCORT) and trace is not None:
            if trace.recognised_ms is None:
                trace.recognised_ms = t
        elif kind == "uplink" and trace is not None and trace.recognised_ms is not None and not trace.counter:
            trace.counter = int(rec["value"])
            self._pid[ring.index] = uplink.pseudonym(ring.keys, trace.counter)
        elif kind == "radio":
            frame = bytes.fromhex(rec["frame"])
            radio = rec["radio"]
            self.counters.exact_frames[radio] += 1
            self.frame_ring[frame] = ring.index
            ring.sent.append((int(t) - ring.boot_ms, radio, rec["frame"]))
            if self.keep_frames:
                self.ring_frames.append((ring.index, radio, frame))
            pid = self._pid.get(ring.index)
            if trace is not None and pid is not None and frame[1:7] == pid:
                self.frame_trace[frame] = trace
                path = trace.paths[radio]
                if path.on_air_ms is None:
                    path.on_air_ms = t
                if radio == "lora":
                    trace.attempts += 1
            x, y, indoor = self.world.people.position(np.array([ring.index]), t)
            ind_db = self.sc.rings.indoor_loss_db if bool(indoor[0]) else 0.0
            self._record_for_attacker(t, float(x[0]), float(y[0]), frame)
            if radio == "ble":
                self._ble_burst(ring, t, float(x[0]), float(y[0]), ind_db, frame)
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
                    self.sc.radio.ring_tx_dbm,
                    "ring",
                )
                self._on_air(tx)
        elif kind == "ack":
            name = _ACK_EVENTS.get(int(rec["value"]))
            if name is not None:
                ring.inputs.append((int(t) - ring.boot_ms, name))
        if kind == "ack" and trace is not None:
            state = int(rec["value"])
            app = ring.app
            if state == ACK_HELP_ON_THE_WAY and trace.help_ring_ms is None:
                trace.help_ring_ms = t
            if (
                state in (ACK_RECEIVED, ACK_HELP_ON_THE_WAY)
                and trace.ack_ring_ms is None
                and (app is not None and app.alarm is not None and app.alarm.counter == trace.counter)
            ):
                trace.ack_ring_ms = t

    # ---- radio: BLE ------------------------------------------------------------------------------------------

    def _ble_burst(self, ring: SimRing, t: float, x: float, y: float, ind_db: float, frame: bytes) -> None:
        gws = self.world.gateways
        cand = self.index.near(np.array([x]), np.array([y]))[0]
        cand = cand[(cand >= 0)]
        cand = cand[gws.ble[cand]]
        cand = np.array([g for g in cand.tolist() if gws.online(g, t)], dtype=np.int64)
        if not len(cand):
            return
        d = np.hypot(gws.x[cand] - x, gws.y[cand] - y)
        sh = shadow_db(
            self.sc.seed + 7,
            np.full(len(cand), ring.index),
            cand,
            np.full(len(cand), x),
            np.full(len(cand), y),
            BLE_STREET.sigma_db,
        )
        rssi = self.sc.radio.ble_tx_dbm - BLE_STREET.median_db(d) - sh - ind_db
        p = packet_success(rssi - self.sc.radio.ble_sensitivity_dbm)
        found = ble_discovery_ms(self.rng, len(cand), float(vars(ring.cfg)["ble_burst_ms"]), p, self.ble_timing)
        for g, dt, r in zip(cand.tolist(), found.tolist(), rssi.tolist(), strict=True):
            if np.isfinite(dt):
                meta = {"rssi": round(r, 1)}
                # The scanner hears it at t + dt; bleak's callback and the envelope follow after the gateway hop.
                self._push(t + dt + self.hops.draw("ble_gateway"), "gw_rx", (g, frame, "ble", meta, t + dt, "ring"))

    # ---- radio: LoRa -----------------------------------------------------------------------------------------

    def _on_air(self, tx: Tx) -> None:
        self._recent_tx.append(tx)
        hour = int(tx.start // H_MS)
        extra = self._hour_extra.setdefault(hour, Interferers())
        extra.start.append(tx.start)
        extra.end.append(tx.end)
        extra.channel.append(tx.channel)
        extra.x.append(tx.x)
        extra.y.append(tx.y)
        extra.ring.append(tx.ring)
        extra.indoor_db.append(tx.indoor_db)
        self._push(tx.end, "lora_end", (tx,))

    def _bulk_overlapping(self, tx: Tx) -> tuple[np.ndarray, np.ndarray]:
        """Idle rings' heartbeats on ``tx``'s channel that overlap it: (start, ring)."""
        hour = int(tx.start // H_MS)
        if hour != self._bulk_hour:
            start, rings, chan = self.bulk.frames(hour)
            order = np.argsort(start)
            self._bulk_frames = (start[order], rings[order], chan[order])
            self._bulk_hour = hour
        assert self._bulk_frames is not None
        start, rings, chan = self._bulk_frames
        lo = np.searchsorted(start, tx.start - self.toa, side="right")
        hi = np.searchsorted(start, tx.end, side="left")
        s, r, c = start[lo:hi], rings[lo:hi], chan[lo:hi]
        m = c == tx.channel
        return s[m], r[m]

    def _lora_end(self, tx: Tx) -> None:
        """The frame has ended: which gateways decoded it, given range, outages, half duplex and collisions."""
        gws, link = self.world.gateways, self.link
        self._recent_tx = [o for o in self._recent_tx if o.end > tx.start - 2 * self.toa]
        cand = self.index.near(np.array([tx.x]), np.array([tx.y]))[0]
        cand = cand[cand >= 0]
        cand = cand[gws.lora[cand]]
        others = [
            o
            for o in self._recent_tx
            if o is not tx and o.channel == tx.channel and o.start < tx.end and o.end > tx.start
        ]
        b_start, b_ring = self._bulk_overlapping(tx)
        bx, by, bindoor = (
            self.world.people.position(b_ring, b_start)
            if len(b_ring)
            else (np.zeros(0), np.zeros(0), np.zeros(0, dtype=np.bool_))
        )
        b_ind = np.where(bindoor, self.sc.rings.indoor_loss_db, 0.0)
        live = [
            g
            for g in cand.tolist()
            if gws.online(g, tx.start)
            and gws.online(g, tx.end)
            # a gateway transmitting a downlink hears nothing: a concentrator is half duplex
            and not any(gg == g and a < tx.end and b > tx.start for gg, a, b in self._gw_tx)
        ]
        if not live:
            return
        gl = np.array(live, dtype=np.int64)
        # Everyone on air with this frame, on its channel: the frame itself first (column 0).
        xs = np.array([tx.x] + [o.x for o in others] + bx.tolist())
        ys = np.array([tx.y] + [o.y for o in others] + by.tolist())
        rid = np.array([tx.ring] + [o.ring for o in others] + b_ring.tolist(), dtype=np.int64)
        ind = np.array([tx.indoor_db] + [o.indoor_db for o in others] + b_ind.tolist())
        txp = np.array([tx.tx_dbm] + [o.tx_dbm for o in others] + [self.sc.radio.ring_tx_dbm] * len(b_ring))
        starts = np.array([tx.start] + [o.start for o in others] + b_start.tolist())
        shape = (len(gl), len(xs))
        g_all = np.broadcast_to(gl[:, None], shape).ravel()
        x_all, y_all = np.broadcast_to(xs, shape).ravel(), np.broadcast_to(ys, shape).ravel()
        d = np.hypot(x_all - gws.x[g_all], y_all - gws.y[g_all])
        sh = shadow_db(self.sc.seed, np.broadcast_to(rid, shape).ravel(), g_all, x_all, y_all, link.model.sigma_db)
        p = (
            link.uplink_dbm(d, sh, np.broadcast_to(ind, shape).ravel())
            + np.broadcast_to(txp - self.sc.radio.ring_tx_dbm, shape).ravel()
        )
        p = (p + self.rng.normal(0.0, FAST_FADING_DB, size=len(p))).reshape(shape)
        heard = p >= link.sensitivity_dbm
        # The capture rule of radio.capture_survives, for column 0 against every heard overlapping frame.
        wins = (p[:, :1] - p[:, 1:] >= CAPTURE_DB) & (starts[0] <= starts[1:] + self.lock_ms)
        ok = heard[:, 0] & np.all(~heard[:, 1:] | wins, axis=1)
        for k in np.flatnonzero(ok).tolist():
            g, rssi = live[k], float(p[k, 0])
            # SNR over the noise floor (sensitivity + 12.5 dB at SF9); a concentrator reports at most ~+13.5 dB.
            snr = min(13.5, rssi - (link.sensitivity_dbm + 12.5))
            meta = {
                "rssi": round(rssi, 1),
                "snr": round(snr, 1),
                "freq_mhz": tx.freq_hz / 1e6,
                "datr": f"SF{link.sf}BW125",
            }
            self._push(tx.end + self.hops.draw("lora_gateway"), "gw_rx", (g, tx.frame, "lora", meta, tx.end, tx.origin))

    # ---- gateways and broker ----------------------------------------------------------------------------

    def _broker_up_at(self, t: float) -> float:
        for w in self.sc.broker_outages:
            if w.contains_ms(t):
                return w.end_h * H_MS + 1.0  # the gateways' spools drain when the broker comes back
        return t

    def _gw_rx(self, g: int, frame: bytes, radio: str, meta: dict[str, Any], rx_t: float, origin: str) -> None:
        gws = self.world.gateways
        sighting = self.dedupers[g].observe(frame, self.now / 1000)
        if not sighting.forward:
            return
        self.counters.gateway_copies[radio] += 1
        rec = ReceivedFrame(
            frame,
            "ble" if radio == "ble" else "lora",
            (self.sc.start_unix_ms + rx_t) / 1000,
            rssi=meta.get("rssi"),
            snr=meta.get("snr"),
            freq_mhz=meta.get("freq_mhz"),
            datr=meta.get("datr"),
        )
        payload = encode_envelope(rec, gws.ids[g])
        at_broker = self._broker_up_at(self.now + self.hops.draw("backhaul"))
        at_dispatch = at_broker + self.hops.draw("broker")
        chain = (rx_t, self.now, at_broker)
        self._push(at_dispatch, "dispatch", (gws.ids[g], payload, frame, radio, origin, chain))

    # ---- dispatch ---------------------------------------------------------------------------------------

    def _dispatch(
        self, gw_id: str, payload: bytes, frame: bytes, radio: str, origin: str, chain: tuple[float, float, float]
    ) -> None:
        before = None
        if origin == "replay":
            inc = self._incident_of(frame)
            before = None if inc is None else (inc.lat, inc.lon)
        ctx = self.dispatch.handle(f"nightwatch/v1/up/{gw_id}", payload, self.unix_ms(self.now))
        outcome = str(ctx.outcome)
        self.counters.outcomes[outcome] += 1
        done = self.now + self.hops.draw("dispatch")
        pid = frame[1:7]  # the pseudonym: one (device, counter), whatever the age byte of the copy
        if origin == "ring" and ctx.outcome in (Outcome.ACCEPTED, Outcome.DUPLICATE, Outcome.REPLAY):
            self._delivered.add(pid)
        if origin == "replay":
            # A replay of a counter dispatch already had must be refused. A frame the network never heard is a
            # first delivery, however late: the replay window cannot tell it from a slow copy (SPEC 8).
            seen = "delivered_before" if pid in self._delivered else "first_delivery"
            self.counters.replay_outcomes[f"{seen}:{outcome}"] += 1
            inc = self._incident_of(frame)
            if inc is not None and before is not None and (inc.lat, inc.lon) != before:
                self.counters.replay_moved_location += 1
        trace = self.frame_trace.get(frame) if origin == "ring" else None
        if trace is not None:
            path = trace.paths[radio]
            if path.dispatch_ms is None:
                # The hops of the first copy to reach dispatch over this radio, so the shares add up.
                path.gateway_rx_ms, path.gateway_out_ms, path.broker_ms = chain
                path.dispatch_ms = done
                path.gateway_id = gw_id
            alarm = ctx.up is not None and ctx.up.event in (EVENT_SOS, EVENT_ESCORT)
            if ctx.outcome == Outcome.ACCEPTED and alarm and trace.accepted_ms is None:
                self._opened(trace, ctx.device_id, radio, done)
        if origin == "ring" and ctx.outcome == Outcome.REPLAY and frame in self.frame_trace:
            self.counters.alarm_copies_as_replay += 1
        if ctx.outcome == Outcome.UNKNOWN_DEVICE and not self._sweeping:
            self._sweeping = True
            self._push(self.now + RECOVERY_EVERY_MS, "sweep", ())
        self._effects(ctx.effects, done)

    def _opened(self, trace: AlarmTrace, device_id: int, radio: str, done: float) -> None:
        trace.accepted_ms = done
        trace.first_radio = radio
        inc_id = self.dispatch.state.open_by_device.get(device_id)
        if inc_id is None:
            return
        trace.incident_id = inc_id
        self.trace_by_incident[inc_id] = trace
        self.counters.incidents += 1
        self._push(done + self.sc.behaviour.operator_close_min * 60_000, "resolve", (inc_id, "operator"))

    def _sweep(self) -> None:
        """The recovery sweep (SPEC 7.5) over the frames no device claimed, as the service runs it."""
        self._sweeping = False
        t0 = time.perf_counter()
        found = self.dispatch.pipeline.sweep(self.unix_ms(self.now))
        self.counters.sweeps += 1
        self.counters.sweep_s += time.perf_counter() - t0
        for ctx in found:
            self.counters.outcomes["recovered_" + str(ctx.outcome)] += 1
            self._effects(ctx.effects, self.now + self.hops.draw("dispatch"))

    def _incident_of(self, frame: bytes) -> Any:
        trace = self.frame_trace.get(frame)
        if trace is None or trace.incident_id is None:
            return None
        return self.dispatch.state.incidents.get(trace.incident_id)

    def _effects(self, eff: Effects, t: float) -> None:
        for push in eff.pushes:
            if push.topic != "incident":
                continue
            d = push.data
            trace = self.trace_by_incident.get(d["id"])
            shown = t + self.hops.draw("push")
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
                    lo, hi = self.sc.behaviour.accept_s
                    react = lo * float(np.exp(np.log(max(hi, lo) / max(lo, 1e-3)) / 1.645 * self.rng.standard_normal()))
                    self._push(shown + react * 1000, "respond", (d["id"], rid))
        if eff.downlinks:
            out = t + self.hops.draw("commit")  # downlinks are published after the commit
            for dl in eff.downlinks:
                at_gw = self._broker_up_at(out) + self.hops.draw("downlink")
                self._push(
                    at_gw,
                    "downlink",
                    (dl.gateway_id, bytes.fromhex(dl.payload["frame"]), bytes.fromhex(dl.payload.get("uplink", ""))),
                )
        if not self._ticking and self.dispatch.active_incidents():
            self._ticking = True
            self._push(self.now + TICK_MS, "tick", ())

    def _tick(self) -> None:
        self._effects(self.dispatch.tick(self.unix_ms(self.now)), self.now)
        if self.dispatch.active_incidents():
            self._push(self.now + TICK_MS, "tick", ())
        else:
            self._ticking = False

    def _respond(self, incident_id: str, responder_id: str) -> None:
        inc = self.dispatch.state.incidents.get(incident_id)
        if inc is None or not inc.active or inc.accepted_by or responder_id in inc.declined_by:
            return
        now = self.unix_ms(self.now)
        if self.rng.random() < self.sc.behaviour.accept_share:
            eff = self.dispatch.accept(incident_id, responder_id, now)
            trace = self.trace_by_incident.get(incident_id)
            if trace is not None and trace.responder_accept_ms is None:
                trace.responder_accept_ms = self.now
            self._push(self.now + self.sc.behaviour.on_scene_min * 60_000, "resolve", (incident_id, responder_id))
        else:
            eff = self.dispatch.decline(incident_id, responder_id, now)
        self._effects(eff, self.now + self.hops.draw("dispatch"))

    def _resolve(self, incident_id: str, by: str) -> None:
        """A responder back from the scene, or an operator closing what nobody took."""
        inc = self.dispatch.state.incidents.get(incident_id)
        if inc is None or not inc.active:
            return
        taken = inc.state in (State.ACCEPTED, State.ON_THE_WAY)
        if taken != (by != "operator"):
            return  # the operator leaves accepted incidents to their responder
        if by == "operator":
            self.counters.operator_closed += 1
        self._effects(self.dispatch.resolve(incident_id, by, self.unix_ms(self.now)), self.now)

    # ---- downlinks ----------------------------------------------------------------------------------------

    def _downlink(self, gw_id: str, frame: bytes, answers: bytes) -> None:
        gws = self.world.gateways
        g = gws.ids.index(gw_id)
        if not gws.online(g, self.now):
            self.counters.downlinks["dropped_gateway_offline"] += 1
            return
        start = max(self.now, float(self._gw_open[g]))
        if start - self.now > DOWNLINK_MAX_WAIT_MS:
            self.counters.downlinks["dropped_duty_cycle"] += 1
            return
        end = start + ACK_TOA_MS
        self._gw_open[g] = start + ACK_TOA_MS / self.sc.radio.downlink_duty
        self._gw_tx.append((g, start, end))
        self._hour_tx.setdefault(int(start // H_MS), []).append((g, start, end))
        self.counters.downlinks["sent"] += 1
        ring = self.frame_ring.get(answers)
        if ring is not None:
            self._push(end, "downlink_end", (g, frame, ring))

    def _downlink_end(self, g: int, frame: bytes, i: int) -> None:
        self._gw_tx = [w for w in self._gw_tx if w[2] > self.now - 10_000]  # only recent ones can overlap
        ring = self.rings[i]
        gws = self.world.gateways
        x, y, indoor = self.world.people.position(np.array([i]), self.now)
        d = np.hypot(gws.x[g] - x, gws.y[g] - y)
        sh = shadow_db(self.sc.seed, np.array([i]), np.array([g]), x, y, self.link.model.sigma_db)
        ind = self.sc.rings.indoor_loss_db if bool(indoor[0]) else 0.0
        p = float(self.link.downlink_dbm(d, sh, ind)[0]) + float(self.rng.normal(0.0, FAST_FADING_DB))
        if p < self.link.sensitivity_dbm:
            self.counters.downlinks["out_of_range"] += 1
            return
        if ring.downlink(int(np.ceil(self.now)), frame):
            self.counters.downlinks["heard"] += 1
            self._schedule(ring)
        else:
            self.counters.downlinks["ring_not_listening"] += 1

    # ---- the replay attacker ----------------------------------------------------------------------------

    def _record_for_attacker(self, t: float, x: float, y: float, frame: bytes) -> None:
        at = self.sc.attacker
        if at is None or frame in self._recorded_set:
            return
        ax, ay = self.world.proj.to_xy(at.lat, at.lon)
        if float(np.hypot(x - ax, y - ay)) > at.listen_range_m:
            return
        self._recorded_set.add(frame)
        self.recorded.append((t, self.frame_ring.get(frame, -1), frame))
        for delay in at.replay_after_s:
            self._push(t + delay * 1000, "replay", (frame,))

    def _replay(self, frame: bytes) -> None:
        at = self.sc.attacker
        assert at is not None
        ax, ay = self.world.proj.to_xy(at.lat, at.lon)
        chan = int(self.rng.integers(0, len(UPLINK_CHANNELS)))
        self.counters.replays_sent += 1
        tx = Tx(
            self.now,
            self.now + self.toa,
            chan,
            float(ax),
            float(ay),
            ATTACKER_RING,
            0.0,
            frame,
            UPLINK_CHANNELS[chan],
            at.tx_dbm,
            "replay",
        )
        self._on_air(tx)

    # ---- the bulk -----------------------------------------------------------------------------------------

    def _hour(self, h: int) -> None:
        # The hour's exact frames and downlinks are all known now, so the bulk model can deliver its heartbeats.
        extra = self._hour_extra.pop(h, Interferers())
        windows = self._hour_tx.pop(h, [])
        t0 = time.perf_counter()
        self.bulk.hour(h, extra, windows)
        self.bulk_s += time.perf_counter() - t0
        if self.progress is not None:
            self.progress(self.now, self.live())
