"""Latencies of the hops between the radio and the responder's screen, drawn from the scenario's figures.

Each hop is log-normal, fixed by its median and p95 (sigma = ln(p95 / median) / 1.645): latencies are positive
with a right tail, and two numbers are what one can measure or read off a benchmark.
"""

import math

import numpy as np

from simulator.scenario import Hop

Z95 = 1.6448536269514722


class HopSampler:
    def __init__(self, hops: dict[str, Hop], rng: np.random.Generator) -> None:
        self.hops = hops
        self.rng = rng

    def draw(self, name: str) -> float:
        hop = self.hops[name]
        if hop.median_ms <= 0:
            return 0.0
        sigma = math.log(hop.p95_ms / hop.median_ms) / Z95 if hop.p95_ms > hop.median_ms else 0.0
        return float(hop.median_ms * math.exp(sigma * self.rng.standard_normal()))
