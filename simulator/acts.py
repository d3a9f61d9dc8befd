"""What people do besides one press, added to the alarm plan: a second press while help comes or after the alarm
was resolved, a duress, a cancel after dispatch's cancel window, an escort while no patrol is on shift.

Drawn from a generator of their own, after the plan's first presses: the draws of the plan before these acts, and so
every scenario that asks for none of them, stay as they were.
"""

import dataclasses

import numpy as np

from basestation.dispatch.core.assignment import in_shift
from simulator.alarm_plan import (
    AGAIN_AFTER_CLOSE,
    AGAIN_WHILE_OPEN,
    ESCORT,
    ESCORT_OUT_OF_HOURS,
    FALSE_ALARM,
    LATE_CANCEL,
    PLAIN_ESCORT,
    PLAIN_SOS,
    SOS_THEN_DURESS,
    AlarmPlan,
)
from simulator.radio import FloatArray
from simulator.scenario import Scenario

H_MS = 3_600_000
WORD_AFTER_HOLD_MS = 2_500  # a word after an SOS starts once the hold is over, as a false alarm's cancel does


def patrol_on_shift(sc: Scenario, t_ms: float) -> bool:
    """Whether a responder who takes escorts (skill ``patrol``) is on shift at ``t_ms`` of the run, on the wall
    clock of the scenario's zone, as dispatch reads it."""
    now = sc.start_unix_ms + int(t_ms)
    return any("patrol" in r.skills and in_shift(r.shift, now, sc.timezone) for r in sc.responders)


# What the wearer of a genuine SOS does next, in the order of Acts.sos_shares; past the last share, nothing more.
SOS_FATES = (SOS_THEN_DURESS, LATE_CANCEL, AGAIN_WHILE_OPEN, AGAIN_AFTER_CLOSE)


def sos_fate(bounds: FloatArray, rng: np.random.Generator) -> str:
    """One draw of what a genuine SOS's wearer does next: one of SOS_FATES, or PLAIN_SOS. ``bounds`` is the
    running sum of the scenario's Acts.sos_shares."""
    fate = int(np.searchsorted(bounds, rng.random(), side="right"))
    return SOS_FATES[fate] if fate < len(SOS_FATES) else PLAIN_SOS


def plan_acts(sc: Scenario, plans: list[AlarmPlan], out_from: FloatArray, out_to: FloatArray) -> list[AlarmPlan]:
    rng = np.random.default_rng((sc.seed, 0xAC7))
    acts = sc.alarms.acts
    bounds = np.cumsum(acts.sos_shares)
    out: list[AlarmPlan] = []
    for p in plans:
        if p.kind == ESCORT:
            act = PLAIN_ESCORT if patrol_on_shift(sc, p.at_ms) else ESCORT_OUT_OF_HOURS
            out.append(dataclasses.replace(p, act=act))
            continue
        if p.cancel_at_ms is not None:
            out.append(dataclasses.replace(p, act=FALSE_ALARM))
            continue
        fate = sos_fate(bounds, rng)
        word_at = p.at_ms + WORD_AFTER_HOLD_MS
        if fate == SOS_THEN_DURESS:
            at = word_at + int(rng.uniform(*acts.duress_after_s) * 1000)
            out.append(dataclasses.replace(p, act=SOS_THEN_DURESS, duress_at_ms=at))
        elif fate == LATE_CANCEL:
            at = word_at + int(rng.uniform(*acts.late_cancel_after_s) * 1000)
            out.append(dataclasses.replace(p, act=LATE_CANCEL, cancel_at_ms=at))
        elif fate == AGAIN_WHILE_OPEN:
            at = p.at_ms + int(rng.uniform(*acts.again_after_min) * 60_000)
            out.append(dataclasses.replace(p, act=AGAIN_WHILE_OPEN, again_at_ms=at))
        elif fate == AGAIN_AFTER_CLOSE:
            after = int(rng.uniform(*acts.again_after_close_min) * 60_000)
            out.append(dataclasses.replace(p, act=AGAIN_AFTER_CLOSE, again_after_close_ms=after))
        else:
            out.append(dataclasses.replace(p, act=PLAIN_SOS))
    out += _escorts_out_of_hours(sc, rng, {p.ring for p in plans}, out_from, out_to)
    out.sort(key=lambda p: p.at_ms)
    return out


def _escorts_out_of_hours(
    sc: Scenario, rng: np.random.Generator, taken: set[int], out_from: FloatArray, out_to: FloatArray
) -> list[AlarmPlan]:
    rate = sc.alarms.acts.escort_out_of_hours_per_hour
    if rate <= 0:
        return []
    dur = sc.duration_h * H_MS
    earliest = min(300_000.0, dur / 4)  # as the plan's first presses: every ring has booted
    minutes = np.arange(earliest, dur * 0.95, 60_000.0)
    off = np.array([not patrol_on_shift(sc, float(t)) for t in minutes], dtype=bool)
    if not off.any():
        return []
    count = int(rng.poisson(rate * off.sum() / 60))
    plans = []
    for t in np.sort(rng.choice(minutes[off], size=count) + rng.uniform(0, 60_000, size=count)):
        if patrol_on_shift(sc, float(t)):
            continue  # the last minute before a shift starts
        pool = np.flatnonzero((out_from <= t) & (t < out_to))
        pool = pool if len(pool) else np.arange(sc.rings.count)
        for i in rng.choice(pool, size=min(20, len(pool)), replace=False).tolist():
            if i not in taken:
                taken.add(i)
                plans.append(AlarmPlan(int(i), int(t), ESCORT, None, ESCORT_OUT_OF_HOURS))
                break
    return plans
