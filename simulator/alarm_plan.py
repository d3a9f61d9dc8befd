"""One person's alarm in the plan: when they press, what kind, and what they do after (simulator/acts.py)."""

from dataclasses import dataclass

SOS, ESCORT = "sos", "escort"
DURESS, CANCEL = "duress", "cancel"

# What a press is, for the report: the act of the person who made it.
PLAIN_SOS = "sos"
FALSE_ALARM = "false_alarm"  # an SOS the wearer cancels within the cancel window
LATE_CANCEL = "late_cancel"  # an SOS the wearer cancels after it
SOS_THEN_DURESS = "sos_then_duress"  # an SOS followed by the duress word ...
DURESS_WORD = "duress"  # ... and that word, a press of its own
AGAIN_WHILE_OPEN = "again_while_open"  # an SOS held again while help comes
AGAIN_AFTER_CLOSE = "again_after_close"  # an SOS held again after the alarm was resolved
PLAIN_ESCORT = "escort"  # an escort while the night patrol is on shift
ESCORT_OUT_OF_HOURS = "escort_out_of_hours"  # ... while no patrol responder is
ACTS = (
    PLAIN_SOS,
    FALSE_ALARM,
    LATE_CANCEL,
    SOS_THEN_DURESS,
    DURESS_WORD,
    AGAIN_WHILE_OPEN,
    AGAIN_AFTER_CLOSE,
    PLAIN_ESCORT,
    ESCORT_OUT_OF_HOURS,
)

# Presses that follow another press of the same ring (the rest are each ring's first).
FOLLOW_UPS = (DURESS_WORD, AGAIN_WHILE_OPEN, AGAIN_AFTER_CLOSE)


@dataclass(frozen=True, slots=True)
class AlarmPlan:
    ring: int
    at_ms: int  # when the wearer starts the gesture
    kind: str  # sos | escort
    cancel_at_ms: int | None  # when the wearer starts the cancel word: a false alarm, or a late cancel
    act: str = ""  # one of ACTS, set by acts.plan_acts
    duress_at_ms: int | None = None  # when the wearer starts the duress word
    again_at_ms: int | None = None  # when the wearer holds SOS again, while help comes
    again_after_close_ms: int | None = None  # how long after the alarm's resolve the wearer holds SOS again


def first_act(plan: AlarmPlan) -> str:
    """The act of the plan's first press: a second press is an act of its own, its first hold a plain SOS."""
    return PLAIN_SOS if plan.act in (AGAIN_WHILE_OPEN, AGAIN_AFTER_CLOSE) else plan.act


def planned_presses(plans: list[AlarmPlan]) -> dict[str, int]:
    """Presses the plan asks for, by act (a second press after the close only happens if the alarm is resolved)."""
    out = dict.fromkeys(ACTS, 0)
    for p in plans:
        out[first_act(p)] += 1
        if p.duress_at_ms is not None:
            out[DURESS_WORD] += 1
        if p.again_at_ms is not None:
            out[AGAIN_WHILE_OPEN] += 1
        if p.again_after_close_ms is not None:
            out[AGAIN_AFTER_CLOSE] += 1
    return {k: v for k, v in out.items() if v}
