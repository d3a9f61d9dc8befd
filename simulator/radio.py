"""The radio model (pure, numpy-vectorised): path loss, LoRa time on air, capture, BLE discovery.

Sources of every constant are in docs/simulator.md ("Radio model"). Distances in metres, powers in dBm,
times in ms. Functions take arrays so that a whole hour of heartbeats is one call; scalars work too.
"""

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

BW125_HZ = 125_000
# Demodulation floor (SNR) per SF at BW125: SX1276/77/78/79 datasheet rev 7, section 4.1.1.2, table 13.
LORA_SNR_FLOOR_DB = {7: -7.5, 8: -10.0, 9: -12.5, 10: -15.0, 11: -17.5, 12: -20.0}
THERMAL_NOISE_DBM_HZ = -174.0  # kT at 290 K
CAPTURE_DB = 6.0  # Bor et al. 2016: the stronger of two same-SF packets survives 6 dB above the other
CAPTURE_LOCK_SYMBOLS = 5  # ... if it arrives before the last 5 preamble symbols of the weaker one


@dataclass(frozen=True, slots=True)
class PathLoss:
    """Log-distance path loss with log-normal shadowing: PL(d) = pl_ref + 10 n log10(d / ref_m) + X(sigma)."""

    pl_ref_db: float
    ref_m: float
    exponent: float
    sigma_db: float

    def median_db(self, d_m: FloatArray | float) -> FloatArray:
        d = np.maximum(np.asarray(d_m, dtype=np.float64), 1.0)
        return np.asarray(self.pl_ref_db + 10.0 * self.exponent * np.log10(d / self.ref_m), dtype=np.float64)

    def range_m(self, budget_db: float) -> float:
        """Distance at which the median loss uses up ``budget_db``."""
        return float(self.ref_m * 10 ** ((budget_db - self.pl_ref_db) / (10.0 * self.exponent)))


# LoRa 868 MHz, rooftop gateway (30 m) to a key ring at 1.5 m: Okumura-Hata, small/medium city, written as
# log-distance at 1 km (126.0 dB, n = 3.52); shadowing 8 dB (urban macro cells: 6-10 dB).
LORA_HATA = PathLoss(126.0, 1000.0, 3.52, 8.0)
# BLE 2.4 GHz at street level: RSSI -59 dBm at 1 m for 0 dBm (the figure dispatch's geo.py uses), n = 2.2,
# shadowing 4 dB.
BLE_STREET = PathLoss(59.0, 1.0, 2.2, 4.0)


def lora_sensitivity_dbm(sf: int, noise_figure_db: float = 6.0, bw_hz: int = BW125_HZ) -> float:
    """Receiver sensitivity: noise floor over the bandwidth plus the SF's demodulation floor."""
    return float(THERMAL_NOISE_DBM_HZ + 10.0 * np.log10(bw_hz) + noise_figure_db + LORA_SNR_FLOOR_DB[sf])


def lora_snr_db(rssi_dbm: FloatArray | float, noise_figure_db: float = 6.0, bw_hz: int = BW125_HZ) -> FloatArray:
    noise = THERMAL_NOISE_DBM_HZ + 10.0 * np.log10(bw_hz) + noise_figure_db
    return np.asarray(np.asarray(rssi_dbm, dtype=np.float64) - noise, dtype=np.float64)


def symbol_ms(sf: int | IntArray, bw_hz: int = BW125_HZ) -> FloatArray:
    return np.asarray((2.0 ** np.asarray(sf)) * 1000.0 / bw_hz, dtype=np.float64)


