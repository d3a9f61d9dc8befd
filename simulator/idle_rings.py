"""The idle rings' firmware schedule, as arrays: when each sends its next heartbeat, whether that heartbeat asks
for an ACK, whether it goes as LOW_BATTERY, and how an unanswered ask backs the period off.

It follows firmware/supervision.py (docs/keyring.md, "Heartbeat and battery"; SPEC 7.4, 7.5):

- a heartbeat asks for an ACK once its counter is ACK_REQUEST_GAP (8) past the last acknowledged one;
- an ask that gets no verified ACK doubles the period, up to a day, counted from that heartbeat; every later
  heartbeat asks too, since the gap only grows;
- the first verified ACK restores the configured period (the next heartbeat comes no later than a period after
  the ACK) and the gap starts again from 1;
- a ring whose battery reads below ``low_battery_pct`` sends LOW_BATTERY in place of HEARTBEAT, and keeps doing so
  until it reads ``low_battery_clear_pct`` (a ring is not charged during a run, so it stays latched). An idle ring
  reads its battery only when it wakes, that is at each heartbeat, so a crossing shows at its next heartbeat.

The rings start the run as rings that have been in coverage: the configured period, each somewhere in its 8-beat
ACK cycle (uniform), none having booted during the run. Rings out of coverage back off during the run.
"""

from dataclasses import dataclass, field

import numpy as np

from firmware import channels, power
from firmware.config import DEFAULTS
from protocol.constants import ACK_REQUEST_GAP
from simulator.radio import BoolArray, FloatArray, IntArray
from simulator.world import World

BEAT_MAX_MIN = 1440  # firmware/supervision.py _BEAT_MAX_MIN (SPEC 7.5: up to a day)
MONTH_MS = 30 * 24 * 3_600_000  # power.monthly_mah's month


def _mix16(x: IntArray) -> IntArray:
    # firmware.channels.mix16, element-wise (int64 holds every intermediate exactly).
    x = x & 0xFFFF
    x = ((x ^ (x >> 7)) * channels.MIX_MUL_A) & 0xFFFF
    x = ((x ^ (x >> 9)) * channels.MIX_MUL_B) & 0xFFFF
    return x ^ (x >> 8)


def walk_channels(device_ids: IntArray, positions: IntArray) -> IntArray:
    """The uplink channel (index into UPLINK_CHANNELS) at each position of each ring's walk when both sub-bands
    are open: firmware.channels.order and AirtimeLedger.pick, element-wise. An idle ring's heartbeat is the first
    copy of its counter (position = counter) and comes at least an hour after its last frame, when every sub-band
    has long reopened, so this is the channel its firmware uses."""
    d = np.asarray(device_ids, dtype=np.int64)
    pos = np.asarray(positions, dtype=np.int64)
    rnd = pos // channels.N_CHANNELS
    seed = _mix16(d & 0xFFFF)
    seed = _mix16(seed ^ ((d >> 16) & 0xFFFF))
    seed = _mix16(seed ^ (rnd & 0xFFFF))
    seed = _mix16(seed ^ ((rnd >> 16) & 0xFFFF))
    n = channels.N_CHANNELS
    order = np.tile(np.arange(n, dtype=np.int64), (len(d), 1))
    rows = np.arange(len(d))
    for i in range(n - 1, 0, -1):  # the same Fisher-Yates steps, on every row at once
        seed = _mix16(seed + i)
        j = (seed >> 4) % (i + 1)
        oi = order[:, i].copy()
        order[:, i] = order[rows, j]
        order[rows, j] = oi
    chosen: IntArray = order[rows, pos % n]
    return chosen


@dataclass(frozen=True, slots=True)
class Beats:
    """The heartbeats of one batch, one element per frame."""

    rows: IntArray  # row in the idle arrays
    rings: IntArray
    start: FloatArray
    asks: BoolArray  # FLAG_ACK_REQUESTED
    low: BoolArray  # LOW_BATTERY in place of HEARTBEAT
    channel: IntArray  # index into UPLINK_CHANNELS, from the ring's channel walk at this counter


@dataclass
class ScheduleTotals:
    asked: int = 0
    acked: int = 0
    low_battery_frames: int = 0
    low_battery_delivered: int = 0


