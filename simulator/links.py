"""Link budgets from key rings (or an attacker) to gateways, shared by the bulk model and the exact path.

Shadowing is a property of the place, not of the packet: the draw for a link is a hash of (ring, gateway,
50 m cell), so a ring standing still keeps its shadow across retries and a walking ring decorrelates over
tens of metres, as measured shadowing does. Fast fading is drawn per packet on top.
"""

from dataclasses import dataclass

import numpy as np

from simulator.radio import LORA_HATA, LORA_SNR_FLOOR_DB, FloatArray, IntArray, PathLoss, lora_sensitivity_dbm
from simulator.scenario import RadioSettings

SHADOW_CELL_M = 50.0
FAST_FADING_DB = 2.0  # per-packet spread around the shadowed mean (Gaussian stand-in for small-scale fading)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: a well-spread uint64 hash, vectorised."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return np.asarray(x ^ (x >> np.uint64(31)))


def shadow_db(seed: int, ring: IntArray, gw: IntArray, x: FloatArray, y: FloatArray, sigma: float) -> FloatArray:
    """N(0, sigma) per (ring, gateway, cell), deterministic; Box-Muller on two hashes of one combined key."""
    cx = np.floor(np.asarray(x) / SHADOW_CELL_M).astype(np.int64).astype(np.uint64)
    cy = np.floor(np.asarray(y) / SHADOW_CELL_M).astype(np.int64).astype(np.uint64)
    with np.errstate(over="ignore"):
        # Odd multipliers spread each field over all 64 bits before the mix; wrapping is intended.
        key = np.asarray(ring).astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        key += np.asarray(gw).astype(np.uint64) * np.uint64(0x632BE59BD9B4E019)
        key += cx * np.uint64(0xD6E8FEB86659FD93) + cy * np.uint64(0xA0761D6478BD642F)
        key += np.uint64(seed & 0xFFFFFFFFFFFFFFFF)
        h1 = _mix(key)
        h2 = _mix(h1 ^ np.uint64(0xE7037ED1A0B428DB))
    u1 = ((h1 >> np.uint64(11)).astype(np.float64) + 0.5) / float(1 << 53)
    u2 = ((h2 >> np.uint64(11)).astype(np.float64) + 0.5) / float(1 << 53)
    return np.asarray(sigma * np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2), dtype=np.float64)


@dataclass(frozen=True, slots=True)
class LoraLink:
    """Uplink and downlink budgets between rings and gateways. ``sf`` is the downlinks' (ACKs go down at SF9,
    docs/keyring.md); uplinks go at each ring's own SF and use :meth:`sensitivity`."""

    radio: RadioSettings
    model: PathLoss = LORA_HATA
    sf: int = 9

    @property
    def sensitivity_dbm(self) -> float:
        return self.sensitivity(self.sf)

    def sensitivity(self, sf: int) -> float:
        return float(lora_sensitivity_dbm(sf, self.radio.noise_figure_db))

    def sensitivities(self, sf: IntArray) -> FloatArray:
        """Per element of ``sf``: the gateway's sensitivity at that SF."""
        table = np.array([self.sensitivity(s) if 7 <= s <= 12 else np.nan for s in range(13)])
        return np.asarray(table[sf], dtype=np.float64)

    def noise_dbm(self) -> float:
        """The receiver's noise floor over BW125; a frame's SNR is its RSSI over this."""
        return float(lora_sensitivity_dbm(7, self.radio.noise_figure_db) - LORA_SNR_FLOOR_DB[7])

    def uplink_dbm(self, d_m: FloatArray, shadow: FloatArray, indoor_db: FloatArray | float) -> FloatArray:
        r = self.radio
        return np.asarray(
            r.ring_tx_dbm + r.ring_gain_db + r.gateway_gain_db - self.model.median_db(d_m) - shadow - indoor_db,
            dtype=np.float64,
        )

    def downlink_dbm(self, d_m: FloatArray, shadow: FloatArray, indoor_db: FloatArray | float) -> FloatArray:
        r = self.radio
        return np.asarray(
            r.gateway_tx_dbm + r.ring_gain_db + r.gateway_gain_db - self.model.median_db(d_m) - shadow - indoor_db,
            dtype=np.float64,
        )

    def reach_m(self, sigmas: float = 2.0, sf: int | None = None) -> float:
        """Beyond this distance not even a ``sigmas`` lucky shadow lets a frame at ``sf`` (default: the downlink's)
        through: the index's cell size."""
        r = self.radio
        budget = r.ring_tx_dbm + r.ring_gain_db + r.gateway_gain_db - self.sensitivity(self.sf if sf is None else sf)
        return self.model.range_m(budget + sigmas * self.model.sigma_db)
