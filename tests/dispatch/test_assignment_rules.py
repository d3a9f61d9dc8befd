"""Who is offered an alarm (assignment.py), at the edges of each rule: on duty, busy and on shift; escorts for the
patrol only; nobody offered twice or after a "no"; nearest first and unknown positions last; the offer timeout,
the broadcast and the escalation each exactly at their limit; and the zone clock that reads shifts."""

from datetime import UTC, datetime
from typing import Any

import pytest

from basestation.dispatch.core.assignment import (
    DAY_MS,
    MINUTE_MS,
    LocalClock,
    Plan,
    Policy,
    Responder,
    available,
    in_shift,
    local_clock,
    plan,
    ranked,
    shift_bounds,
    suits,
)
from basestation.dispatch.core.geo import distance_m
from basestation.dispatch.core.incidents import Incident, Kind, State

AMS = "Europe/Amsterdam"
T0 = 1_800_000_000_000  # 2027-01-15 08:00 UTC, 09:00 in Amsterdam
HOUR_MS = 3_600_000

# Leiden: the alarm at the Breestraat, responders at growing distances from it.
HERE = (52.1589, 4.4894)
NEAR = (52.1592, 4.4940)  # ~320 m
MIDDLE = (52.1575, 4.4856)  # ~300 m the other way, so ordering is by distance, not by list position
FAR = (52.1400, 4.5200)  # ~3 km: outside the default broadcast radius


def _utc_ms(y: int, mo: int, d: int, hh: int, mm: int = 0, ss: int = 0) -> int:
    return int(datetime(y, mo, d, hh, mm, ss, tzinfo=UTC).timestamp() * 1000)


def _r(rid: str, at: tuple[float, float] | None = NEAR, **kw: Any) -> Responder:
    lat, lon = at if at is not None else (None, None)
    fields: dict[str, Any] = {"skills": ["patrol"], "on_duty": True, **kw}
    return Responder(rid, rid.title(), lat=lat, lon=lon, **fields)


def _inc(
    kind: Kind = Kind.SOS, state: State = State.OPEN, at: tuple[float, float] | None = HERE, **kw: Any
) -> Incident:
    lat, lon = at if at is not None else (None, None)
    return Incident("7-1", 7, 1, kind, state, T0, T0, lat=lat, lon=lon, **kw)


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
    r = _r("anna", on_duty=on_duty, shift=shift)
    assert available(r, T0, Policy(), {"anna"} if busy else {"someone-else"}) is want


def test_shifts_are_read_in_the_policys_zone() -> None:
    # 09:00 in Amsterdam is 03:00 in New York: a 02:00-04:00 shift there is on, here it is not.
    r = _r("anna", shift="02:00-04:00")
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
    assert suits(_r("anna", skills=skills), _inc(kind)) is want


# -- ranked ----------------------------------------------------------------------------------------------------


def test_ranked_is_nearest_first_with_the_distance() -> None:
    far, near, middle = _r("far", FAR), _r("near", NEAR), _r("middle", MIDDLE)
    out = ranked(_inc(), [far, near, middle], T0, Policy(), set())
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
    unknown = _r("unknown", responder_at)
    far = _r("far", FAR)
    out = ranked(_inc(at=incident_at), [unknown, far], T0, Policy(), set())
    assert out[-1][0] == float("inf")
    if incident_at is not None:
        assert [r.id for _, r in out] == ["far", "unknown"]


@pytest.mark.parametrize("missing", ["responder_lat", "responder_lon", "incident_lat", "incident_lon"])
def test_half_a_position_is_an_unknown_position(missing: str) -> None:
    r = _r("anna", NEAR)
    inc = _inc()
    who, coordinate = missing.split("_")
    setattr(r if who == "responder" else inc, coordinate, None)
    [(d, _)] = ranked(inc, [r], T0, Policy(), set())
    assert d == float("inf")


def test_with_no_positions_at_all_the_order_given_is_kept() -> None:
    rs = [_r(n, None) for n in ("cas", "anna", "bram")]
    assert [r.id for _, r in ranked(_inc(at=None), rs, T0, Policy(), set())] == ["cas", "anna", "bram"]


def test_ranked_leaves_out_whoever_was_offered_declined_unsuitable_or_unavailable() -> None:
    rs = [
        _r("offered"),
        _r("declined"),
        _r("no_patrol", skills=["first_aid"]),
        _r("off_duty", on_duty=False),
        _r("busy"),
        _r("off_shift", shift="22:00-06:00"),
        _r("left", FAR),
    ]
    inc = _inc(Kind.ESCORT, offered_to=["offered"], declined_by=["declined"])
    assert [r.id for _, r in ranked(inc, rs, T0, Policy(), {"busy"})] == ["left"]


