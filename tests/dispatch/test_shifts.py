"""Shifts: a responder is offered alarms only inside their shift, read on the wall clock of the configured zone
(summer time included), midnight wraps included. On the night summer time starts a 01:00-05:00 shift lasts three
hours, on the night it ends five: it covers the instants whose wall clock reads inside it."""

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from basestation.dispatch.core.assignment import LocalClock, Policy, Responder, available, in_shift, plan
from basestation.dispatch.core.incidents import Incident, Kind, State
from basestation.dispatch.service import Dispatcher
from basestation.dispatch.settings import DispatchSettings

AMS = "Europe/Amsterdam"
MINUTE_MS = 60_000


def _utc_ms(y: int, mo: int, d: int, hh: int, mm: int = 0, ss: int = 0, ms: int = 0) -> int:
    return int(datetime(y, mo, d, hh, mm, ss, ms * 1000, tzinfo=UTC).timestamp() * 1000)


# The night summer time starts: 2026-03-29 01:00 UTC, local 02:00 CET becomes 03:00 CEST.
# The night it ends: 2026-10-25 01:00 UTC, local 03:00 CEST becomes 02:00 CET, and 02:00-03:00 comes twice.
@pytest.mark.parametrize(
    ("shift", "utc", "inside"),
    [
        (None, (2026, 12, 3, 12, 0), True),
        ("", (2026, 12, 3, 12, 0), True),
        # Winter, UTC+1.
        ("01:00-05:00", (2026, 12, 3, 0, 0), True),  # 01:00 local: the night patrol starts
        ("01:00-05:00", (2026, 12, 2, 23, 59, 59, 999), False),  # 00:59:59.999 local
        ("01:00-05:00", (2026, 12, 3, 3, 59, 59, 999), True),
        ("01:00-05:00", (2026, 12, 3, 4, 0), False),  # 05:00 local: over
        ("22:00-06:00", (2026, 12, 3, 20, 59), False),
        ("22:00-06:00", (2026, 12, 3, 21, 0), True),  # 22:00 local
        ("22:00-06:00", (2026, 12, 3, 23, 30), True),  # past midnight, local
        ("22:00-06:00", (2026, 12, 3, 4, 59), True),
        ("22:00-06:00", (2026, 12, 3, 5, 0), False),  # 06:00 local
        # Summer, UTC+2: the patrol's 01:00-05:00 is 23:00-03:00 UTC, not 00:00-04:00.
        ("01:00-05:00", (2026, 7, 3, 22, 59), False),
        ("01:00-05:00", (2026, 7, 3, 23, 0), True),
        ("01:00-05:00", (2026, 7, 4, 2, 59, 59, 999), True),
        ("01:00-05:00", (2026, 7, 4, 3, 0), False),
        ("22:00-06:00", (2026, 7, 3, 20, 0), True),
        ("22:00-06:00", (2026, 7, 4, 4, 0), False),
        # Spring night: 00:00 UTC is 01:00 CET; at 01:00 UTC the clock reads 03:00 CEST; 05:00 CEST is 03:00 UTC.
        ("01:00-05:00", (2026, 3, 28, 23, 59, 59, 999), False),
        ("01:00-05:00", (2026, 3, 29, 0, 0), True),
        ("01:00-05:00", (2026, 3, 29, 2, 59, 59, 999), True),
        ("01:00-05:00", (2026, 3, 29, 3, 0), False),
        ("02:00-03:00", (2026, 3, 29, 0, 59, 59, 999), False),  # 01:59:59.999 CET
        ("02:00-03:00", (2026, 3, 29, 1, 0), False),  # 03:00 CEST: the hour never was
        ("03:00-04:00", (2026, 3, 29, 1, 0), True),
        ("22:00-06:00", (2026, 3, 28, 21, 0), True),  # 22:00 CET
        ("22:00-06:00", (2026, 3, 29, 3, 59, 59, 999), True),  # 05:59:59.999 CEST
        ("22:00-06:00", (2026, 3, 29, 4, 0), False),
        # Autumn night: 23:00 UTC is 01:00 CEST; 00:00-01:00 UTC is 02:00-03:00 CEST, 01:00-02:00 UTC is
        # 02:00-03:00 CET; 05:00 CET is 04:00 UTC.
        ("01:00-05:00", (2026, 10, 24, 22, 59, 59, 999), False),
        ("01:00-05:00", (2026, 10, 24, 23, 0), True),
        ("01:00-05:00", (2026, 10, 25, 3, 59, 59, 999), True),
        ("01:00-05:00", (2026, 10, 25, 4, 0), False),
        ("02:00-03:00", (2026, 10, 25, 0, 30), True),  # 02:30 CEST
        ("02:00-03:00", (2026, 10, 25, 1, 30), True),  # 02:30 CET, the second time
        ("02:00-03:00", (2026, 10, 25, 2, 0), False),  # 03:00 CET
        ("00:00-02:00", (2026, 10, 25, 0, 0), False),  # 02:00 CEST
        ("22:00-06:00", (2026, 10, 24, 19, 59), False),  # 21:59 CEST
        ("22:00-06:00", (2026, 10, 24, 20, 0), True),  # 22:00 CEST
        ("22:00-06:00", (2026, 10, 25, 4, 59, 59, 999), True),  # 05:59:59.999 CET
        ("22:00-06:00", (2026, 10, 25, 5, 0), False),
    ],
)
def test_shift_table(shift: str | None, utc: tuple[int, ...], inside: bool) -> None:
    assert in_shift(shift, _utc_ms(*utc), AMS) is inside


