"""People's acts in virtual time: each happens as the scenario asks, on the real firmware's gestures and the real
dispatch core, and the report's "reached a person" is computed from what happened."""

from collections import Counter

import pytest

from basestation.dispatch.core.effects import Effects
from simulator import reach
from simulator.backend import Backend
from simulator.run import Result, run
from simulator.scenario import parse
from simulator.trace import AlarmTrace
from tests.simulator.scenes import small

# Every genuine SOS does the one act under test; no false alarms unless the case asks for them.
BASE: dict[str, object] = {"false_share": 0.0, "cancel_after_s": (5.0, 20.0)}


def scene(sos: float = 8.0, hours: float = 1.5, shift: str | None = None, **alarms: object) -> str:
    text = small(rings=1500, hours=hours, sos=sos, exact="alarm")
    keys = {**BASE, **alarms}
    lines = "\n".join(f"{k} = {v!r}".replace("(", "[").replace(")", "]") for k, v in keys.items())
    text = text.replace("false_share = 0.3\ncancel_after_s = [5, 20]\n", lines + "\n")
    if shift is not None:
        text = text.replace('skills = ["first_aid", "patrol"]', f'skills = ["first_aid", "patrol"]\nshift = "{shift}"')
        text = text.replace('skills = ["patrol", "first_aid"]', f'skills = ["patrol", "first_aid"]\nshift = "{shift}"')
    return text


def acts(r: Result) -> Counter[str]:
    return Counter(t.act for t in r.engine.traces)


def log(r: Result, t: AlarmTrace) -> list[reach.Entry]:
    assert t.incident_id is not None
    return r.engine.backend.logs.entries[t.incident_id]


def kinds(r: Result, t: AlarmTrace) -> list[str]:
    return [e.kind for e in log(r, t)]


@pytest.fixture(scope="module")
def duress() -> Result:
    return run(parse(scene(duress_share=1.0, duress_after_s=(5.0, 30.0))))


@pytest.fixture(scope="module")
def late() -> Result:
    return run(parse(scene(late_cancel_share=1.0, late_cancel_after_s=(150.0, 300.0))))


@pytest.fixture(scope="module")
def again() -> Result:
    return run(parse(scene(again_share=1.0, again_after_min=(2.0, 4.0))))


@pytest.fixture(scope="module")
def after_close() -> Result:
    # Responders resolve after 10 minutes (scenes.small); the second hold comes 1-2 minutes after that.
    return run(parse(scene(again_after_close_share=1.0, again_after_close_min=(1.0, 2.0), hours=2.0)))


@pytest.mark.parametrize(
    ("name", "first", "second"),
    [
        ("duress", "sos_then_duress", "duress"),
        ("late", "late_cancel", None),
        ("again", "sos", "again_while_open"),
        ("after_close", "sos", "again_after_close"),
    ],
)
def test_each_act_happens_as_planned(name: str, first: str, second: str | None, request: pytest.FixtureRequest) -> None:
    r: Result = request.getfixturevalue(name)
    planned = r.summary["reach"]["planned"]
    seen = acts(r)
    sos = sum(1 for p in r.engine.world.alarms if p.kind == "sos")
    assert sos >= 4 and planned[first] == sos == seen[first]
    if second is not None:
        # A second press after the close needs the resolve to happen within the run; the rest always happen.
        assert seen[second] >= (planned[second] if second != "again_after_close" else 1)
    assert not r.summary["reach"]["recognised_otherwise"]
    assert r.summary["reach"]["share"] == 1.0


def test_a_duress_is_its_own_press_escalated_at_once_and_looks_like_a_cancel(duress: Result) -> None:
    presses = [t for t in duress.engine.traces if t.act == "duress"]
    assert presses
    for t in presses:
        assert t.kind == "duress" and t.counter
        assert t.shown == ["cancelled"], "the ring shows a cancel, and nothing after it"
        entries = log(duress, t)
        at = next(e.t_ms for e in entries if e.kind == "duress" and e.data["counter"] == t.counter)
        # Escalated to the operators on arrival, unless it already was (nobody could take the SOS).
        escalated = [e.t_ms for e in entries if e.kind == "escalated" and e.data.get("level") == 2]
        assert escalated and min(escalated) <= at
        assert duress.engine.dispatch.state.incidents[t.incident_id or ""].forced