@dataclass
class IdleSchedule:
    world: World
    idle: IntArray
    seed: int
    totals: ScheduleTotals = field(default_factory=ScheduleTotals)

    def __post_init__(self) -> None:
        sc, p, idle = self.world.scenario, self.world.people, self.idle
        rng = np.random.default_rng((self.seed, 0x1D1E))
        self.period_min = sc.rings.heartbeat_min
        self.next_ms = p.phase_ms[idle].astype(np.float64)
        self.beat_min = np.full(len(idle), self.period_min, dtype=np.int64)
        # Counter minus the last acknowledged counter, for each ring's next heartbeat (8 asks).
        self.gap = rng.integers(1, ACK_REQUEST_GAP + 1, size=len(idle)).astype(np.int64)
        # Each ring's next frame counter: rings in service for a while, at any point of their channel walk. Its own
        # generator, so the draws above stay as they were. A wake resumes the block reserved in flash, so each
        # heartbeat takes the next counter (firmware/counter_store.py, CounterStore.resume).
        ctr = np.random.default_rng((self.seed, 0xC0DE))
        self.counter = ctr.integers(1, 1 << 20, size=len(idle)).astype(np.int64)
        self.device_id = idle.astype(np.int64) + 1  # simulator/exact_rings.py: ring i is device i + 1
        self.sf = p.sf[idle]
        self.level0 = p.battery_pct[idle]
        # The cell drains at the firmware power model's rate for the ring's SF and period (firmware/power.py).
        per_sf = np.zeros(13)
        for s in np.unique(self.sf).tolist():
            mah = power.monthly_mah(heartbeat_min=self.period_min, sf=int(s))["total"]
            per_sf[s] = mah / sc.rings.capacity_mah * 100.0 / MONTH_MS
        self.pct_per_ms = per_sf[self.sf]
        self.low_pct = float(DEFAULTS["low_battery_pct"])  # type: ignore[arg-type]
        self.low_rings = np.zeros(len(idle), dtype=np.bool_)  # sent at least one LOW_BATTERY

    def level(self, rows: IntArray, t: FloatArray) -> FloatArray:
        return np.asarray(self.level0[rows] - self.pct_per_ms[rows] * t, dtype=np.float64)

    def beats(self, lo: float, hi: float) -> Beats:
        """The heartbeats that start in [lo, hi); at most one per ring, as a period is at least an hour."""
        rows = np.flatnonzero((self.next_ms >= lo) & (self.next_ms < hi))
        start = self.next_ms[rows]
        # The firmware reads a whole percent: below the threshold means under it, fractions and all.
        low = self.level(rows, start) < self.low_pct
        chan = walk_channels(self.device_id[rows], self.counter[rows])
        return Beats(rows, self.idle[rows], start, self.gap[rows] >= ACK_REQUEST_GAP, low, chan)

    def settle(self, b: Beats, delivered: BoolArray, acked: BoolArray, ack_after_ms: FloatArray) -> None:
        """Advance each ring past its heartbeat, given whether a verified ACK reached it ``ack_after_ms`` after
        the heartbeat started."""
        t = self.totals
        t.asked += int(b.asks.sum())
        t.acked += int(acked.sum())
        t.low_battery_frames += int(b.low.sum())
        t.low_battery_delivered += int((b.low & delivered).sum())
        self.low_rings[b.rows[b.low]] = True
        old = self.beat_min[b.rows]
        unanswered = b.asks & ~acked
        new = np.where(unanswered, np.minimum(old * 2, BEAT_MAX_MIN), np.where(acked, self.period_min, old))
        nxt = b.start + np.where(unanswered, new, old) * 60_000.0
        # Back in coverage: the configured period again, counted from the ACK if that comes sooner.
        nxt = np.where(acked, np.minimum(nxt, b.start + ack_after_ms + self.period_min * 60_000.0), nxt)
        self.beat_min[b.rows] = new
        self.next_ms[b.rows] = nxt
        self.gap[b.rows] = np.where(acked, 1, self.gap[b.rows] + 1)
        self.counter[b.rows] += 1

    def periods(self) -> dict[int, int]:
        """How many idle rings are on each heartbeat period (minutes) now."""
        values, counts = np.unique(self.beat_min, return_counts=True)
        return {int(v): int(c) for v, c in zip(values.tolist(), counts.tolist(), strict=True)}
