"""The radio model of simulator/radio.py and links.py, asked one frame at a time for a real-time run.

Which gateways hear a frame, and after how long: BLE discovery by each scanner in range (advertising events
against the scan windows), LoRa time on air at the ring's SF with path loss, shadowing and fast fading. The run
waits these delays out on the wall clock before the frame reaches the gateway code. Not modelled here, unlike the
virtual-time engine: collisions between frames, gateway outages, the gateways' downlink duty cycle (a real-time run
holds a few frames a second, far from where those bite).
"""

from dataclasses import dataclass

import numpy as np

from simulator.bulk import ACK_TOA_MS
from simulator.links import FAST_FADING_DB, LoraLink, shadow_db
from simulator.radio import BLE_STREET, BleTiming, ble_discovery_ms, packet_success, time_on_air_ms
from simulator.world import World

SNR_CEILING_DB = 13.5  # a concentrator reports at most about this


@dataclass(frozen=True, slots=True)
class Heard:
    gateway: int
    delay_ms: float  # from the start of the frame (LoRa) or of the burst (BLE)
    rssi: float
    snr: float | None = None


class Air:
    def __init__(self, world: World) -> None:
        self.world = world
        sc = world.scenario
        self.sc = sc
        self.link = LoraLink(sc.radio)
        self.rng = np.random.default_rng(sc.seed + 11)
        self.timing = BleTiming(scan_interval_ms=sc.radio.scan_interval_ms, scan_window_ms=sc.radio.scan_window_ms)
        gws = world.gateways
        self.ble_gw = np.flatnonzero(gws.ble)
        self.lora_gw = np.flatnonzero(gws.lora)
        self.toa_ms = float(time_on_air_ms(24, self.link.sf))
        self.ack_toa_ms = ACK_TOA_MS

    def _shadow(self, seed: int, ring: int, gws: np.ndarray, x: float, y: float, sigma: float) -> np.ndarray:
        n = len(gws)
        return shadow_db(seed, np.full(n, ring), gws, np.full(n, x), np.full(n, y), sigma)

    def ble(self, ring: int, x: float, y: float, burst_ms: float) -> list[Heard]:
        """The scanners that hear a BLE burst from (x, y), each at its first received advert."""
        cand = self.ble_gw
        if not len(cand):
            return []
        gws, r = self.world.gateways, self.sc.radio
        d = np.hypot(gws.x[cand] - x, gws.y[cand] - y)
        rssi = r.ble_tx_dbm - BLE_STREET.median_db(d) - self._shadow(self.sc.seed + 7, ring, cand, x, y, 4.0)
        p = packet_success(rssi - r.ble_sensitivity_dbm)
        found = ble_discovery_ms(self.rng, len(cand), burst_ms, p, self.timing)
        return [
            Heard(int(g), float(dt), float(s))
            for g, dt, s in zip(cand.tolist(), found.tolist(), rssi.tolist(), strict=True)
            if np.isfinite(dt)
        ]

    def lora(self, ring: int, x: float, y: float, toa_ms: float, sf: int = 9) -> list[Heard]:
        """The LoRa gateways that decode an uplink from (x, y); each hears it when it ends."""
        cand = self.lora_gw
        if not len(cand):
            return []
        gws, link = self.world.gateways, self.link
        d = np.hypot(gws.x[cand] - x, gws.y[cand] - y)
        sh = self._shadow(self.sc.seed, ring, cand, x, y, link.model.sigma_db)
        p = link.uplink_dbm(d, sh, 0.0) + self.rng.normal(0.0, FAST_FADING_DB, size=len(cand))
        out = []
        sens = link.sensitivity(sf)
        for g, rssi in zip(cand.tolist(), p.tolist(), strict=True):
            if rssi >= sens:
                snr = min(SNR_CEILING_DB, rssi - link.noise_dbm())
                out.append(Heard(int(g), toa_ms, float(rssi), float(snr)))
        return out

    def downlink(self, gateway: int, ring: int, x: float, y: float) -> bool:
        """Whether an ACK from ``gateway`` reaches a ring at (x, y) above its receiver's sensitivity."""
        gws, link = self.world.gateways, self.link
        g = np.array([gateway])
        d = np.hypot(gws.x[g] - x, gws.y[g] - y)
        sh = self._shadow(self.sc.seed, ring, g, x, y, link.model.sigma_db)
        p = float(link.downlink_dbm(d, sh, 0.0)[0]) + float(self.rng.normal(0.0, FAST_FADING_DB))
        return p >= link.sensitivity_dbm
