"""The radio model: time on air against Semtech's figures, and properties of the capture model."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.airtime import time_on_air_ms as firmware_toa
from simulator.radio import (
    CAPTURE_DB,
    LORA_HATA,
    BleTiming,
    ble_discovery_ms,
    capture_survives,
    lora_sensitivity_dbm,
    off_time_ms,
    time_on_air_ms,
)

# FACTS.md / Semtech's LoRa calculator: 24 bytes, BW125, CR4/5, preamble 8, explicit header, CRC on.
TOA_24 = [(7, 61.7), (8, 113.2), (9, 205.8), (10, 370.7), (11, 823.3), (12, 1482.8)]


@pytest.mark.parametrize(("sf", "ms"), TOA_24)
def test_time_on_air_24_bytes(sf: int, ms: float) -> None:
    assert float(time_on_air_ms(24, sf)) == pytest.approx(ms, abs=0.05)


@pytest.mark.parametrize(
    ("payload", "sf", "ms"),
    [
        (16, 9, 164.9),  # the downlink ACK
        (51, 12, 2465.8),  # the EU868 DR0 maximum payload
        (1, 7, 25.9),
        (0, 7, 25.9),  # an empty payload still has its header symbols
    ],
)
def test_time_on_air_other_sizes(payload: int, sf: int, ms: float) -> None:
    assert float(time_on_air_ms(payload, sf)) == pytest.approx(ms, abs=0.05)


def test_time_on_air_vectorised_matches_the_firmware() -> None:
    sizes = np.arange(0, 52)
    for sf in range(7, 13):
        got = time_on_air_ms(sizes, sf)
        want = [firmware_toa(int(n), sf) for n in sizes]
        assert np.allclose(got, want)


def test_duty_cycle_off_time() -> None:
    # FACTS: at SF12 and 1 % one 24-byte frame costs 148 s of silence.
    assert off_time_ms(float(time_on_air_ms(24, 12)), 0.01) / 1000 == pytest.approx(146.8, abs=0.1)
    assert off_time_ms(float(time_on_air_ms(24, 9)), 0.01) + float(time_on_air_ms(24, 9)) == pytest.approx(20582, 1)


def test_sensitivity_steps_2_5_db_per_sf() -> None:
    s = [lora_sensitivity_dbm(sf) for sf in range(7, 13)]
    assert s[0] == pytest.approx(-124.5, abs=0.1)
    assert np.allclose(np.diff(s), -2.5)


def test_path_loss_range_inverts_median() -> None:
    d = LORA_HATA.range_m(140.0)
    assert float(LORA_HATA.median_db(d)) == pytest.approx(140.0)


def test_ble_discovery_at_20ms_and_half_scan_duty() -> None:
    rng = np.random.default_rng(1)
    n = 20_000
    found = ble_discovery_ms(rng, n, 1000.0, np.full(n, 1.0), BleTiming())
    assert np.isfinite(found).all()
    assert np.percentile(found, 99) < 150  # the floor: found within ~150 ms at p99
    lossy = ble_discovery_ms(rng, n, 1000.0, np.full(n, 0.5), BleTiming())
    assert np.median(lossy) > np.median(found)


def test_ble_never_found_without_link() -> None:
    rng = np.random.default_rng(2)
    found = ble_discovery_ms(rng, 100, 1000.0, np.zeros(100), BleTiming())
    assert np.isinf(found).all()


packets = st.lists(
    st.tuples(
        st.floats(0, 2000, allow_nan=False),  # start
        st.floats(-140, -60, allow_nan=False),  # power
        st.integers(0, 2),  # channel
    ),
    min_size=1,
    max_size=25,
)
TOA = 205.8
LOCK = 29.7


def _run(pk: list[tuple[float, float, int]]) -> np.ndarray:
    s = np.array([p[0] for p in pk])
    return capture_survives(s, s + TOA, np.array([p[1] for p in pk]), np.array([p[2] for p in pk]), LOCK)


def _overlap(a: tuple[float, float, int], b: tuple[float, float, int]) -> bool:
    return a[2] == b[2] and a[0] < b[0] + TOA and b[0] < a[0] + TOA


@settings(max_examples=300, deadline=None)
@given(packets)
def test_capture_matches_the_pairwise_rule(pk: list[tuple[float, float, int]]) -> None:
    ok = _run(pk)
    for i, a in enumerate(pk):
        want = True
        for j, b in enumerate(pk):
            if i != j and _overlap(a, b):
                want &= a[1] - b[1] >= CAPTURE_DB and a[0] <= b[0] + LOCK
        assert ok[i] == want


@settings(max_examples=200, deadline=None)
@given(packets)
def test_of_overlapping_packets_at_most_one_survives(pk: list[tuple[float, float, int]]) -> None:
    ok = _run(pk)
    for i, a in enumerate(pk):
        for j, b in enumerate(pk):
            if i < j and _overlap(a, b):
                assert not (ok[i] and ok[j])


@settings(max_examples=200, deadline=None)
@given(packets, st.data())
def test_a_stronger_packet_never_fares_worse(pk: list[tuple[float, float, int]], data: st.DataObject) -> None:
    i = data.draw(st.integers(0, len(pk) - 1))
    before = _run(pk)[i]
    louder = list(pk)
    louder[i] = (pk[i][0], pk[i][1] + data.draw(st.floats(0, 30)), pk[i][2])
    assert _run(louder)[i] >= before


@settings(max_examples=100, deadline=None)
@given(packets)
def test_packets_apart_in_time_or_channel_all_survive(pk: list[tuple[float, float, int]]) -> None:
    spread = [(k * (TOA + 1), p, c) for k, (_s, p, c) in enumerate(pk)]
    assert _run(spread).all()
    same_time = [(0.0, p, k) for k, (_s, p, _c) in enumerate(pk)]
    assert _run(same_time).all()


def test_equal_power_collision_loses_both() -> None:
    assert not _run([(0.0, -100.0, 0), (50.0, -100.0, 0)]).any()


def test_late_stronger_packet_kills_both() -> None:
    # Bor et al.: the receiver locked on the first; the second, 10 dB stronger, arrives after the lock.
    assert not _run([(0.0, -110.0, 0), (100.0, -100.0, 0)]).any()
    # Early enough, the stronger one captures the receiver.
    assert list(_run([(0.0, -110.0, 0), (10.0, -100.0, 0)])) == [False, True]
