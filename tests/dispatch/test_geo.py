"""Where an alarm came from: the estimate lies among the gateways that heard it, nearer the louder ones, and its
radius never claims more than the gateways can know."""

import math

from hypothesis import given
from hypothesis import strategies as st

from basestation.dispatch.core.geo import MAX_RANGE_M, MIN_RADIUS_M, distance_m, locate, range_from_rssi

# Leiden: Centraal station and Breestraat, about 900 m apart.
CENTRAAL = (52.1664, 4.4817)
BREESTRAAT = (52.1589, 4.4894)

gateway = st.tuples(
    st.floats(52.10, 52.20),
    st.floats(4.40, 4.55),
    st.sampled_from(["lora", "ble"]),
    st.one_of(st.none(), st.floats(-130.0, -40.0)),
)


@given(st.lists(gateway, min_size=1, max_size=6))
def test_the_estimate_lies_among_the_gateways_and_its_radius_is_bounded(
    heard: list[tuple[float, float, str, float | None]],
) -> None:
    est = locate(heard)
    assert est is not None and est.gateways == len(heard)
    lats, lons = [g[0] for g in heard], [g[1] for g in heard]
    assert min(lats) - 1e-9 <= est.lat <= max(lats) + 1e-9
    assert min(lons) - 1e-9 <= est.lon <= max(lons) + 1e-9
    assert est.radius_m >= MIN_RADIUS_M
    # Never wider than the nearest gateway's own range plus the way from the estimate to the nearest gateway.
    nearest = min(distance_m(est.lat, est.lon, g[0], g[1]) for g in heard)
    shortest = min(range_from_rssi(g[2], g[3]) for g in heard)
    assert est.radius_m <= max(MIN_RADIUS_M, shortest + nearest) + 1e-6


def test_nobody_heard_it_no_estimate() -> None:
    assert locate([]) is None


def test_one_gateway_says_only_within_its_range() -> None:
    est = locate([(*CENTRAAL, "lora", -100.0)])
    assert est is not None
    assert (est.lat, est.lon) == CENTRAAL
    assert math.isclose(est.radius_m, range_from_rssi("lora", -100.0))


def test_the_louder_gateway_pulls_the_estimate_towards_it() -> None:
    est = locate([(*CENTRAAL, "lora", -70.0), (*BREESTRAAT, "lora", -110.0)])
    assert est is not None
    assert distance_m(est.lat, est.lon, *CENTRAAL) < distance_m(est.lat, est.lon, *BREESTRAAT)


def test_ranges_follow_the_path_loss_model_within_the_radio_limits() -> None:
    assert range_from_rssi("ble", None) == 60.0 and range_from_rssi("lora", None) == 1500.0
    assert range_from_rssi("lora", -30.0) == 1.0  # at 1 m power: as close as it gets
    assert range_from_rssi("lora", -200.0) == MAX_RANGE_M["lora"]
    assert range_from_rssi("ble", -84.0) == 10 ** (25 / 25)  # 25 dB below 1 m at exponent 2.5: 10 m
