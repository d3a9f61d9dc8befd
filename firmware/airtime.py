"""LoRa time on air and the EU868 duty-cycle ledger.

Time on air: Semtech AN1200.13 ("LoRa Modem Designer's Guide") and SX1262 datasheet section 6.1.4; checked
against Semtech's calculator in tests (24 bytes, BW125, CR4/5, preamble 8, explicit header, CRC on:
SF7 61.7 ms ... SF12 1483 ms).

Duty cycle: ETSI EN 300 220-2 / ERC Recommendation 70-03 annex 1 limit each EU868 sub-band separately. The ledger
applies the LoRaWAN rule (Regional Parameters RP002, EU863-870): after a transmission of ``toa`` ms in a
sub-band with duty cycle ``dc``, that sub-band stays closed until ``toa / dc`` ms after the transmission began
(an off-time of ``toa / dc - toa``). Over any hour this allows the band's budget (36 s at 1 %) give or take
one frame at the window's edge; the key ring sends far less than that outside an alarm. Every transmission is
also added to per-band totals that can be reported.
"""

from firmware.const import const
from firmware.ticks import ticks_add, ticks_diff

_BW_HZ = const(125000)

# EU868 sub-bands: (low Hz, high Hz, duty cycle in parts per 10000). ERC Rec 70-03 annex 1, bands h1.3-h1.7.
SUB_BANDS = (
    (863000000, 865000000, 10),  # 0.1 %
    (865000000, 868000000, 100),  # 1 %
    (868000000, 868600000, 100),  # 1 %
    (868700000, 869200000, 10),  # 0.1 %
    (869400000, 869650000, 1000),  # 10 %, up to 500 mW
    (869700000, 870000000, 100),  # 1 %
)

# The eight uplink channels of a common EU868 gateway plan (867.1-867.9 and 868.1-868.5 MHz, RP002 section
# 2.5.2): two 1 % sub-bands, so using both doubles how often an alarm may go out. Which one each transmission
# uses is firmware/channels.py's pseudo-random walk.
UPLINK_CHANNELS = (
    868100000,
    867100000,
    868300000,
    867300000,
    868500000,
    867500000,
    867700000,
    867900000,
)


def time_on_air_ms(
    payload: int, sf: int, bw_hz: int = _BW_HZ, cr: int = 1, preamble: int = 8, explicit: bool = True, crc: bool = True
) -> float:
    """Packet duration in ms (SX1262 DS 6.1.4). ``cr`` is 1..4 for coding rates 4/5..4/8."""
    t_sym = (1 << sf) * 1000.0 / bw_hz
    low_dr = 1 if t_sym > 16.0 else 0  # LowDataRateOptimize is mandatory above 16 ms per symbol
    num = 8 * payload - 4 * sf + 28 + (16 if crc else 0) - (0 if explicit else 20)
    den = 4 * (sf - 2 * low_dr)
    n_payload = 8 + max(-(-num // den) * (cr + 4), 0)
    return (preamble + 4.25 + n_payload) * t_sym


def sub_band(freq_hz: int) -> int:
    """Index into SUB_BANDS, or -1 when ``freq_hz`` is outside every band (and may not be used)."""
    for i in range(len(SUB_BANDS)):
        lo, hi, _dc = SUB_BANDS[i]
        if lo <= freq_hz < hi:
            return i
    return -1


class AirtimeLedger:
    """When each sub-band may transmit next, and how much airtime each has used."""

    def __init__(self, now: int) -> None:
        n = len(SUB_BANDS)
        self._open_at = [now] * n
        self.used_ms = [0] * n  # total airtime per band since boot, for reports and the power model

    def band_open(self, band: int, now: int) -> bool:
        return ticks_diff(now, self._open_at[band]) >= 0

    def wait_ms(self, freq_hz: int, now: int) -> int:
        """ms until ``freq_hz`` may transmit (0 = now)."""
        band = sub_band(freq_hz)
        if band < 0:
            raise ValueError("frequency outside the EU868 sub-bands")
        return max(0, ticks_diff(self._open_at[band], now))

    def pick(self, channels, now: int, start: int = 0, order=None):  # -> (freq_hz, wait_ms)
        """The channel whose sub-band opens first, searching from position ``start`` round, and the ms until it
        opens; among channels open now, the first in the search. ``order`` (indices into ``channels``, as
        ``firmware.channels.order`` fills it) is the search order; without it, ``channels`` as listed."""
        n = len(channels)
        best = channels[start % n if order is None else order[start % n]]
        best_wait = self.wait_ms(best, now)
        for k in range(n):
            i = (start + k) % n
            f = channels[i if order is None else order[i]]
            w = self.wait_ms(f, now)
            if w < best_wait:
                best, best_wait = f, w
            if best_wait == 0:
                break
        return best, best_wait

    def record(self, freq_hz: int, toa_ms: float, start: int) -> None:
        """Book a transmission of ``toa_ms`` that started at tick ``start``."""
        band = sub_band(freq_hz)
        if not self.band_open(band, start):
            raise ValueError("transmission in a closed sub-band")
        dc = SUB_BANDS[band][2]
        self._open_at[band] = ticks_add(start, int(toa_ms * 10000 / dc + 0.999))
        self.used_ms[band] += int(toa_ms + 0.999)

    def remaining(self, now: int) -> list:
        """Closed time left per band (ms), kept across deep sleep in the retained state."""
        return [max(0, ticks_diff(t, now)) for t in self._open_at]

    def restore(self, remaining, now: int) -> None:
        for i in range(min(len(remaining), len(self._open_at))):
            self._open_at[i] = ticks_add(now, remaining[i])
