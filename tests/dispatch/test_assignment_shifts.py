"""Shifts and the zone clock that reads them (assignment.py): a shift as milliseconds into the local day, none
meaning any time, one clock shared by each zone, and the zone's offset in whole milliseconds, kept only for the
minute it was asked in."""

from datetime import UTC, datetime

import pytest

from basestation.dispatch.core.assignment import (
    DAY_MS,
    MINUTE_MS,
    LocalClock,
    in_shift,
    local_clock,
    shift_bounds,
)
from tests.dispatch.assignment_cases import HOUR_MS, T0

AMS = "Europe/Amsterdam"


def _utc_ms(y: int, mo: int, d: int, hh: int, mm: int = 0, ss: int = 0) -> int:
    return int(datetime(y, mo, d, hh, mm, ss, tzinfo=UTC).timestamp() * 1000)


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
