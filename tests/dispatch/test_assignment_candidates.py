"""Who may be offered an alarm (assignment.py), at the edges of each rule: on duty, busy and on shift, read in the
policy's zone; escorts for the patrol only; nearest first, unknown positions last and half a position unknown;
nobody offered twice or after a "no"; and the responder's document."""

import pytest

from basestation.dispatch.core.assignment import (
    Policy,
    Responder,
    available,
    ranked,
    suits,
)
from basestation.dispatch.core.geo import distance_m
from basestation.dispatch.core.incidents import Kind
from tests.dispatch.assignment_cases import FAR, HERE, MIDDLE, NEAR, T0, incident, responder

# -- available and suits ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("on_duty", "busy", "shift", "want"),
    [
        (True, False, None, True),
        (False, False, None, False),  # off duty
        (True, True, None, False),  # already holding an accepted alarm
        (True, False, "08:00-10:00", True),  # 09:00 local: on shift
        (True, False, "09:00-10:00", True),  # the shift's first instant counts
        (True, False, "07:00-09:00", False),  # its end does not
        (False, False, "08:00-10:00", False),
        (True, True, "08:00-10:00", False),
    ],
)
def test_available_means_on_duty_not_busy_and_on_shift(
    on_duty: bool, busy: bool, shift: str | None, want: bool
) -> None:
    r = responder("anna", on_duty=on_duty, shift=shift)
    assert available(r, T0, Policy(), {"anna"} if busy else {"someone-else"}) is want


def test_shifts_are_read_in_the_policys_zone() -> None:
    # 09:00 in Amsterdam is 03:00 in New York: a 02:00-04:00 shift there is on, here it is not.
    r = responder("anna", shift="02:00-04:00")
    assert available(r, T0, Policy(timezone="America/New_York"), set())
    assert not available(r, T0, Policy(), set())


@pytest.mark.parametrize(
    ("kind", "skills", "want"),
    [
        (Kind.SOS, [], True),
        (Kind.SOS, ["first_aid"], True),
        (Kind.SOS, ["patrol"], True),
        (Kind.ESCORT, [], False),
        (Kind.ESCORT, ["first_aid", "security"], False),
        (Kind.ESCORT, ["patrol"], True),
        (Kind.ESCORT, ["first_aid", "patrol"], True),
    ],
)
def test_an_escort_goes_to_the_patrol_only_an_sos_to_anyone(kind: Kind, skills: list[str], want: bool) -> None:
    assert suits(responder("anna", skills=skills), incident(kind)) is want


# -- ranked ----------------------------------------------------------------------------------------------------


def test_ranked_is_nearest_first_with_the_distance() -> None:
    far, near, middle = responder("far", FAR), responder("near", NEAR), responder("middle", MIDDLE)
    out = ranked(incident(), [far, near, middle], T0, Policy(), set())
    assert [r.id for _, r in out] == ["middle", "near", "far"]
    assert [d for d, _ in out] == [distance_m(*HERE, *p) for p in (MIDDLE, NEAR, FAR)]


@pytest.mark.parametrize(
    ("responder_at", "incident_at"),
    [
        (None, HERE),  # the responder never shared a position
        (HERE, None),  # the alarm is not located yet
        (None, None),
    ],
)
def test_an_unknown_distance_ranks_last(
    responder_at: tuple[float, float] | None, incident_at: tuple[float, float] | None
) -> None:
    unknown = responder("unknown", responder_at)
    far = responder("far", FAR)
    out = ranked(incident(at=incident_at), [unknown, far], T0, Policy(), set())
    assert out[-1][0] == float("inf")
    if incident_at is not None:
        assert [r.id for _, r in out] == ["far", "unknown"]


@pytest.mark.parametrize("missing", ["responder_lat", "responder_lon", "incident_lat", "incident_lon"])
def test_half_a_position_is_an_unknown_position(missing: str) -> None:
    r = responder("anna", NEAR)
    inc = incident()
    who, coordinate = missing.split("_")
    setattr(r if who == "responder" else inc, coordinate, None)
    [(d, _)] = ranked(inc, [r], T0, Policy(), set())
    assert d == float("inf")


def test_with_no_positions_at_all_the_order_given_is_kept() -> None:
    rs = [responder(n, None) for n in ("cas", "anna", "bram")]
    assert [r.id for _, r in ranked(incident(at=None), rs, T0, Policy(), set())] == ["cas", "anna", "bram"]


def test_ranked_leaves_out_whoever_was_offered_declined_unsuitable_or_unavailable() -> None:
    rs = [
        responder("offered"),
        responder("declined"),
        responder("no_patrol", skills=["first_aid"]),
        responder("off_duty", on_duty=False),
        responder("busy"),
        responder("off_shift", shift="22:00-06:00"),
        responder("left", FAR),
    ]
    inc = incident(Kind.ESCORT, offered_to=["offered"], declined_by=["declined"])
    assert [r.id for _, r in ranked(inc, rs, T0, Policy(), {"busy"})] == ["left"]


def test_a_responder_who_declined_without_being_offered_is_still_left_out() -> None:
    # An operator's assignment that was declined: never offered by the plan, and never offered again.
    inc = incident(declined_by=["anna"])
    assert ranked(inc, [responder("anna")], T0, Policy(), set()) == []


# -- the responder's document ----------------------------------------------------------------------------------


def test_a_responder_document_with_a_position() -> None:
    r = Responder("anna", "Anna", "en", ["patrol", "first_aid"], True, 52.1, 4.4, "01:00-05:00", 12_345, "noord")
    assert r.to_dict() == {
        "id": "anna",
        "name": "Anna",
        "language": "en",
        "skills": ["patrol", "first_aid"],
        "on_duty": True,
        "shift": "01:00-05:00",
        "team": "noord",
        "position": {"lat": 52.1, "lon": 4.4, "at_ms": 12_345},
    }


def test_a_responder_document_without_a_position() -> None:
    doc = Responder("bram", "Bram").to_dict()
    assert doc == {
        "id": "bram",
        "name": "Bram",
        "language": "nl",
        "skills": [],
        "on_duty": False,
        "shift": None,
        "team": None,
        "position": None,
    }


def test_a_responder_document_is_a_copy() -> None:
    r = Responder("anna", "Anna", skills=["patrol"])
    doc = r.to_dict()
    r.skills.append("first_aid")
    assert doc["skills"] == ["patrol"]
