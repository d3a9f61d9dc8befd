"""Who hears an exact ring's BLE burst, and when: discovery per scanner in range (simulator.radio)."""

import numpy as np

from simulator.engine_api import EngineAPI
from simulator.links import shadow_db
from simulator.radio import BLE_STREET, BleTiming, ble_discovery_ms, packet_success
from simulator.ring import SimRing

BLE_SHADOW_SEED = 7  # added to the scenario seed: BLE shadowing is drawn apart from LoRa's


class BleAir:
    def __init__(self, engine: EngineAPI) -> None:
        self.e = engine
        sc = engine.sc
        self.timing = BleTiming(scan_interval_ms=sc.radio.scan_interval_ms, scan_window_ms=sc.radio.scan_window_ms)

    def burst(self, ring: SimRing, t: float, x: float, y: float, ind_db: float, frame: bytes) -> None:
        e = self.e
        gws = e.world.gateways
        cand = e.index.near(np.array([x]), np.array([y]))[0]
        cand = cand[(cand >= 0)]
        cand = cand[gws.ble[cand]]
        cand = np.array([g for g in cand.tolist() if gws.online(g, t)], dtype=np.int64)
        if not len(cand):
            return
        d = np.hypot(gws.x[cand] - x, gws.y[cand] - y)
        sh = shadow_db(
            e.sc.seed + BLE_SHADOW_SEED,
            np.full(len(cand), ring.index),
            cand,
            np.full(len(cand), x),
            np.full(len(cand), y),
            BLE_STREET.sigma_db,
        )
        rssi = e.sc.radio.ble_tx_dbm - BLE_STREET.median_db(d) - sh - ind_db
        p = packet_success(rssi - e.sc.radio.ble_sensitivity_dbm)
        found = ble_discovery_ms(e.rng, len(cand), float(vars(ring.cfg)["ble_burst_ms"]), p, self.timing)
        for g, dt, r in zip(cand.tolist(), found.tolist(), rssi.tolist(), strict=True):
            if np.isfinite(dt):
                meta = {"rssi": round(r, 1)}
                # The scanner hears it at t + dt; bleak's callback and the envelope follow after the gateway hop.
                e.push(t + dt + e.hops.draw("ble_gateway"), "gw_rx", (g, frame, "ble", meta, t + dt, "ring"))