def test_a_responder_who_declined_without_being_offered_is_still_left_out() -> None:
    # An operator's assignment that was declined: never offered by the plan, and never offered again.
    inc = _inc(declined_by=["anna"])
    assert ranked(inc, [_r("anna")], T0, Policy(), set()) == []


# -- plan: states ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("state", [State.ACCEPTED, State.ON_THE_WAY, State.RESOLVED, State.CANCELLED])
def test_an_incident_someone_took_or_that_ended_is_not_planned(state: State) -> None:
    inc = _inc(state=state, escalation=1)
    assert plan(inc, [_r("anna")], T0 + 10 * HOUR_MS, 0, Policy(), set()) == Plan([], 1)


@pytest.mark.parametrize("state", [State.OPEN, State.OFFERED, State.ESCALATED])
def test_an_incident_waiting_for_someone_is_offered(state: State) -> None:
    assert plan(_inc(state=state), [_r("anna")], T0, 0, Policy(), set()) == Plan(["anna"], 0)


# -- plan: the offer timeout -----------------------------------------------------------------------------------


def _waiting() -> tuple[Incident, list[Responder]]:
    inc = _inc(state=State.OFFERED, offered_to=["anna"])
    return inc, [_r("anna", NEAR), _r("bram", MIDDLE), _r("cas", FAR)]


def test_a_fresh_alarm_is_offered_to_the_nearest_only() -> None:
    assert plan(_inc(), [_r("cas", FAR), _r("anna", NEAR), _r("bram", MIDDLE)], T0, 0, Policy(), set()) == Plan(
        ["bram"], 0
    )


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
    inc = _inc(kind, State.OFFERED, offered_to=["anna"])
    assert plan(inc, [_r("anna")], T0 + age_ms, T0 + age_ms, Policy(), set()).escalate_to == level


def test_the_limits_are_the_policys() -> None:
    policy = Policy(broadcast_after_ms=1_000, escalate_after_ms=2_000)
    assert plan(_inc(), [], T0 + 999, 0, policy, set()).escalate_to == 0
    assert plan(_inc(), [], T0 + 1_000, 0, policy, set()).escalate_to == 1
    assert plan(_inc(), [], T0 + 1_999, 0, policy, set()).escalate_to == 1
    assert plan(_inc(), [], T0 + 2_000, 0, policy, set()).escalate_to == 2


@pytest.mark.parametrize("level", [1, 2])
def test_a_level_already_reached_is_never_lowered(level: int) -> None:
    # An operator's or a duress's escalation at once, whatever the age.
    assert plan(_inc(escalation=level), [], T0, 0, Policy(), set()).escalate_to == level


def test_a_broadcast_offers_everyone_in_the_radius_at_once_and_the_unlocated_too() -> None:
    rs = [_r("near", NEAR), _r("middle", MIDDLE), _r("far", FAR), _r("unknown", None)]
    got = plan(_inc(), rs, T0 + 90_000, T0 + 89_000, Policy(), set())
    assert got == Plan(["middle", "near", "unknown"], 1)


def test_a_broadcast_does_not_wait_for_the_offer_timeout() -> None:
    inc = _inc(state=State.OFFERED, offered_to=["anna"])
    rs = [_r("anna", NEAR), _r("bram", MIDDLE)]
    assert plan(inc, rs, T0 + 90_000, T0 + 89_999, Policy(), set()) == Plan(["bram"], 1)


def test_the_broadcast_radius_includes_its_edge() -> None:
    edge = distance_m(*HERE, *FAR)
    rs = [_r("far", FAR)]
    assert plan(_inc(), rs, T0 + 90_000, 0, Policy(broadcast_radius_m=edge), set()) == Plan(["far"], 1)
    # A millimetre short of it, the responder is out.
    assert plan(_inc(), rs, T0 + 90_000, 0, Policy(broadcast_radius_m=edge - 0.001), set()) == Plan([], 1)


def test_an_unlocated_alarm_is_broadcast_to_everyone_available() -> None:
    rs = [_r("near", NEAR), _r("far", FAR)]
    assert plan(_inc(at=None), rs, T0 + 90_000, 0, Policy(), set()) == Plan(["near", "far"], 1)


def test_the_policy_defaults_are_the_documented_ones() -> None:
    # docs/dispatch.md: offer for 30 s, broadcast within 2 km after 90 s, escalate after 3 minutes, Amsterdam.
    assert Policy() == Policy(30_000, 90_000, 2_000.0, 180_000, "Europe/Amsterdam")


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


