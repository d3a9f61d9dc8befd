"""Which gateways decode an exact ring's (or the attacker's) LoRa frame, given range, outages, half duplex and
collisions with every other frame on air: the exact path's own and the idle rings' heartbeats (simulator.bulk).

The exact frames of each hour are also kept as interferers for that hour's bulk batch.
"""

import numpy as np

from simulator.bulk import LOCK_BY_SF, TOA_BY_SF, Interferers
from simulator.engine_api import EngineAPI
from simulator.links import FAST_FADING_DB, shadow_db
from simulator.on_air import Tx
from simulator.radio import CAPTURE_DB
from simulator.world import H_MS


class LoraAir:
    def __init__(self, engine: EngineAPI) -> None:
        self.e = engine
        sfs = engine.sc.rings.sf
        self.toa = float(TOA_BY_SF[engine.link.sf])  # a replay goes at the downlinks' SF9 ...
        self.longest = float(max(TOA_BY_SF[s] for s in (*sfs, engine.link.sf)))  # ... others at their own
        self._recent_tx: list[Tx] = []
        self._hour_extra: dict[int, Interferers] = {}
        self._bulk_frames: tuple[np.ndarray, ...] | None = None  # current hour, by start
        self._bulk_hour = -1

    def on_air(self, tx: Tx) -> None:
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
        extra.sf.append(tx.sf)
        self.e.push(tx.end, "lora_end", (tx,))

    def take_hour(self, h: int) -> tuple[Interferers, list[tuple[int, float, float]]]:
        """The exact frames and the gateways' downlink windows of hour ``h``, for its bulk batch."""
        return self._hour_extra.pop(h, Interferers()), self.e.downlinks.take_hour(h)

    def _bulk_overlapping(self, tx: Tx) -> tuple[np.ndarray, np.ndarray]:
        """Idle rings' heartbeats on ``tx``'s channel and SF that overlap it: (start, ring)."""
        hour = int(tx.start // H_MS)
        if hour != self._bulk_hour:
            start, rings, chan, sf = self.e.bulk.frames(hour)
            order = np.argsort(start)
            self._bulk_frames = (start[order], rings[order], chan[order], sf[order])
            self._bulk_hour = hour
        assert self._bulk_frames is not None
        start, rings, chan, sf = self._bulk_frames
        lo = np.searchsorted(start, tx.start - TOA_BY_SF[tx.sf], side="right")
        hi = np.searchsorted(start, tx.end, side="left")
        s, r, c, f = start[lo:hi], rings[lo:hi], chan[lo:hi], sf[lo:hi]
        m = (c == tx.channel) & (f == tx.sf)
        return s[m], r[m]

    def end(self, tx: Tx) -> None:
        """The frame has ended: which gateways decoded it, given range, outages, half duplex and collisions."""
        e = self.e
        gws, link, sc = e.world.gateways, e.link, e.sc
        self._recent_tx = [o for o in self._recent_tx if o.end > tx.start - 2 * self.longest]
        cand = e.index.near(np.array([tx.x]), np.array([tx.y]))[0]
        cand = cand[cand >= 0]
        cand = cand[gws.lora[cand]]
        others = [
            o
            for o in self._recent_tx
            if o is not tx and o.channel == tx.channel and o.sf == tx.sf and o.start < tx.end and o.end > tx.start
        ]
        b_start, b_ring = self._bulk_overlapping(tx)
        bx, by, bindoor = (
            e.world.people.position(b_ring, b_start)
            if len(b_ring)
            else (np.zeros(0), np.zeros(0), np.zeros(0, dtype=np.bool_))
        )
        b_ind = np.where(bindoor, sc.rings.indoor_loss_db, 0.0)
        gw_tx = e.downlinks.on_air
        live = [
            g
            for g in cand.tolist()
            if gws.online(g, tx.start)
            and gws.online(g, tx.end)
            # a gateway transmitting a downlink hears nothing: a concentrator is half duplex
            and not any(gg == g and a < tx.end and b > tx.start for gg, a, b in gw_tx)
        ]
        if not live:
            return
        gl = np.array(live, dtype=np.int64)
        # Everyone on air with this frame, on its channel: the frame itself first (column 0).
        xs = np.array([tx.x] + [o.x for o in others] + bx.tolist())
        ys = np.array([tx.y] + [o.y for o in others] + by.tolist())
        rid = np.array([tx.ring] + [o.ring for o in others] + b_ring.tolist(), dtype=np.int64)
        ind = np.array([tx.indoor_db] + [o.indoor_db for o in others] + b_ind.tolist())
        txp = np.array([tx.tx_dbm] + [o.tx_dbm for o in others] + [sc.radio.ring_tx_dbm] * len(b_ring))
        starts = np.array([tx.start] + [o.start for o in others] + b_start.tolist())
        shape = (len(gl), len(xs))
        g_all = np.broadcast_to(gl[:, None], shape).ravel()
        x_all, y_all = np.broadcast_to(xs, shape).ravel(), np.broadcast_to(ys, shape).ravel()
        d = np.hypot(x_all - gws.x[g_all], y_all - gws.y[g_all])
        sh = shadow_db(sc.seed, np.broadcast_to(rid, shape).ravel(), g_all, x_all, y_all, link.model.sigma_db)
        p = (
            link.uplink_dbm(d, sh, np.broadcast_to(ind, shape).ravel())
            + np.broadcast_to(txp - sc.radio.ring_tx_dbm, shape).ravel()
        )
        p = (p + e.rng.normal(0.0, FAST_FADING_DB, size=len(p))).reshape(shape)
        sens = link.sensitivity(tx.sf)
        heard = p >= sens
        # The capture rule of radio.capture_survives, for column 0 against every heard overlapping frame.
        wins = (p[:, :1] - p[:, 1:] >= CAPTURE_DB) & (starts[0] <= starts[1:] + LOCK_BY_SF[tx.sf])
        ok = heard[:, 0] & np.all(~heard[:, 1:] | wins, axis=1)
        for k in np.flatnonzero(ok).tolist():
            g, rssi = live[k], float(p[k, 0])
            # SNR over the noise floor; a concentrator reports at most ~+13.5 dB.
            snr = min(13.5, rssi - link.noise_dbm())
            meta = {
                "rssi": round(rssi, 1),
                "snr": round(snr, 1),
                "freq_mhz": tx.freq_hz / 1e6,
                "datr": f"SF{tx.sf}BW125",
            }
            e.push(tx.end + e.hops.draw("lora_gateway"), "gw_rx", (g, tx.frame, "lora", meta, tx.end, tx.origin))
