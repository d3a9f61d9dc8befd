"""Heartbeats of the idle rings, one hour at a time, vectorised (the part that makes 100k rings x 24 h fast).

An idle ring's firmware does one thing per period: wake from deep sleep, send one HEARTBEAT by LoRa (no BLE:
``heartbeat_ble_ms`` is 0), sleep again (docs/keyring.md). Its only state the network sees is when and on which
channel that frame goes out, so for rings without an alarm the simulator computes those frames directly instead
of stepping a Keyring per ring: time = phase + k * period, channel rotating through the eight uplink channels,
as the firmware's ledger rotates them. Rings with an alarm (or every ring, with ``exact = "all"``) run the real
firmware in the engine instead; their frames join each hour's collision picture here as interferers.
"""

from dataclasses import dataclass, field

import numpy as np

from simulator.links import FAST_FADING_DB, LoraLink, shadow_db
from simulator.radio import BoolArray, FloatArray, IntArray, capture_survives, symbol_ms, time_on_air_ms
from simulator.space import GridIndex
from simulator.world import H_MS, World

DIST_BIN_M = 250.0
DIST_BINS = 24  # 0..6 km
ACK_TOA_MS = float(time_on_air_ms(16, 9))
ACK_SHARE = 1.0 / 8  # a heartbeat asks for an ACK once its counter is 8 past the last acknowledged (SPEC 7.4)


@dataclass
class Interferers:
    """Frames of exact rings (and replays) in this hour, so heartbeats collide with them too."""

    start: list[float] = field(default_factory=list)
    end: list[float] = field(default_factory=list)
    channel: list[int] = field(default_factory=list)
    x: list[float] = field(default_factory=list)
    y: list[float] = field(default_factory=list)
    ring: list[int] = field(default_factory=list)
    indoor_db: list[float] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Pairs:
    row: IntArray
    g: IntArray
    mean: FloatArray
    nearest: FloatArray


@dataclass
class BulkTotals:
    sent: int = 0
    delivered: int = 0
    heard_pairs: int = 0  # (frame, gateway) pairs above sensitivity
    lost_to_collision: int = 0  # of those pairs, lost to another frame
    lost_to_downlink: int = 0  # of those pairs, lost because the gateway was transmitting (half duplex)
    by_dist_sent: IntArray = field(default_factory=lambda: np.zeros(DIST_BINS, dtype=np.int64))
    by_dist_ok: IntArray = field(default_factory=lambda: np.zeros(DIST_BINS, dtype=np.int64))
    hourly: list[dict[str, float]] = field(default_factory=list)
    gateway_frames: IntArray | None = None
    ack_duty_max: float = 0.0  # the busiest gateway's share of an hour spent sending heartbeat ACKs


