"""bench.ab's comparison of the pipeline's CPU per uplink: B/A and its band (pure), and one real A/A run."""

import shutil
import subprocess
from pathlib import Path

import pytest

from bench import ab_cost
from bench.ab_band import verdict

# (A's figures by round, B's, whether B/A comes out inside its band)
CASES = [
    pytest.param([10.0] * 6, [10.0] * 6, True, id="a-a-exact"),
    pytest.param([10.0, 12.0, 9.0, 11.0, 10.0, 13.0], [11.0, 10.0, 12.0, 9.0, 13.0, 10.0], True, id="a-a-noisy"),
    pytest.param([10.0, 10.2, 9.9, 10.1, 10.0, 9.8], [15.1, 15.2, 14.8, 15.0, 15.3, 14.9], False, id="b-dearer"),
    pytest.param([10.0, 10.2, 9.9, 10.1, 10.0, 9.8], [7.0, 7.1, 6.9, 7.2, 7.0, 6.8], False, id="b-cheaper"),
    # Every round 2 % dearer, and no noise at all: below the floor, which is what a run can tell.
    pytest.param([10.0] * 6, [10.2] * 6, True, id="below-the-floor"),
    # A real two-round A/A run on a busy machine: one round 36 % apart, the other 4 % the other way.
    pytest.param([8.77, 8.87], [11.94, 8.51], True, id="a-a-two-rounds"),
    # A machine slowing down through the run moves both sides' rounds alike; the pairs keep B/A still.
    pytest.param(
        [10.0, 12.0, 14.0, 16.0, 18.0, 20.0], [20.0, 24.0, 28.0, 32.0, 36.0, 40.0], False, id="drift-b-dearer"
    ),
    pytest.param([10.0, 12.0, 14.0, 16.0, 18.0, 20.0], [10.1, 11.9, 14.2, 15.8, 18.1, 20.2], True, id="drift-a-a"),
]


@pytest.mark.parametrize(("a", "b", "inside"), CASES)
def test_b_over_a_falls_inside_its_band_when_b_costs_what_a_costs(a: list[float], b: list[float], inside: bool) -> None:
    v = verdict(a, b)
    assert v.inside is inside
    assert v.low < 1.0 < v.high  # the band is around 1.0, at least the floor either way
    assert v.low <= 1 / 1.03 and v.high >= 1.03
    assert v.round_ratios == tuple(y / x for x, y in zip(a, b, strict=True))


def test_the_ratio_is_b_over_a() -> None:
    assert verdict([10.0, 10.0, 10.0], [15.0, 15.0, 15.0]).ratio == pytest.approx(1.5)
    assert verdict([10.0, 10.0, 10.0], [5.0, 5.0, 5.0]).ratio == pytest.approx(0.5)


def test_a_wider_floor_takes_a_larger_difference_for_chance() -> None:
    a, b = [10.0] * 4, [10.5] * 4
    assert not verdict(a, b, floor=0.03).inside
    assert verdict(a, b, floor=0.10).inside


@pytest.mark.parametrize(("a", "b"), [([], []), ([1.0, 2.0], [1.0]), ([0.0], [1.0]), ([1.0], [-1.0])])
def test_rounds_must_pair_and_costs_be_positive(a: list[float], b: list[float]) -> None:
    with pytest.raises(ValueError, match=r"round|positive"):
        verdict(a, b)


@pytest.mark.timeout(120)
def test_an_a_a_run_measures_each_tree_and_reads_its_band() -> None:
    """This checkout against its own HEAD, checked out in a worktree: two small rounds, each side in its own
    interpreter on its own tree. Two rounds are too few for the verdict to be reliable on a busy machine (the band
    tests above decide that), so this checks that the run measured what it says and reads its band rightly."""
    if (
        shutil.which("git") is None
        or subprocess.run(["git", "-C", str(ab_cost.ROOT), "rev-parse"], check=False).returncode
    ):
        pytest.skip("not a git checkout")
    result = ab_cost.compare(str(ab_cost.ROOT), "HEAD", rounds=2, devices=200)
    assert result["a"]["commit"] is None and result["b"]["commit"]
    assert len(result["a"]["cpu_us_per_uplink"]) == len(result["b"]["cpu_us_per_uplink"]) == 2
    assert result["order"] == ["a", "b", "b", "a"]
    assert result["uplinks"] == 200 * 3 * 3
    # Both trees handle the same uplinks alike: one accepted heartbeat and two copies of it per frame.
    assert result["same_outcomes"]
    assert result["a"]["outcomes"] == {"accepted": 600, "duplicate": 1200}
    low, high = result["band"]
    assert result["inside_band"] is (low <= result["b_over_a"] <= high)
    # The same code on both sides: whatever the machine did, not twice or half the cost.
    assert 0.5 < result["b_over_a"] < 2.0
    assert not Path(result["b"]["tree"]).exists()  # the worktree is gone
