"""Heartbeats of the idle rings, one hour at a time, vectorised (the part that makes 100k rings x 24 h fast).

An idle ring's firmware does one thing per period: wake from deep sleep, send one HEARTBEAT by LoRa (no BLE:
``heartbeat_ble_ms`` is 0), sleep again (docs/keyring.md). What the network sees of it is when, on which channel
and at which SF that frame goes out, whether it asks for an ACK and whether it is a LOW_BATTERY; simulator.idle_rings
keeps that schedule as the firmware does (backoff out of coverage, low battery), and this module delivers each
hour's frames through the radio model instead of stepping a Keyring per ring. Each heartbeat's channel is the one
its firmware's channel walk (firmware/channels.py) gives for its counter. Rings with an alarm (or every ring,
with ``exact = "all"``) run the real firmware in the engine instead; their frames join each hour's collision
picture here as interferers.
"""

from dataclasses import dataclass, field

import numpy as np

from simulator.idle_rings import Beats, IdleSchedule
from simulator.links import FAST_FADING_DB, LoraLink, shadow_db
from simulator.radio import BoolArray, FloatArray, IntArray, capture_survives, lock_ms, time_on_air_ms
from simulator.space import GridIndex
from simulator.world import H_MS, World

DIST_BIN_M = 250.0
DIST_BINS = 24  # 0..6 km
SFS = (7, 8, 9, 10, 11, 12)
ACK_TOA_MS = float(time_on_air_ms(16, 9))
TOA_BY_SF = time_on_air_ms(24, np.arange(13).clip(7, 12))  # indexed by SF
LOCK_BY_SF = lock_ms(np.arange(13).clip(7, 12))


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
    sf: list[int] = field(default_factory=list)


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
    by_sf_sent: IntArray = field(default_factory=lambda: np.zeros(13, dtype=np.int64))
    by_sf_ok: IntArray = field(default_factory=lambda: np.zeros(13, dtype=np.int64))
    hourly: list[dict[str, float]] = field(default_factory=list)
    gateway_frames: IntArray | None = None
    ack_duty_max: float = 0.0  # the busiest gateway's share of an hour spent sending heartbeat ACKs
    acks_dropped_duty: int = 0  # ACKs a gateway could not send within its downlink duty cycle


