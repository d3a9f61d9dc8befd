"""The alarms of a real-time load run: the scenario's city at a chosen rate, on the wall clock.

The scenario's own alarm plan is hours of virtual time; a real-time run asks how the real services carry alarms
at ``rate`` a second. Each alarm is a distinct ring, standing where its wearer is at a random moment of the
scenario's night (people who are out, as the virtual-time plan draws them), with the scenario's mix of SOS and
escort, its share of false alarms, cancelled by the wearer a few seconds after the hold, and its people's acts
(simulator/acts.py) scripted in seconds: the duress word a few seconds after the hold, a late cancel just past
the run's shortened cancel window, a second hold once the ring says help is coming or once the alarm is resolved
(city.py presses those), and escorts out of hours at the end, once the patrol has gone off shift (run.py).
"""

from dataclasses import dataclass

import numpy as np

from simulator import alarm_plan
from simulator.acts import sos_fate
from simulator.world import H_MS, World

BOOT_LEAD_S = 3.0  # a ring boots (and sends its boot heartbeat) this long before its wearer presses
CANCEL_AFTER_S = 5.0  # a false alarm's cancel word starts this long after the hold began
DURESS_AFTER_S = 5.0  # ... and the duress word
# Dispatch's cancel window in a real-time run: a false alarm's cancel lands inside it even when the ring's LoRa
# waits out its 1 % duty cycle (the SOS's copies can close its sub-bands for some 20 s) ...
CANCEL_WINDOW_S = 30.0
LATE_CANCEL_AFTER_S = 40.0  # ... and a late one outside it
OFF_SHIFT_GAP_S = 4.0  # the patrol goes off shift this long after the last other press, before the out-of-hours escorts


@dataclass(frozen=True, slots=True)
class Press:
    at_s: float  # wall seconds from the run's start
    ring: int
    kind: str  # sos | escort
    t_virtual_ms: float  # the moment of the scenario night that places the wearer
    cancel_at_s: float | None  # the cancel word: a false alarm's, or a late one
    act: str = alarm_plan.PLAIN_SOS
    duress_at_s: float | None = None
    again: str = ""  # AGAIN_WHILE_OPEN or AGAIN_AFTER_CLOSE: the wearer holds SOS again (city.py says when)


def plan(world: World, rate: float, seconds: float) -> list[Press]:
    sc = world.scenario
    rng = np.random.default_rng(sc.seed + 21)
    fates = np.random.default_rng((sc.seed, 0xAC7, 21))  # a generator of their own: the draws above stay as they were
    n = max(1, round(rate * seconds))
    people = world.people
    acts = sc.alarms.acts
    rates = np.array([sc.alarms.sos_per_hour, sc.alarms.escort_per_hour, acts.escort_out_of_hours_per_hour])
    sos_share, escort_share, _ = rates / max(rates.sum(), 1e-9)
    bounds = np.cumsum(acts.sos_shares)
    taken: set[int] = set()
    regular: list[Press] = []
    late: list[Press] = []
    dur = sc.duration_h * H_MS
    for _ in range(n):
        for _try in range(50):
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
        u = rng.random()
        kind = alarm_plan.SOS if u < sos_share else alarm_plan.ESCORT
        false = kind == alarm_plan.SOS and rng.random() < sc.alarms.false_share
        at = BOOT_LEAD_S + len(regular) / rate
        if kind == alarm_plan.ESCORT and u >= sos_share + escort_share:
            late.append(Press(0.0, i, alarm_plan.ESCORT, t, None, alarm_plan.ESCORT_OUT_OF_HOURS))
        elif kind == alarm_plan.ESCORT:
            regular.append(Press(at, i, alarm_plan.ESCORT, t, None, alarm_plan.PLAIN_ESCORT))
        elif false:
            regular.append(Press(at, i, alarm_plan.SOS, t, at + CANCEL_AFTER_S, alarm_plan.FALSE_ALARM))
        else:
            regular.append(_sos(at, i, t, sos_fate(bounds, fates)))
    # Escorts out of hours come last: the patrol stays on shift for the others, then goes off.
    start = (regular[-1].at_s + OFF_SHIFT_GAP_S) if regular else BOOT_LEAD_S
    return regular + [Press(start + j / rate, p.ring, p.kind, p.t_virtual_ms, None, p.act) for j, p in enumerate(late)]


def _sos(at: float, ring: int, t: float, fate: str) -> Press:
    if fate == alarm_plan.SOS_THEN_DURESS:
        return Press(at, ring, alarm_plan.SOS, t, None, alarm_plan.SOS_THEN_DURESS, duress_at_s=at + DURESS_AFTER_S)
    if fate == alarm_plan.LATE_CANCEL:
        return Press(at, ring, alarm_plan.SOS, t, at + LATE_CANCEL_AFTER_S, alarm_plan.LATE_CANCEL)
    if fate in (alarm_plan.AGAIN_WHILE_OPEN, alarm_plan.AGAIN_AFTER_CLOSE):
        return Press(at, ring, alarm_plan.SOS, t, None, alarm_plan.PLAIN_SOS, again=fate)
    return Press(at, ring, alarm_plan.SOS, t, None, alarm_plan.PLAIN_SOS)
