"""The "reached a person" judgement (simulator/reach.py) on hand-written incident logs, and the acts' settings."""

from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator import reach
from simulator.reach import Entry, Logs, Press, judge
from simulator.scenario import ScenarioError, parse
from tests.simulator.scenes import small

TIMEOUT = 30_000.0
END = 3_600_000.0


def press(counter: int = 5, heard: float | None = 1000.0, act: str = "sos", shown: tuple[str, ...] = ()) -> Press:
    return Press(1, 2, counter, "sos", act, 0.0, heard, shown)


def logs(*rows: tuple[str, float, str, Mapping[str, Any]]) -> Logs:
    out = Logs()
    for incident, t, kind, data in rows:
        out.add(incident, Entry(t, kind, dict(data)))
    return out


OPENED = ("2-5", 1000.0, "opened", {"kind": "sos"})


@pytest.mark.parametrize(
    ("case", "p", "log", "verdict", "how"),
    [
        ("offered on arrival", press(), logs(OPENED, ("2-5", 1000.0, "offered", {})), reach.REACHED, "offered"),
        (
            "escalated within the timeout",
            press(),
            logs(OPENED, ("2-5", 30_000.0, "escalated", {"level": 2})),
            "reached",
            "escalated",
        ),
        (
            "a broadcast is not the operators",
            press(),
            logs(OPENED, ("2-5", 2000.0, "escalated", {"level": 1})),
            "not_reached",
            "",
        ),
        ("offered only after the timeout", press(), logs(OPENED, ("2-5", 31_001.0, "offered", {})), "not_reached", ""),
        ("nothing at all", press(), logs(OPENED), "not_reached", ""),
        (
            "folded into an incident accepted before",
            press(counter=9),
            logs(OPENED, ("2-5", 2000.0, "accepted", {}), ("2-5", 400_000.0, "pressed_again", {"counter": 9})),
            "reached",
            "accepted",
        ),
        (
            "a duress of an incident nobody was offered",
            press(counter=7),
            logs(OPENED, ("2-5", 9000.0, "duress", {"counter": 7}), ("2-5", 9000.0, "escalated", {"level": 2})),
            "reached",
            "escalated",
        ),
        (
            "cancelled within the window",
            press(),
            logs(OPENED, ("2-5", 5000.0, "cancelled", {"by": "wearer"})),
            "cancelled_in_window",
            "",
        ),
        ("never heard", press(heard=None), logs(), "never_heard", ""),
        ("heard, held by nothing", press(), logs(), "not_reached", ""),
        ("never put on air", press(counter=0, heard=None), logs(OPENED), "never_heard", ""),
        ("timeout after the run", press(), logs(("2-5", END - 10.0, "opened", {})), "run_ended", ""),
    ],
)
def test_judge(case: str, p: Press, log: Logs, verdict: str, how: str) -> None:
    v = judge(p, log, TIMEOUT, END)
    assert (v.verdict, v.how) == (verdict, how), case
    if verdict == "not_reached":
        assert v.why


@given(
    arrived=st.floats(0, 1e6),
    offers=st.lists(st.tuples(st.floats(0, 2e6), st.sampled_from(["offered", "accepted", "escalated", "located"]))),
)
def test_reached_iff_a_person_by_the_timeout(arrived: float, offers: list[tuple[float, str]]) -> None:
    log = logs(("2-5", arrived, "opened", {}), *(("2-5", t, k, {"level": 2}) for t, k in offers))
    v = judge(press(), log, TIMEOUT, 1e9)
    expect = any(k != "located" and t <= arrived + TIMEOUT for t, k in offers)
    assert (v.verdict == reach.REACHED) == expect


def test_the_share_counts_what_was_judged() -> None:
    log = logs(OPENED, ("2-5", 1000.0, "offered", {}), ("2-6", 1000.0, "opened", {}))
    vs = [
        judge(press(5, shown=("received", "help")), log, TIMEOUT, END),
        judge(press(6, act="escort_out_of_hours", shown=("unavailable",)), log, TIMEOUT, END),
        judge(press(8, heard=None, act="escort_out_of_hours"), log, TIMEOUT, END),
    ]
    s = reach.summarise(vs, TIMEOUT, "escort_out_of_hours")
    assert (s["judged"], s["reached"], s["share"], s["never_heard"]) == (2, 1, 0.5, 1)
    assert s["escorts_out_of_hours"] == {"heard_by_dispatch": 1, "heard_unavailable": 1, "share": 1.0}
    assert [x["counter"] for x in s["not_reached"]] == [6]
    assert s["by_act"]["sos"]["shown"]["help"] == 1 and s["by_act"]["escort_out_of_hours"]["shown"]["nothing"] == 1


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("again_shar = 0.1", "unknown key(s) again_shar"),
        ("duress_share = 0.6\nlate_cancel_share = 0.6", "add up to more than 1"),
        ("late_cancel_after_s = [60, 300]", "alarms.late_cancel_after_s: must start after"),
        ("again_after_min = [5, 2]", "alarms.again_after_min: expected [low, high]"),
        ("escort_out_of_hours_per_hour = -1", "alarms.escort_out_of_hours_per_hour"),
    ],
)
def test_bad_acts_name_the_field(extra: str, message: str) -> None:
    text = small().replace("cancel_after_s = [5, 20]", "cancel_after_s = [5, 20]\n" + extra)
    with pytest.raises(ScenarioError, match=message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        parse(text)