def time_on_air_ms(
    payload: int | IntArray,
    sf: int | IntArray,
    bw_hz: int = BW125_HZ,
    cr: int = 1,
    preamble: int = 8,
    explicit: bool = True,
    crc: bool = True,
) -> FloatArray:
    """LoRa packet duration (Semtech AN1200.13 / SX1262 DS 6.1.4), vectorised over payload and SF.

    ``cr`` 1..4 for 4/5..4/8. Low data rate optimisation is on where a symbol exceeds 16 ms (SF11, SF12 at BW125),
    as the SX126x datasheet requires.
    """
    pl = np.asarray(payload, dtype=np.int64)
    s = np.asarray(sf, dtype=np.int64)
    t_sym = symbol_ms(s, bw_hz)
    de = (t_sym > 16.0).astype(np.int64)
    num = 8 * pl - 4 * s + 28 + (16 if crc else 0) - (0 if explicit else 20)
    den = 4 * (s - 2 * de)
    n_payload = 8 + np.maximum(-(-num // den) * (cr + 4), 0)
    return np.asarray((preamble + 4.25 + n_payload) * t_sym, dtype=np.float64)


def lock_ms(sf: int | IntArray) -> FloatArray:
    """When a receiver has locked onto a packet, from its start: Bor et al. 2016, a later packet can still capture
    the receiver until the last ``CAPTURE_LOCK_SYMBOLS`` of the 8 + 4.25 preamble symbols."""
    return np.asarray((8 + 4.25 - CAPTURE_LOCK_SYMBOLS) * symbol_ms(sf), dtype=np.float64)


def off_time_ms(toa_ms: float, duty: float) -> float:
    """EU868 (ETSI EN 300 220, RP002): after ``toa`` the sub-band stays closed until toa/duty from the start."""
    return toa_ms / duty - toa_ms


def received_dbm(
    tx_dbm: float, gains_db: float, d_m: FloatArray, model: PathLoss, shadow: FloatArray | None = None
) -> FloatArray:
    """Received power; ``shadow`` is the per-link shadowing draw in dB (N(0, sigma)), or none for the median."""
    rx = tx_dbm + gains_db - model.median_db(d_m)
    if shadow is not None:
        rx = rx - shadow
    return np.asarray(rx, dtype=np.float64)


def capture_survives(
    start: FloatArray,
    end: FloatArray,
    power: FloatArray,
    channel: IntArray,
    lock_ms: float | FloatArray,
    capture_db: float = CAPTURE_DB,
) -> BoolArray:
    """Which packets one gateway receives, given every same-SF packet it hears (the capture model).

    A packet survives when, against each packet overlapping it on its channel, it is ``capture_db`` stronger and
    arrived before that one's receiver lock (its start + ``lock_ms``): Bor et al.'s rule. Two packets that
    overlap within ``capture_db`` of each other are both lost. Packets on other channels never interfere
    (SX1301: 8 independent IF chains); different SFs are taken as orthogonal, so a caller mixing SFs folds the SF
    into ``channel``. ``lock_ms`` is one number, or one per packet (it depends on the SF).
    """
    n = len(start)
    ok = np.ones(n, dtype=np.bool_)
    if n < 2:
        return ok
    # Sort by (channel, start): overlapping packets are then neighbours within a bounded distance.
    order = np.lexsort((start, channel))
    s, e, p, c = start[order], end[order], power[order], channel[order]
    lock = np.broadcast_to(np.asarray(lock_ms, dtype=np.float64), (n,))[order]
    alive = np.ones(n, dtype=np.bool_)
    longest = float(np.max(e - s))
    k = 1
    while True:
        # Pairs (i, i + k): both directions at once. Stop when no pair k apart can overlap any more.
        a, b = np.arange(0, n - k), np.arange(k, n)
        if len(a) == 0:
            break
        same = c[a] == c[b]
        near = same & (s[b] - s[a] < longest)
        if not np.any(near):
            break
        overlap = near & (s[b] < e[a]) & (s[a] < e[b])
        if np.any(overlap):
            a_wins = (p[a] - p[b] >= capture_db) & (s[a] <= s[b] + lock[b])
            b_wins = (p[b] - p[a] >= capture_db) & (s[b] <= s[a] + lock[a])
            alive[a[overlap & ~a_wins]] = False
            alive[b[overlap & ~b_wins]] = False
        k += 1
    ok[order] = alive
    return ok


@dataclass(frozen=True, slots=True)
class BleTiming:
    """Advertiser and scanner timing (Core spec v5.3, vol 6 part B 4.4.2.2: advDelay 0-10 ms per event)."""

    adv_interval_ms: float = 20.0
    adv_delay_max_ms: float = 10.0
    scan_interval_ms: float = 60.0
    scan_window_ms: float = 30.0
    channel_ms: float = 0.376  # one legacy advert with 24 bytes of payload (FACTS)


def ble_discovery_ms(
    rng: np.random.Generator,
    n_links: int,
    burst_ms: float,
    p_packet: FloatArray,
    timing: BleTiming,
) -> FloatArray:
    """Time from the start of a burst to the first advert each scanner receives; inf when none in the burst.

    Each advertising event sends on channels 37, 38, 39 back to back; the scanner listens for ``scan_window`` of
    every ``scan_interval``, one channel per interval in turn, from a random phase. An advert is heard when it
    falls in a window on the channel scanned then and the link delivers it (``p_packet`` per link, from RSSI and
    fast fading). Vectorised over links x events.
    """
    n_events = int(burst_ms // timing.adv_interval_ms) + 1
    gaps = timing.adv_interval_ms + rng.uniform(0.0, timing.adv_delay_max_ms, size=(n_links, n_events))
    gaps[:, 0] = 0.0
    t_event = np.cumsum(gaps, axis=1)
    phase = rng.uniform(0.0, 3 * timing.scan_interval_ms, size=(n_links, 1))
    best = np.full(n_links, np.inf)
    for ch in range(3):
        t = t_event + ch * timing.channel_ms
        local = (t + phase) % (3 * timing.scan_interval_ms)
        interval = (local // timing.scan_interval_ms).astype(np.int64)
        in_window = (local % timing.scan_interval_ms) < timing.scan_window_ms
        heard = in_window & (interval == ch) & (t < burst_ms)
        heard &= rng.random(size=heard.shape) < p_packet[:, None]
        first = np.where(heard, t + timing.channel_ms, np.inf).min(axis=1)
        best = np.minimum(best, first)
    return best


def packet_success(margin_db: FloatArray, fading_db: float = 3.0) -> FloatArray:
    """Probability that one packet gets through, given the link's margin over sensitivity: a smooth step of
    width ``fading_db`` standing in for fast fading (a logistic fit to a Rayleigh-faded threshold)."""
    return np.asarray(1.0 / (1.0 + np.exp(-np.asarray(margin_db, dtype=np.float64) / (fading_db / 2.0))))
