"""The plan for an incident waiting for someone (assignment.py), each rule exactly at its limit: which states are
planned, the nearest offered first, the offer timeout run from the last offer, a decline answered at once, and the
broadcast and escalation levels with the policy's limits and defaults."""

import pytest

from basestation.dispatch.core.assignment import (
    Plan,
    Policy,
    Responder,
    plan,
)
from basestation.dispatch.core.geo import distance_m
from basestation.dispatch.core.incidents import Incident, Kind, State
from tests.dispatch.assignment_cases import FAR, HERE, HOUR_MS, MIDDLE, NEAR, T0, incident, responder

# -- plan: states ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("state", [State.ACCEPTED, State.ON_THE_WAY, State.RESOLVED, State.CANCELLED])
def test_an_incident_someone_took_or_that_ended_is_not_planned(state: State) -> None:
    inc = incident(state=state, escalation=1)
    assert plan(inc, [responder("anna")], T0 + 10 * HOUR_MS, 0, Policy(), set()) == Plan([], 1)


@pytest.mark.parametrize("state", [State.OPEN, State.OFFERED, State.ESCALATED])
def test_an_incident_waiting_for_someone_is_offered(state: State) -> None:
    assert plan(incident(state=state), [responder("anna")], T0, 0, Policy(), set()) == Plan(["anna"], 0)


# -- plan: the offer timeout -----------------------------------------------------------------------------------


def _waiting() -> tuple[Incident, list[Responder]]:
    inc = incident(state=State.OFFERED, offered_to=["anna"])
    return inc, [responder("anna", NEAR), responder("bram", MIDDLE), responder("cas", FAR)]


def test_a_fresh_alarm_is_offered_to_the_nearest_only() -> None:
    assert plan(
        incident(), [responder("cas", FAR), responder("anna", NEAR), responder("bram", MIDDLE)], T0, 0, Policy(), set()
    ) == Plan(["bram"], 0)


def test_an_unanswered_offer_waits_until_the_timeout() -> None:
    inc, rs = _waiting()
    assert plan(inc, rs, T0 + 29_999, T0, Policy(), set()) == Plan([], 0)


def test_at_the_timeout_exactly_the_next_nearest_is_offered() -> None:
    inc, rs = _waiting()
    assert plan(inc, rs, T0 + 30_000, T0, Policy(), set()) == Plan(["bram"], 0)


def test_the_timeout_runs_from_the_last_offer_not_from_the_alarm() -> None:
    inc, rs = _waiting()
    assert plan(inc, rs, T0 + 40_000, T0 + 20_000, Policy(), set()) == Plan([], 0)
    assert plan(inc, rs, T0 + 50_000, T0 + 20_000, Policy(), set()) == Plan(["bram"], 0)


def test_the_timeout_is_the_policys() -> None:
    inc, rs = _waiting()
    policy = Policy(offer_timeout_ms=5_000)
    assert plan(inc, rs, T0 + 4_999, T0, policy, set()) == Plan([], 0)
    assert plan(inc, rs, T0 + 5_000, T0, policy, set()) == Plan(["bram"], 0)


def test_a_decline_is_answered_at_once_by_the_next_offer() -> None:
    inc, rs = _waiting()
    inc.declined_by.append("anna")
    assert plan(inc, rs, T0 + 1, T0, Policy(), set()) == Plan(["bram"], 0)


def test_one_declined_of_two_offered_still_waits_for_the_other() -> None:
    inc, rs = _waiting()
    inc.offered_to.append("bram")
    inc.declined_by.append("anna")
    assert plan(inc, rs, T0 + 1_000, T0, Policy(), set()) == Plan([], 0)


def test_with_nobody_left_to_offer_the_plan_is_empty() -> None:
    inc, rs = _waiting()
    assert plan(inc, rs[:1], T0 + 60_000, T0, Policy(), set()) == Plan([], 0)


# -- plan: broadcast and escalation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("age_ms", "level"),
    [
        (0, 0),
        (89_999, 0),
        (90_000, 1),  # broadcast_after: everyone within the radius
        (179_999, 1),
        (180_000, 2),  # escalate_after: the operators too
        (10 * HOUR_MS, 2),
    ],
)
@pytest.mark.parametrize("kind", [Kind.SOS, Kind.ESCORT])
def test_the_level_rises_exactly_at_each_limit(age_ms: int, level: int, kind: Kind) -> None:
    inc = incident(kind, State.OFFERED, offered_to=["anna"])
    assert plan(inc, [responder("anna")], T0 + age_ms, T0 + age_ms, Policy(), set()).escalate_to == level


def test_the_limits_are_the_policys() -> None:
    policy = Policy(broadcast_after_ms=1_000, escalate_after_ms=2_000)
    assert plan(incident(), [], T0 + 999, 0, policy, set()).escalate_to == 0
    assert plan(incident(), [], T0 + 1_000, 0, policy, set()).escalate_to == 1
    assert plan(incident(), [], T0 + 1_999, 0, policy, set()).escalate_to == 1
    assert plan(incident(), [], T0 + 2_000, 0, policy, set()).escalate_to == 2


@pytest.mark.parametrize("level", [1, 2])
def test_a_level_already_reached_is_never_lowered(level: int) -> None:
    # An operator's or a duress's escalation at once, whatever the age.
    assert plan(incident(escalation=level), [], T0, 0, Policy(), set()).escalate_to == level


def test_a_broadcast_offers_everyone_in_the_radius_at_once_and_the_unlocated_too() -> None:
    rs = [responder("near", NEAR), responder("middle", MIDDLE), responder("far", FAR), responder("unknown", None)]
    got = plan(incident(), rs, T0 + 90_000, T0 + 89_000, Policy(), set())
    assert got == Plan(["middle", "near", "unknown"], 1)


def test_a_broadcast_does_not_wait_for_the_offer_timeout() -> None:
    inc = incident(state=State.OFFERED, offered_to=["anna"])
    rs = [responder("anna", NEAR), responder("bram", MIDDLE)]
    assert plan(inc, rs, T0 + 90_000, T0 + 89_999, Policy(), set()) == Plan(["bram"], 1)


def test_the_broadcast_radius_includes_its_edge() -> None:
    edge = distance_m(*HERE, *FAR)
    rs = [responder("far", FAR)]
    assert plan(incident(), rs, T0 + 90_000, 0, Policy(broadcast_radius_m=edge), set()) == Plan(["far"], 1)
    # A millimetre short of it, the responder is out.
    assert plan(incident(), rs, T0 + 90_000, 0, Policy(broadcast_radius_m=edge - 0.001), set()) == Plan([], 1)


def test_an_unlocated_alarm_is_broadcast_to_everyone_available() -> None:
    rs = [responder("near", NEAR), responder("far", FAR)]
    assert plan(incident(at=None), rs, T0 + 90_000, 0, Policy(), set()) == Plan(["near", "far"], 1)


def test_the_policy_defaults_are_the_documented_ones() -> None:
    # docs/dispatch.md: offer for 30 s, broadcast within 2 km after 90 s, escalate after 3 minutes, Amsterdam.
    assert Policy() == Policy(30_000, 90_000, 2_000.0, 180_000, "Europe/Amsterdam")
