"""B over A, and the band it would fall in by chance, from the paired rounds of an A/B run (pure).

Each round measured A and B back to back, so a round's two figures share that moment's state of the machine;
the rounds differ from each other by what drifted in between. The ratio is B's median over A's (nearest rank, as
``percentile``). Resampling the rounds, pairs kept (``paired_ratio_interval``, as the dispatch bench does for its
p99 ratio), gives the ratio's 95 % interval; the band is that interval turned around 1.0, ``[ratio / high,
ratio / low]``: the ratios this run could show when B costs what A costs. B/A inside the band is the same as its
interval holding 1.0, the dispatch bench's reading. The band is never narrower than ``floor`` either way: with
few rounds the resampling sees little of the noise (two rounds give at most three distinct medians), and a
difference that small is not what a run of a minute on this machine can show. An A/A run, both sides one tree,
must come out inside its band; an A/B run outside it says B's cost differs from A's.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from bench.uplinks import paired_ratio_interval, percentile

FLOOR = 0.03  # the narrowest band: 3 % either way
RESAMPLES = 2000


@dataclass(frozen=True)
class Verdict:
    ratio: float  # B's median over A's
    low: float  # the band: B/A by chance, in this run
    high: float
    round_ratios: tuple[float, ...]  # each round's B over its A

    @property
    def inside(self) -> bool:
        return self.low <= self.ratio <= self.high


def verdict(a: Sequence[float], b: Sequence[float], floor: float = FLOOR, resamples: int = RESAMPLES) -> Verdict:
    """``a[i]`` and ``b[i]`` are round i's figures of each side (a cost: lower is cheaper)."""
    if len(a) != len(b) or not a:
        raise ValueError("both sides need a figure for every round")
    if min(a) <= 0 or min(b) <= 0:
        raise ValueError("costs are positive")
    ratio = percentile(list(b), 50) / percentile(list(a), 50)
    low, high = paired_ratio_interval([[x] for x in b], [[x] for x in a], q=50, rounds=resamples)
    return Verdict(
        ratio=ratio,
        low=min(ratio / high, 1 / (1 + floor)),
        high=max(ratio / low, 1 + floor),
        round_ratios=tuple(y / x for x, y in zip(a, b, strict=True)),
    )
