"""The alarms of a real-time load run: the scenario's city at a chosen rate, on the wall clock.

The scenario's own alarm plan is hours of virtual time; a real-time run asks how the real services carry alarms
at ``rate`` a second. Each alarm is a distinct ring, standing where its wearer is at a random moment of the
scenario's night (people who are out, as the virtual-time plan draws them), with the scenario's mix of SOS and
escort and its share of false alarms, cancelled by the wearer a few seconds after the hold.
"""

from dataclasses import dataclass

import numpy as np

from simulator.alarm_plan import ESCORT, SOS
from simulator.world import H_MS, World

BOOT_LEAD_S = 3.0  # a ring boots (and sends its boot heartbeat) this long before its wearer presses
CANCEL_AFTER_S = 5.0  # a false alarm's cancel word starts this long after the hold began


@dataclass(frozen=True, slots=True)
class Press:
    at_s: float  # wall seconds from the run's start
    ring: int
    kind: str  # sos | escort
    t_virtual_ms: float  # the moment of the scenario night that places the wearer
    cancel_at_s: float | None


def plan(world: World, rate: float, seconds: float) -> list[Press]:
    sc = world.scenario
    rng = np.random.default_rng(sc.seed + 21)
    n = max(1, round(rate * seconds))
    people = world.people
    sos_share = sc.alarms.sos_per_hour / max(sc.alarms.sos_per_hour + sc.alarms.escort_per_hour, 1e-9)
    taken: set[int] = set()
    out: list[Press] = []
    dur = sc.duration_h * H_MS
    for k in range(n):
        for _ in range(50):
            t = float(rng.uniform(0.0, dur))
            pool = np.flatnonzero((people.out_from <= t) & (t < people.out_to))
            if not len(pool):
                pool = np.arange(sc.rings.count)
            i = int(rng.choice(pool))
            if i not in taken:
                break
        else:
            raise ValueError(f"{sc.name}: too few rings for {n} distinct alarms")
        taken.add(i)
        kind = SOS if rng.random() < sos_share else ESCORT
        at = BOOT_LEAD_S + k / rate
        false = kind == SOS and rng.random() < sc.alarms.false_share
        out.append(Press(at, i, kind, t, at + CANCEL_AFTER_S if false else None))
    return out