def test_a_late_cancel_keeps_the_incident_open_and_the_press_is_judged(late: Result) -> None:
    rows = late.summary["reach"]["by_act"]["late_cancel"]
    assert rows["cancelled_in_window"] == 0 and rows["judged"] == rows["presses"] >= 4
    for t in (t for t in late.engine.traces if t.act == "late_cancel"):
        assert t.cancel_pressed_ms is not None and "cancelled" in t.shown
        assert "cancel_after_window" in kinds(late, t) and "cancelled" not in kinds(late, t)


def test_a_second_press_while_help_comes_folds_into_the_open_incident(again: Result) -> None:
    by_ring: dict[int, list[AlarmTrace]] = {}
    for t in again.engine.traces:
        by_ring.setdefault(t.ring, []).append(t)
    for first, second in (ts for ts in by_ring.values() if len(ts) == 2):
        assert second.act == "again_while_open" and second.counter > first.counter
        assert second.incident_id == first.incident_id
        assert any(e.kind == "pressed_again" and e.data["counter"] == second.counter for e in log(again, first))


def test_a_second_press_after_the_close_opens_a_new_incident(after_close: Result) -> None:
    seconds = [t for t in after_close.engine.traces if t.act == "again_after_close"]
    assert seconds
    for t in seconds:
        first = next(f for f in after_close.engine.traces if f.ring == t.ring and f.act == "sos")
        assert "resolved" in kinds(after_close, first) and "closed" in first.shown, "the ring heard it is over"
        assert t.incident_id != first.incident_id and kinds(after_close, t)[0] == "opened"


def test_escorts_nobody_can_take_hear_unavailable_and_still_reach_a_person() -> None:
    # 23:00-00:30 while every responder's shift is 01:00-05:00: nobody can take an escort.
    r = run(parse(scene(sos=0.0, shift="01:00-05:00", escort_out_of_hours_per_hour=12.0)))
    esc = r.summary["reach"]["by_act"]["escort_out_of_hours"]
    assert esc["presses"] >= 8 and "escort" not in r.summary["reach"]["by_act"]
    assert esc["shown"]["unavailable"] == esc["presses"] - esc["never_heard"]
    assert r.summary["reach"]["escorts_out_of_hours"]["share"] == 1.0
    assert esc["share"] == 1.0 and esc["how"] == {"escalated": esc["reached"]}
    for t in r.engine.traces:
        assert any(e.kind == "unavailable" for e in log(r, t))


def test_presses_cancelled_within_the_window_are_not_judged() -> None:
    r = run(parse(scene(false_share=1.0, cancel_after_s=(5.0, 20.0))))
    rows = r.summary["reach"]["by_act"]["false_alarm"]
    assert rows["presses"] >= 4 and rows["cancelled_in_window"] == rows["presses"] and rows["judged"] == 0
    assert r.summary["reach"]["share"] == (None if not r.summary["reach"]["judged"] else 1.0)


def test_a_dispatch_that_neither_offers_nor_escalates_counts_as_not_reached(monkeypatch: pytest.MonkeyPatch) -> None:
    """Broken on purpose: offers and escalations never make it into the incident log. Then no press reached a
    person, and each is listed with why."""
    taken = Backend._effects

    def forgetful(self: Backend, eff: Effects, t: float) -> None:
        eff.durable[:] = [d for d in eff.durable if getattr(d, "kind", "") not in ("offered", "escalated", "accepted")]
        taken(self, eff, t)

    monkeypatch.setattr(Backend, "_effects", forgetful)
    r = run(parse(scene(sos=6.0, hours=1.0)))
    s = r.summary["reach"]
    assert s["judged"] >= 3 and s["reached"] == 0 and s["share"] == 0.0
    assert len(s["not_reached"]) == s["judged"]
    assert all("offered to nobody" in x["why"] for x in s["not_reached"])