@pytest.mark.parametrize(
    ("shift", "night", "hours"),
    [
        ("01:00-05:00", (2026, 3, 28), 3),  # spring: 02:00-03:00 never happens
        ("01:00-05:00", (2026, 10, 24), 5),  # autumn: 02:00-03:00 happens twice
        ("01:00-05:00", (2026, 12, 5), 4),
        ("01:00-05:00", (2026, 7, 4), 4),
        ("22:00-06:00", (2026, 3, 28), 7),
        ("22:00-06:00", (2026, 10, 24), 9),
        ("22:00-06:00", (2026, 12, 5), 8),
        ("02:00-03:00", (2026, 3, 28), 0),
        ("02:00-03:00", (2026, 10, 24), 2),
        ("02:30-02:45", (2026, 10, 24), 0.5),
        ("03:00-04:00", (2026, 3, 28), 1),
    ],
)
def test_a_shift_lasts_as_long_as_the_wall_clock_reads_inside_it(
    shift: str, night: tuple[int, int, int], hours: float
) -> None:
    """Every minute from noon to noon, UTC: the minutes inside the shift add up to the real time it lasts."""
    noon = _utc_ms(*night, 12)
    minutes = sum(in_shift(shift, noon + i * MINUTE_MS, AMS) for i in range(24 * 60))
    assert minutes == hours * 60


