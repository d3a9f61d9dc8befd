"""The benchmarks' statistics: what a run's figures can and cannot say."""

import random

import pytest

from bench.uplinks import paired_ratio_interval, percentile


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([3.0, 1.0, 2.0], 50, 2.0),
        ([3.0, 1.0, 2.0], 100, 3.0),
        ([5.0], 99, 5.0),
        (list(map(float, range(1, 101))), 99, 99.0),
    ],
)
def test_percentile_is_nearest_rank(values: list[float], q: float, expected: float) -> None:
    assert percentile(values, q) == expected


def test_identical_peers_give_a_ratio_of_exactly_one() -> None:
    rng = random.Random(1)
    turns = [[rng.expovariate(1.0) for _ in range(50)] for _ in range(8)]
    assert paired_ratio_interval(turns, turns) == (1.0, 1.0)


def test_a_peer_twice_as_slow_in_every_sample_gives_two() -> None:
    rng = random.Random(2)
    b = [[rng.expovariate(1.0) for _ in range(50)] for _ in range(8)]
    a = [[2 * d for d in turn] for turn in b]
    low, high = paired_ratio_interval(a, b)
    assert low == pytest.approx(2.0) and high == pytest.approx(2.0)


def test_one_slow_spell_widens_the_interval_past_one() -> None:
    """Same distribution on both sides, but one turn of A caught a slow spell of the machine: the run's ratio
    says A is slower, the interval says the turns cannot tell."""
    rng = random.Random(3)
    a = [[rng.expovariate(1.0) for _ in range(100)] for _ in range(16)]
    b = [[rng.expovariate(1.0) for _ in range(100)] for _ in range(16)]
    a[5] = [d + 20.0 for d in a[5][:10]] + a[5][10:]
    pooled = percentile([d for t in a for d in t], 99) / percentile([d for t in b for d in t], 99)
    low, high = paired_ratio_interval(a, b)
    assert pooled > 1.1  # the run alone: A slower
    assert low < 1.0 < high


def test_turns_must_pair() -> None:
    with pytest.raises(ValueError):
        paired_ratio_interval([[1.0]], [[1.0], [2.0]])
    with pytest.raises(ValueError):
        paired_ratio_interval([], [])