# -- shifts and the zone clock ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shift", "bounds"),
    [
        ("01:00-05:00", (3_600_000, 18_000_000)),
        ("22:00-06:00", (79_200_000, 21_600_000)),
        ("00:00-23:59", (0, 86_340_000)),
        # Seconds and fractions count too, to the millisecond (a microsecond part is cut, not rounded).
        ("01:02:03-04:05:06", (3_723_000, 14_706_000)),
        ("01:02:03.500-04:05:06.123456", (3_723_500, 14_706_123)),
        ("00:00:00.999999-00:00:01", (999, 1_000)),
    ],
)
def test_a_shift_is_read_as_milliseconds_into_the_local_day(shift: str, bounds: tuple[int, int]) -> None:
    # Parsed shifts are cached for the process: read this one afresh.
    shift_bounds.cache_clear()
    got = shift_bounds(shift)
    assert got == bounds
    assert all(type(b) is int for b in got)


@pytest.mark.parametrize("shift", [None, ""])
def test_no_shift_means_any_time(shift: str | None) -> None:
    assert all(in_shift(shift, T0 + i * 7 * HOUR_MS, AMS) for i in range(4))


def test_a_shift_that_starts_where_it_ends_is_never_on() -> None:
    assert not any(in_shift("09:00-09:00", T0 + i * MINUTE_MS, AMS) for i in range(-90, 90, 7))


def test_each_zone_has_one_shared_clock() -> None:
    assert local_clock(AMS) is local_clock(AMS)
    assert local_clock("UTC") is not local_clock(AMS)
    assert local_clock("Asia/Kathmandu").zone.key == "Asia/Kathmandu"


def test_an_unknown_zone_has_no_clock() -> None:
    with pytest.raises(Exception, match="Mars"):
        local_clock("Mars/Olympus_Mons")


@pytest.mark.parametrize(
    ("at", "offset"),
    [
        (_utc_ms(2026, 12, 3, 12), HOUR_MS),  # CET
        (_utc_ms(2026, 7, 3, 12), 2 * HOUR_MS),  # CEST
        (_utc_ms(2026, 3, 29, 0, 59, 59) + 999, HOUR_MS),  # the last millisecond of winter time
        (_utc_ms(2026, 3, 29, 1), 2 * HOUR_MS),
        (0, HOUR_MS),  # 1970: Amsterdam was on CET
    ],
)
def test_the_offset_is_the_zones_in_whole_milliseconds(at: int, offset: int) -> None:
    clock = LocalClock(AMS)
    assert clock.offset_ms(at) == offset
    assert type(clock.offset_ms(at)) is int
    day = clock.day_ms(at)
    assert day == (at + offset) % DAY_MS
    assert type(day) is int


def test_a_new_clock_reads_the_first_minute_of_1970_too() -> None:
    # What a new clock holds must not pass for something it was asked: the first minute of the epoch included.
    assert LocalClock(AMS).day_ms(0) == HOUR_MS
    assert LocalClock(AMS).day_ms(59_999) == HOUR_MS + 59_999
    assert LocalClock("UTC").day_ms(59_999) == 59_999


# The clock keeps the offset of the minute it was last asked in, so that a plan with fifty responders asks
# zoneinfo once, not fifty times (LocalClock's docstring): what it keeps is part of how it works.


@pytest.mark.parametrize(
    ("at", "offset"),
    [
        (_utc_ms(2026, 12, 3, 12, 30, 17) + 250, HOUR_MS),
        (_utc_ms(2026, 7, 3, 12, 30, 17) + 250, 2 * HOUR_MS),
        # The minute before summer time starts: it ends on winter time, so it is kept.
        (_utc_ms(2026, 3, 29, 0, 59, 30), HOUR_MS),
        # The minute summer time starts in: it begins on summer time.
        (_utc_ms(2026, 3, 29, 1, 0, 30), 2 * HOUR_MS),
    ],
)
def test_the_offset_is_kept_for_the_minute_it_was_asked_in(at: int, offset: int) -> None:
    clock = LocalClock(AMS)
    clock.day_ms(at)
    assert clock._kept == (at // MINUTE_MS, offset)
    assert type(clock._kept[0]) is int
    # Another instant of the same minute is answered from what was kept.
    other = at - at % MINUTE_MS + 59_999
    assert clock.day_ms(other) == (other + offset) % DAY_MS
    assert clock._kept == (at // MINUTE_MS, offset)


def test_a_minute_whose_two_ends_differ_is_not_kept() -> None:
    # Amsterdam's change of 30 June 1937 fell at 22:40:28 UTC, inside a minute.
    change = int(datetime(1937, 6, 30, 22, 40, 28, tzinfo=UTC).timestamp() * 1000)
    clock = LocalClock(AMS)
    clock.day_ms(T0)
    kept = clock._kept
    clock.day_ms(change)
    assert clock._kept == kept
