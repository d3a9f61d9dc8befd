"""Spreading factors other than 9, and the BLE scanner reach behind the density figure."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.ble_reach import heard_within, reliable_range_m
from simulator.bulk import LOCK_BY_SF, TOA_BY_SF
from simulator.radio import capture_survives, time_on_air_ms
from simulator.run import run
from simulator.scenario import RadioSettings, parse
from tests.simulator.scenes import small


def test_tables_per_sf_match_the_radio_model() -> None:
    for sf in range(7, 13):
        assert TOA_BY_SF[sf] == float(time_on_air_ms(24, sf))
    assert all(LOCK_BY_SF[sf] < LOCK_BY_SF[sf + 1] for sf in range(7, 12))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 2000), st.floats(-140, -60), st.integers(0, 2)), min_size=1, max_size=20))
def test_capture_with_one_lock_per_packet_equals_a_shared_lock(pk: list[tuple[float, float, int]]) -> None:
    s = np.array([p[0] for p in pk])
    p = np.array([p[1] for p in pk])
    c = np.array([p[2] for p in pk])
    shared = capture_survives(s, s + 205.8, p, c, 29.7)
    each = capture_survives(s, s + 205.8, p, c, np.full(len(pk), 29.7))
    assert np.array_equal(shared, each)


def test_rings_at_another_sf_run_the_firmware_at_it() -> None:
    extra_sf = 'exact = "all"\nsf = [7, 12]\nsf_share = [1, 1]'
    r = run(parse(small(rings=120, hours=1.0, sos=6.0).replace('exact = "all"', extra_sf, 1)))
    sfs = r.engine.world.people.sf
    assert set(np.unique(sfs).tolist()) == {7, 12}
    by_sf = r.summary["latency_ms"]["lora_by_sf"]
    assert set(by_sf) == {"SF7", "SF12"}
    for ring in r.engine.rings.values():
        assert vars(ring.cfg)["lora_sf"] == int(sfs[ring.index])
    # SF12 stays on air 24 times as long as SF7, so its air hop is longer whenever both reached dispatch.
    if by_sf["SF7"]["air"]["n"] and by_sf["SF12"]["air"]["n"]:
        assert by_sf["SF12"]["air"]["p50"] > by_sf["SF7"]["air"]["p50"]


def test_ble_heard_less_often_further_away() -> None:
    rng = np.random.default_rng(3)
    near, far = (heard_within(d, 300.0, RadioSettings(), rng) for d in (5.0, 50.0))
    assert near > 0.99 > far


def test_more_time_reaches_further_and_needs_fewer_scanners() -> None:
    quick, slow = reliable_range_m(150.0), reliable_range_m(1000.0)
    assert 0 < quick.range_m <= slow.range_m
    assert quick.per_km2 >= slow.per_km2
