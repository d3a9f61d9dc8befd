"""Time on air and the EU868 duty-cycle ledger against the figures in FACTS (Semtech's calculator)."""

from firmware.airtime import SUB_BANDS, UPLINK_CHANNELS, AirtimeLedger, sub_band, time_on_air_ms

# 24-byte payload, BW125, CR4/5, preamble 8, explicit header, CRC on.
TOA_24 = ((7, 61.7), (8, 113.2), (9, 205.8), (10, 370.7), (11, 823.3), (12, 1482.8))


def test_time_on_air_matches_calculator():
    for sf, ms in TOA_24:
        got = time_on_air_ms(24, sf)
        assert abs(got - ms) < 0.1, (sf, got)


def test_time_on_air_grows_with_payload_and_header_matters():
    assert time_on_air_ms(51, 9) > time_on_air_ms(24, 9)
    assert time_on_air_ms(24, 9, explicit=False) < time_on_air_ms(24, 9)


# (frequency, duty cycle in parts per 10000) for each EU868 sub-band (ERC 70-03 annex 1).
BANDS = (
    (863500000, 10),
    (866000000, 100),
    (868100000, 100),
    (868900000, 10),
    (869525000, 1000),
    (869800000, 100),
)


def test_sub_bands():
    for freq, dc in BANDS:
        assert SUB_BANDS[sub_band(freq)][2] == dc, freq
    assert sub_band(868650000) == -1  # the gap between 868.6 and 868.7 MHz
    assert sub_band(870000000) == -1
    for f in UPLINK_CHANNELS:
        assert sub_band(f) in (1, 2)


def test_off_time_at_1_percent_sf12():
    # FACTS: at SF12 and 1 % one 24-byte frame costs 148 s.
    led = AirtimeLedger(0)
    toa = time_on_air_ms(24, 12)
    led.record(868100000, toa, 0)
    off = 148276  # ceil(1482.752 ms / 1 %)
    assert abs(toa / 0.01 - off) < 1
    assert led.wait_ms(868300000, 1000) == off - 1000
    assert led.wait_ms(868100000, off - 1) == 1
    assert led.wait_ms(868100000, off) == 0
    # Another sub-band is not affected.
    assert led.wait_ms(867100000, 1000) == 0


def test_each_band_duty_cycle():
    for freq, dc in BANDS:
        led = AirtimeLedger(0)
        led.record(freq, 100.0, 0)
        assert led.wait_ms(freq, 0) == 100 * 10000 // dc, freq


def test_closed_band_is_refused():
    led = AirtimeLedger(0)
    led.record(868100000, 205.8, 0)
    try:
        led.record(868500000, 205.8, 10000)
    except ValueError:
        pass
    else:
        raise AssertionError("sent in a closed sub-band")


def test_pick_alternates_sub_bands():
    led = AirtimeLedger(0)
    toa = time_on_air_ms(24, 9)
    f1, w1 = led.pick(UPLINK_CHANNELS, 0, 0)
    led.record(f1, toa, 0)
    f2, w2 = led.pick(UPLINK_CHANNELS, 300, 1)
    assert w1 == 0 and w2 == 0 and sub_band(f1) != sub_band(f2)
    led.record(f2, toa, 300)
    f3, w3 = led.pick(UPLINK_CHANNELS, 600, 2)
    assert sub_band(f3) == sub_band(f1) and w3 == 20583 - 600


def test_hourly_budget_is_never_exceeded():
    # Transmit whenever the ledger allows for an hour: each 1 % band stays within its 36 s of airtime per
    # hour, give or take the one frame by which a window of an hour can straddle the off-time rule.
    led = AirtimeLedger(0)
    toa = time_on_air_ms(24, 9)
    t = 0
    k = 0
    while t < 3600000:
        f, w = led.pick(UPLINK_CHANNELS, t, k)
        t += w
        if t >= 3600000:
            break
        led.record(f, toa, t)
        k += 1
        t += 1
    for band in (1, 2):
        assert led.used_ms[band] <= 36000 + 206, led.used_ms
        assert led.used_ms[band] > 30000  # and the ledger does not waste much of it


def test_remaining_survives_restore():
    led = AirtimeLedger(0)
    led.record(868100000, 205.8, 0)
    rem = led.remaining(5000)
    led2 = AirtimeLedger(100)
    led2.restore(rem, 100)
    assert led2.wait_ms(868100000, 100) == 20580 - 5000