def _by_the_clock(shift: str, now_ms: int, zone: str) -> bool:
    """The definition, straight from zoneinfo: the instant's wall-clock time of day inside [start, end)."""
    start_s, _, end_s = shift.partition("-")
    start, end = time.fromisoformat(start_s), time.fromisoformat(end_s)
    at = datetime.fromtimestamp(now_ms // 1000, ZoneInfo(zone)).replace(microsecond=now_ms % 1000 * 1000)
    local = at.time()
    return start <= local < end if start <= end else local >= start or local < end


hhmm = st.builds(lambda h, m: f"{h:02d}:{m:02d}", st.integers(0, 23), st.integers(0, 59))
ZONES = [
    AMS,
    "UTC",
    "America/New_York",  # changes at 02:00 local
    "Australia/Sydney",  # southern: summer time across the new year
    "Australia/Lord_Howe",  # summer time of half an hour
    "Asia/Kathmandu",  # +05:45
    "Pacific/Chatham",  # +12:45 / +13:45
    "America/St_Johns",  # -03:30 / -02:30
]
# Changes in 2026 and 2027 in the zones above (UTC): most instants drawn land within hours of one.
CHANGES_MS = [
    _utc_ms(2026, 3, 29, 1),
    _utc_ms(2026, 10, 25, 1),
    _utc_ms(2027, 3, 28, 1),
    _utc_ms(2027, 10, 31, 1),
    _utc_ms(2026, 3, 8, 7),  # New York, spring
    _utc_ms(2026, 11, 1, 6),  # New York, autumn
    _utc_ms(2026, 4, 4, 16),  # Sydney, autumn (03:00 AEDT)
    _utc_ms(2026, 10, 3, 16),  # Sydney, spring (02:00 AEST)
    _utc_ms(2026, 4, 4, 15),  # Lord Howe, 02:00 local
    _utc_ms(2026, 4, 4, 14),  # Chatham, 03:45 local
    _utc_ms(2026, 3, 8, 5, 30),  # St John's
]
near_a_change = st.builds(
    lambda at, off: at + off, st.sampled_from(CHANGES_MS), st.integers(-36 * 3_600_000, 36 * 3_600_000)
)
instants = st.one_of(near_a_change, st.integers(1_500_000_000_000, 2_500_000_000_000))


@given(start=hhmm, end=hhmm, now_ms=instants, zone=st.sampled_from(ZONES))
def test_shift_matches_the_clock(start: str, end: str, now_ms: int, zone: str) -> None:
    shift = f"{start}-{end}"
    assert in_shift(shift, now_ms, zone) is _by_the_clock(shift, now_ms, zone)


@given(start=hhmm, end=hhmm, moments=st.lists(instants, min_size=1, max_size=30), zone=st.sampled_from(ZONES))
def test_what_the_clock_keeps_never_leaks_into_another_minute(
    start: str, end: str, moments: list[int], zone: str
) -> None:
    """One clock asked in any order (back and forth across a change, within a minute and across minutes)."""
    shift, clock = f"{start}-{end}", LocalClock(zone)
    for now_ms in moments:
        for at in (now_ms, now_ms + 1, now_ms - now_ms % MINUTE_MS, now_ms - now_ms % MINUTE_MS - 1):
            want = datetime.fromtimestamp(at // 1000, clock.zone)
            want_ms = ((want.hour * 60 + want.minute) * 60 + want.second) * 1000 + at % 1000
            assert clock.day_ms(at) == want_ms, (zone, at)
        assert in_shift(shift, now_ms, zone) is _by_the_clock(shift, now_ms, zone)


def test_a_change_inside_a_minute() -> None:
    """Amsterdam went from +00:19:32 summer time (+01:19:32) to +00:20 (+01:20) at 22:40:28 UTC on 30 June 1937:
    within the minute each side of the change keeps its own offset."""
    clock = LocalClock(AMS)
    change = int(datetime(1937, 6, 30, 22, 40, 28, tzinfo=UTC).timestamp() * 1000)
    for at in (change - 1, change, change - 28_000, change + 31_999, change - 1):
        want = datetime.fromtimestamp(at // 1000, clock.zone)
        assert clock.day_ms(at) == ((want.hour * 60 + want.minute) * 60 + want.second) * 1000 + at % 1000
    # Local midnight: the clock went from 23:59:59.999 straight to 00:00:28.
    assert (clock.day_ms(change - 1), clock.day_ms(change)) == (86_399_999, 28_000)


# -- availability and offers ---------------------------------------------------------------------------------

NIGHT_ON_SHIFT = _utc_ms(2026, 7, 4, 0, 30)  # 02:30 local in summer
NIGHT_OFF_SHIFT = _utc_ms(2026, 7, 4, 3, 30)  # 05:30 local in summer: the old fixed UTC+1 read 04:30


def _responders() -> list[Responder]:
    # The patrol is nearest to the alarm; the other is on duty at any time, further off.
    return [
        Responder("patrol", "patrol", skills=["patrol"], on_duty=True, lat=52.1590, lon=4.4900, shift="01:00-05:00"),
        Responder("anytime", "anytime", skills=["patrol"], on_duty=True, lat=52.1700, lon=4.5100),
    ]


def _incident(at_ms: int) -> Incident:
    return Incident("7-1", 7, 1, Kind.SOS, State.OPEN, at_ms, at_ms, lat=52.1589, lon=4.4894)


def test_an_on_duty_responder_outside_their_shift_is_not_available() -> None:
    patrol, anytime = _responders()
    policy = Policy()
    assert available(patrol, NIGHT_ON_SHIFT, policy, set())
    assert not available(patrol, NIGHT_OFF_SHIFT, policy, set())
    assert available(anytime, NIGHT_OFF_SHIFT, policy, set())


def test_an_alarm_outside_the_shift_is_offered_to_someone_on_shift_only() -> None:
    policy = Policy()
    assert plan(_incident(NIGHT_ON_SHIFT), _responders(), NIGHT_ON_SHIFT, 0, policy, set()).offer == ["patrol"]
    assert plan(_incident(NIGHT_OFF_SHIFT), _responders(), NIGHT_OFF_SHIFT, 0, policy, set()).offer == ["anytime"]
    alone = _responders()[:1]
    assert plan(_incident(NIGHT_OFF_SHIFT), alone, NIGHT_OFF_SHIFT, 0, policy, set()).offer == []
    # Broadcast too: everyone within the radius, but only those on shift.
    late = NIGHT_OFF_SHIFT + policy.broadcast_after_ms
    assert plan(_incident(NIGHT_OFF_SHIFT), _responders(), late, 0, policy, set()).offer == ["anytime"]


def test_the_policy_reads_shifts_in_its_zone() -> None:
    # 02:30 UTC: in Amsterdam 04:30 in summer (on shift); in New York 22:30 the evening before (off).
    at = _utc_ms(2026, 7, 4, 2, 30)
    patrol = _responders()[0]
    assert available(patrol, at, Policy(timezone=AMS), set())
    assert not available(patrol, at, Policy(timezone="America/New_York"), set())


# -- configuration -------------------------------------------------------------------------------------------


def test_the_zone_is_europe_amsterdam_unless_set() -> None:
    assert DispatchSettings().timezone == AMS
    assert Policy().timezone == AMS


def test_the_service_reads_shifts_in_the_configured_zone() -> None:
    d = Dispatcher(DispatchSettings(timezone="America/New_York"))
    assert d.state.policy.timezone == "America/New_York"


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "europe/amsterdam", "", "../etc/passwd", "Europe", "CET+1"])
def test_an_unknown_zone_is_refused_at_start(zone: str) -> None:
    with pytest.raises(ValidationError, match=r"no time zone .*IANA name such as Europe/Amsterdam"):
        DispatchSettings(timezone=zone)
    with pytest.raises((KeyError, ValueError, OSError)):
        Policy(timezone=zone)


def test_an_unknown_zone_from_the_environment_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NIGHTWATCH_DISPATCH_TIMEZONE", "Amsterdam")
    with pytest.raises(ValidationError, match="timezone"):
        DispatchSettings()
    monkeypatch.setenv("NIGHTWATCH_DISPATCH_TIMEZONE", "Europe/Brussels")
    assert DispatchSettings().timezone == "Europe/Brussels"
