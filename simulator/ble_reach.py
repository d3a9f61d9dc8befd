"""How far a BLE scanner reliably hears an alarm in time, and so how dense scanners must be for the BLE budget.

Everything here is the radio model of simulator/radio.py, asked by distance instead of by place: the ring's
advertising schedule (a burst of ``ble_burst_ms`` at ``ble_interval_ms`` + advDelay, the firmware's settings),
the scanner's window and interval, street path loss with its shadowing, and per-advert success from the link's
margin. Only the first burst counts: the firmware's next attempt comes 2 s later (firmware/retry.py), long past
any budget.

``reliable_range_m(within_ms)``: the largest distance at which at least ``share`` of alarms are heard by one
scanner within ``within_ms`` of the first advert. Scanners on a staggered (triangular) grid with spacing
sqrt(3) x that range leave no place further than the range from a scanner, which gives the density at which the
BLE budget holds everywhere in the covered area (a ring nearer two scanners only does better).
"""

import math
from dataclasses import dataclass

import numpy as np

from firmware.config import DEFAULTS
from simulator.radio import BLE_STREET, BleTiming, FloatArray, ble_discovery_ms, packet_success
from simulator.scenario import RadioSettings

RELIABLE_SHARE = 0.95  # the budget is a p95
STEP_M = 1.0
SAMPLES = 4000  # rings per distance: the share's standard error is under 0.4 points at 0.95


@dataclass(frozen=True, slots=True)
class Reach:
    within_ms: float
    range_m: float
    spacing_m: float  # staggered grid spacing that keeps every place within range_m of a scanner
    per_km2: float  # scanners per km² on that grid


def heard_within(
    d_m: float, within_ms: float, radio: RadioSettings, rng: np.random.Generator, n: int = SAMPLES
) -> float:
    """Share of alarms at ``d_m`` from a scanner that it hears within ``within_ms`` of the burst's start."""
    timing = BleTiming(
        adv_interval_ms=float(DEFAULTS["ble_interval_ms"]),  # type: ignore[arg-type]
        scan_interval_ms=radio.scan_interval_ms,
        scan_window_ms=radio.scan_window_ms,
    )
    shadow = rng.normal(0.0, BLE_STREET.sigma_db, size=n)
    rssi = radio.ble_tx_dbm - BLE_STREET.median_db(np.full(n, d_m)) - shadow
    p = packet_success(rssi - radio.ble_sensitivity_dbm)
    found: FloatArray = ble_discovery_ms(rng, n, float(DEFAULTS["ble_burst_ms"]), p, timing)  # type: ignore[arg-type]
    return float(np.mean(found <= within_ms))


def reliable_range_m(within_ms: float, radio: RadioSettings | None = None, seed: int = 1) -> Reach:
    radio = radio or RadioSettings()
    rng = np.random.default_rng(seed)
    d = STEP_M
    while heard_within(d, within_ms, radio, rng) >= RELIABLE_SHARE:
        d += STEP_M
    r = d - STEP_M
    spacing = math.sqrt(3) * r
    per_km2 = 2 / (math.sqrt(3) * spacing**2) * 1e6 if spacing > 0 else math.inf
    return Reach(within_ms, r, round(spacing, 1), round(per_km2, 1))


def curve(within_ms: float, radio: RadioSettings | None = None, to_m: float = 60.0, seed: int = 1) -> list[float]:
    """Share heard within ``within_ms`` at 1, 2, ... ``to_m`` metres (for the plot)."""
    radio = radio or RadioSettings()
    rng = np.random.default_rng(seed)
    return [heard_within(float(d), within_ms, radio, rng) for d in range(1, int(to_m) + 1)]