class BulkHeartbeats:
    def __init__(self, world: World, link: LoraLink, index: GridIndex, idle: IntArray, seed: int) -> None:
        self.world, self.link, self.index, self.idle = world, link, index, idle
        self.rng = np.random.default_rng(seed ^ 0x5EED)
        self.end_ms = int(world.scenario.duration_h * H_MS)
        self.schedule = IdleSchedule(world, idle, seed)
        self.sens_by_sf = link.sensitivities(np.arange(13).clip(7, 12))
        self.totals = BulkTotals(gateway_frames=np.zeros(len(world.gateways.ids), dtype=np.int64))
        self._row = np.full(world.scenario.rings.count, -1, dtype=np.int64)  # ring -> row in the idle arrays
        self._row[idle] = np.arange(len(idle))
        self._home: Pairs | None = None
        self._home_count = np.zeros(0, dtype=np.int64)
        self._home_first = np.zeros(0, dtype=np.int64)
        self._beats: tuple[int, Beats] | None = None

    def _hour_beats(self, hour: int) -> Beats:
        if self._beats is None or self._beats[0] != hour:
            lo, hi = hour * H_MS, min((hour + 1) * H_MS, self.end_ms)  # the last hour may be cut short
            self._beats = (hour, self.schedule.beats(lo, hi))
        return self._beats[1]

    def frames(self, hour: int) -> tuple[FloatArray, IntArray, IntArray, IntArray]:
        """(start ms, ring, channel, SF) of every idle heartbeat that starts in ``hour``. Stable through the hour:
        the schedule moves on only when the hour is delivered."""
        b = self._hour_beats(hour)
        return b.start, b.rings, b.channel, self.schedule.sf[b.rows]

    def _links(self, x: FloatArray, y: FloatArray, rings: IntArray, ind_db: FloatArray, sens: FloatArray) -> Pairs:
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
        worth = mean >= sens[fi] - 4 * FAST_FADING_DB
        return Pairs(fi[worth], g[worth], mean[worth], nearest)

    def _home_links(self) -> Pairs:
        """The same at home, for every idle ring: most rings are at home most hours, and a ring at home keeps its
        place and so its shadowing, so this is computed once (pairs sorted by row)."""
        if self._home is None:
            p = self.world.people
            ind = np.full(len(self.idle), self.world.scenario.rings.indoor_loss_db)
            sens = self.sens_by_sf[self.schedule.sf]
            pairs = self._links(p.home_x[self.idle], p.home_y[self.idle], self.idle, ind, sens)
            order = np.argsort(pairs.row, kind="stable")
            self._home = Pairs(pairs.row[order], pairs.g[order], pairs.mean[order], pairs.nearest)
            self._home_count = np.bincount(self._home.row, minlength=len(self.idle))
            self._home_first = np.cumsum(self._home_count) - self._home_count
        return self._home

    def hour(self, hour: int, extra: Interferers, tx_windows: list[tuple[int, float, float]]) -> None:
        """Deliver one hour of heartbeats; ``tx_windows``: (gateway, start, end) of downlinks sent that hour."""
        w = self.world
        beats = self._hour_beats(hour)
        start, rings, chan, sf = self.frames(hour)
        n_own = len(start)
        if n_own == 0 and not extra.start:
            return
        x, y, indoor = w.people.position(rings, start)
        ind_db = np.where(indoor, w.scenario.rings.indoor_loss_db, 0.0)
        # Frames of the exact path join as interferers (counted nowhere here).
        start = np.concatenate([start, np.array(extra.start)])
        x = np.concatenate([x, np.array(extra.x)])
        y = np.concatenate([y, np.array(extra.y)])
        ind_db = np.concatenate([ind_db, np.array(extra.indoor_db)])
        chan = np.concatenate([chan, np.array(extra.channel, dtype=np.int64)])
        sf = np.concatenate([sf, np.array(extra.sf, dtype=np.int64)])
        ring_ids = np.concatenate([rings, np.array(extra.ring, dtype=np.int64)])
        end = start + TOA_BY_SF[sf]
        if extra.end:
            end[n_own:] = np.array(extra.end)

        frame_i, g, mean, nearest = self._pairs(n_own, indoor, x, y, ring_ids, ind_db, sf)
        delivered, best, best_mean = self._deliver(n_own, start, end, chan, sf, frame_i, g, mean, nearest, tx_windows)
        acked = self._acks(beats, delivered, best, best_mean)
        self.schedule.settle(beats, delivered, acked, TOA_BY_SF[sf[:n_own]] + ACK_TOA_MS)
        t = self.totals
        t.hourly[-1]["hour"] = hour
        t.hourly[-1]["asked"] = int(beats.asks.sum())
        t.hourly[-1]["acked"] = int(acked.sum())
        t.hourly[-1]["low_battery"] = int(beats.low.sum())

    def _pairs(
        self,
        n_own: int,
        indoor: BoolArray,
        x: FloatArray,
        y: FloatArray,
        ring_ids: IntArray,
        ind_db: FloatArray,
        sf: IntArray,
    ) -> tuple[IntArray, IntArray, FloatArray, FloatArray]:
        """(frame, gateway, mean power) for every link worth a look, and each frame's nearest-gateway distance.
        Frames sent at home reuse the home links (a CSR gather); the others get theirs computed now."""
        n_all = len(x)
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
        moving = self._links(x[away], y[away], ring_ids[away], ind_db[away], self.sens_by_sf[sf[away]])
        nearest[away] = moving.nearest
        frame_i = np.concatenate([np.repeat(frames_home, counts), away[moving.row]])
        g = np.concatenate([home.g[pick], moving.g])
        mean = np.concatenate([home.mean[pick], moving.mean])
        return frame_i, g, mean, nearest

    def _deliver(
        self,
        n_own: int,
        start: FloatArray,
        end: FloatArray,
        chan: IntArray,
        sf: IntArray,
        frame_i: IntArray,
        g: IntArray,
        mean: FloatArray,
        nearest: FloatArray,
        tx_windows: list[tuple[int, float, float]],
    ) -> tuple[BoolArray, IntArray, FloatArray]:
        """Fading, outages, half duplex and capture per gateway; the hour's totals. Returns which of the hour's
        own frames were delivered, and for each the gateway that heard it strongest (-1: none) and that link's
        mean power."""
        t = self.totals
        gws = self.world.gateways
        rssi = mean + self.rng.normal(0.0, FAST_FADING_DB, size=len(mean))
        heard = rssi >= self.sens_by_sf[sf[frame_i]]
        for gi, windows in enumerate(gws.outages):
            for a, b in windows:
                heard &= ~((g == gi) & (start[frame_i] < b) & (end[frame_i] > a))
        frame_i, g, rssi, mean = frame_i[heard], g[heard], rssi[heard], mean[heard]
        blind = np.zeros(len(frame_i), dtype=np.bool_)
        for gi, a, b in tx_windows:
            blind |= (g == gi) & (start[frame_i] < b) & (end[frame_i] > a)
        # SFs are orthogonal (radio.capture_survives): a collision needs the same gateway, channel and SF.
        key = (g * 8 + chan[frame_i]) * 16 + sf[frame_i]
        ok = capture_survives(start[frame_i], end[frame_i], rssi, key, LOCK_BY_SF[sf[frame_i]])
        own = frame_i < n_own
        t.heard_pairs += int(own.sum())
        t.lost_to_collision += int((own & ~ok).sum())
        t.lost_to_downlink += int((own & ok & blind).sum())
        got = ok & ~blind & own
        delivered = np.zeros(n_own, dtype=np.bool_)
        delivered[frame_i[got]] = True
        assert t.gateway_frames is not None
        np.add.at(t.gateway_frames, g[got], 1)

        # Delivery against the distance to the nearest LoRa gateway, and per SF.
        bins = np.minimum((nearest[:n_own] // DIST_BIN_M).astype(np.int64), DIST_BINS - 1)
        np.add.at(t.by_dist_sent, bins, 1)
        np.add.at(t.by_dist_ok, bins[delivered], 1)
        np.add.at(t.by_sf_sent, sf[:n_own], 1)
        np.add.at(t.by_sf_ok, sf[:n_own][delivered], 1)

        # The strongest gateway that decoded each frame is the one dispatch answers through.
        best = np.full(n_own, -1, dtype=np.int64)
        best_mean = np.full(n_own, -np.inf)
        if got.any():
            o = np.argsort(rssi[got])  # ascending, and with repeated indices the last write wins: the strongest
            best[frame_i[got][o]] = g[got][o]
            best_mean[frame_i[got][o]] = mean[got][o]
        t.sent += n_own
        t.delivered += int(delivered.sum())
        t.hourly.append({"sent": n_own, "delivered": int(delivered.sum()), "collided_pairs": int((own & ~ok).sum())})
        return delivered, best, best_mean

    def _acks(self, beats: Beats, delivered: BoolArray, best: IntArray, best_mean: FloatArray) -> BoolArray:
        """Which asking heartbeats get a verified ACK back: dispatch answers every delivered ask through the
        strongest gateway, on 869.525 MHz within that gateway's 10 % duty cycle, and the ring hears it in its
        receive window if the downlink clears its sensitivity after fast fading."""
        t, r = self.totals, self.world.scenario.radio
        n_gw = len(self.world.gateways.ids)
        asks = beats.asks & delivered & (best >= 0)
        sending = np.flatnonzero(asks)
        # A gateway sends at most duty x hour / ACK time on air in an hour; the rest miss their window.
        cap = int(r.downlink_duty * H_MS // ACK_TOA_MS)
        counts = np.bincount(best[sending], minlength=n_gw)
        if counts.size and counts.max() > cap:
            order = self.rng.permutation(len(sending))
            rank = np.zeros(len(sending), dtype=np.int64)
            for gi in np.flatnonzero(counts > cap).tolist():
                mine = order[best[sending[order]] == gi]
                rank[mine] = np.arange(len(mine))
            over = rank >= cap
            t.acks_dropped_duty += int(over.sum())
            sending = sending[~over]
            counts = np.minimum(counts, cap)
        duty = float(counts.max() * ACK_TOA_MS / H_MS) if counts.size else 0.0
        t.ack_duty_max = max(t.ack_duty_max, duty)
        t.hourly[-1]["ack_duty_max"] = duty
        # The downlink's budget is the uplink's with the gateway's power in place of the ring's; ACKs go at SF9.
        down = best_mean[sending] + (r.gateway_tx_dbm - r.ring_tx_dbm)
        down = down + self.rng.normal(0.0, FAST_FADING_DB, size=len(sending))
        acked = np.zeros(len(beats.rows), dtype=np.bool_)
        acked[sending[down >= self.link.sensitivity_dbm]] = True
        return acked