class BulkHeartbeats:
    def __init__(self, world: World, link: LoraLink, index: GridIndex, idle: IntArray, seed: int) -> None:
        self.world, self.link, self.index, self.idle = world, link, index, idle
        self.rng = np.random.default_rng(seed ^ 0x5EED)
        self.period = world.scenario.rings.heartbeat_min * 60_000
        self.end_ms = int(world.scenario.duration_h * H_MS)
        self.toa = float(time_on_air_ms(24, link.sf))
        # Bor et al.: the receiver locks in the last 5 preamble symbols (8 + 4.25 symbols of preamble here).
        self.lock_ms = float((8 + 4.25 - 5) * symbol_ms(link.sf))
        self.totals = BulkTotals(gateway_frames=np.zeros(len(world.gateways.ids), dtype=np.int64))
        self._row = np.full(world.scenario.rings.count, -1, dtype=np.int64)  # ring -> row in the idle arrays
        self._row[idle] = np.arange(len(idle))
        self._home: Pairs | None = None
        self._home_count = np.zeros(0, dtype=np.int64)
        self._home_first = np.zeros(0, dtype=np.int64)

    def frames(self, hour: int) -> tuple[FloatArray, IntArray, IntArray]:
        """(start ms, ring, channel) of every idle heartbeat that starts in ``hour``."""
        p = self.world.people
        lo, hi = hour * H_MS, min((hour + 1) * H_MS, self.end_ms)  # the last hour may be cut short
        phase = p.phase_ms[self.idle]
        k0 = -(-(lo - phase) // self.period)
        k1 = -(-(hi - phase) // self.period)
        reps = np.maximum(k1 - k0, 0)
        rings = np.repeat(self.idle, reps)
        first = np.repeat(k0, reps)
        offs = np.arange(len(rings)) - np.repeat(np.cumsum(reps) - reps, reps)
        k = first + offs
        start = (p.phase_ms[rings] + k * self.period).astype(np.float64)
        chan = (p.channel0[rings] + k) % 8
        return start, rings, chan.astype(np.int64)

    def _links(self, x: FloatArray, y: FloatArray, rings: IntArray, ind_db: FloatArray) -> Pairs:
        """The links worth a look, as pairs: frame (row) index, gateway, mean uplink power with shadowing; plus
        each row's distance to the nearest LoRa gateway. Links too weak for even a lucky fade are left out."""
        w, link = self.world, self.link
        gws = w.gateways
        cand = self.index.near(x, y)
        nearest = np.full(len(x), np.inf)
        fi, slot = np.nonzero(cand >= 0)
        g = cand[fi, slot]
        keep = gws.lora[g]
        fi, g = fi[keep], g[keep]
        d = np.hypot(x[fi] - gws.x[g], y[fi] - gws.y[g])
        np.minimum.at(nearest, fi, d)
        sh = shadow_db(w.scenario.seed, rings[fi], g, x[fi], y[fi], link.model.sigma_db)
        mean = link.uplink_dbm(d, sh, ind_db[fi])
        worth = mean >= link.sensitivity_dbm - 4 * FAST_FADING_DB
        return Pairs(fi[worth], g[worth], mean[worth], nearest)

    def _home_links(self) -> Pairs:
        """The same at home, for every idle ring: most rings are at home most hours, and a ring at home keeps its
        place and so its shadowing, so this is computed once (pairs sorted by row)."""
        if self._home is None:
            p = self.world.people
            ind = np.full(len(self.idle), self.world.scenario.rings.indoor_loss_db)
            pairs = self._links(p.home_x[self.idle], p.home_y[self.idle], self.idle, ind)
            order = np.argsort(pairs.row, kind="stable")
            self._home = Pairs(pairs.row[order], pairs.g[order], pairs.mean[order], pairs.nearest)
            self._home_count = np.bincount(self._home.row, minlength=len(self.idle))
            self._home_first = np.cumsum(self._home_count) - self._home_count
        return self._home

    def hour(self, hour: int, extra: Interferers, tx_windows: list[tuple[int, float, float]]) -> None:
        """Deliver one hour of heartbeats; ``tx_windows``: (gateway, start, end) of downlinks sent that hour."""
        w = self.world
        start, rings, chan = self.frames(hour)
        n_own = len(start)
        if n_own == 0 and not extra.start:
            return
        x, y, indoor = w.people.position(rings, start)
        ind_db = np.where(indoor, w.scenario.rings.indoor_loss_db, 0.0)
        # Frames of the exact path join as interferers (counted nowhere here).
        n_all = n_own + len(extra.start)
        start = np.concatenate([start, np.array(extra.start)])
        x = np.concatenate([x, np.array(extra.x)])
        y = np.concatenate([y, np.array(extra.y)])
        ind_db = np.concatenate([ind_db, np.array(extra.indoor_db)])
        chan = np.concatenate([chan, np.array(extra.channel, dtype=np.int64)])
        ring_ids = np.concatenate([rings, np.array(extra.ring, dtype=np.int64)])
        end = start + self.toa
        if extra.end:
            end[n_own:] = np.array(extra.end)

        frame_i, g, mean, nearest = self._pairs(n_own, n_all, indoor, x, y, ring_ids, ind_db)
        self._deliver(hour, n_own, start, end, chan, frame_i, g, mean, nearest, tx_windows)

    def _pairs(
        self,
        n_own: int,
        n_all: int,
        indoor: BoolArray,
        x: FloatArray,
        y: FloatArray,
        ring_ids: IntArray,
        ind_db: FloatArray,
    ) -> tuple[IntArray, IntArray, FloatArray, FloatArray]:
        """(frame, gateway, mean power) for every link worth a look, and each frame's nearest-gateway distance.
        Frames sent at home reuse the home links (a CSR gather); the others get theirs computed now."""
        home = self._home_links()
        at_home = np.zeros(n_all, dtype=np.bool_)
        at_home[:n_own] = indoor
        frames_home = np.flatnonzero(at_home)
        rows = self._row[ring_ids[frames_home]]
        counts = self._home_count[rows]
        first = np.repeat(self._home_first[rows] - (np.cumsum(counts) - counts), counts)
        pick = first + np.arange(int(counts.sum()))
        nearest = np.full(n_all, np.inf)
        nearest[frames_home] = home.nearest[rows]
        away = np.flatnonzero(~at_home)
        moving = self._links(x[away], y[away], ring_ids[away], ind_db[away])
        nearest[away] = moving.nearest
        frame_i = np.concatenate([np.repeat(frames_home, counts), away[moving.row]])
        g = np.concatenate([home.g[pick], moving.g])
        mean = np.concatenate([home.mean[pick], moving.mean])
        return frame_i, g, mean, nearest

    def _deliver(
        self,
        hour: int,
        n_own: int,
        start: FloatArray,
        end: FloatArray,
        chan: IntArray,
        frame_i: IntArray,
        g: IntArray,
        mean: FloatArray,
        nearest: FloatArray,
        tx_windows: list[tuple[int, float, float]],
    ) -> None:
        """Fading, outages, half duplex and capture per gateway; then the hour's totals."""
        link, t = self.link, self.totals
        gws = self.world.gateways
        rssi = mean + self.rng.normal(0.0, FAST_FADING_DB, size=len(mean))
        heard = rssi >= link.sensitivity_dbm
        for gi, windows in enumerate(gws.outages):
            for a, b in windows:
                heard &= ~((g == gi) & (start[frame_i] < b) & (end[frame_i] > a))
        frame_i, g, rssi = frame_i[heard], g[heard], rssi[heard]
        blind = np.zeros(len(frame_i), dtype=np.bool_)
        for gi, a, b in tx_windows:
            blind |= (g == gi) & (start[frame_i] < b) & (end[frame_i] > a)
        ok = capture_survives(start[frame_i], end[frame_i], rssi, g * 8 + chan[frame_i], self.lock_ms)
        own = frame_i < n_own
        t.heard_pairs += int(own.sum())
        t.lost_to_collision += int((own & ~ok).sum())
        t.lost_to_downlink += int((own & ok & blind).sum())
        got = ok & ~blind & own
        delivered = np.zeros(n_own, dtype=np.bool_)
        delivered[frame_i[got]] = True
        assert t.gateway_frames is not None
        np.add.at(t.gateway_frames, g[got], 1)

        # Delivery against the distance to the nearest LoRa gateway.
        bins = np.minimum((nearest[:n_own] // DIST_BIN_M).astype(np.int64), DIST_BINS - 1)
        np.add.at(t.by_dist_sent, bins, 1)
        np.add.at(t.by_dist_ok, bins[delivered], 1)

        # One heartbeat in eight asks for an ACK; the strongest gateway answers on 869.525 MHz (10 %).
        asks = self.rng.random(n_own) < ACK_SHARE
        best = np.full(n_own, -1, dtype=np.int64)
        if got.any():
            o = np.argsort(rssi[got])  # ascending, and with repeated indices the last write wins: the strongest
            best[frame_i[got][o]] = g[got][o]
        acks = np.bincount(best[(best >= 0) & asks], minlength=len(gws.ids))
        duty = float(acks.max() * ACK_TOA_MS / H_MS) if len(acks) else 0.0
        t.ack_duty_max = max(t.ack_duty_max, duty)

        t.sent += n_own
        t.delivered += int(delivered.sum())
        t.hourly.append(
            {
                "hour": hour,
                "sent": n_own,
                "delivered": int(delivered.sum()),
                "collided_pairs": int((own & ~ok).sum()),
                "ack_duty_max": duty,
            }
        )
