"""Shifts: a responder is offered alarms only inside their shift, on the shift's local clock, midnight wraps
included."""

from datetime import UTC, datetime, time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from basestation.dispatch.assignment import in_shift

WINTER = 60  # Europe/Amsterdam's offset from UTC in winter, in minutes


def _utc_ms(hh: int, mm: int, ss: int = 0, ms: int = 0) -> int:
    """A moment on 3 December 2026 (UTC)."""
    return int(datetime(2026, 12, 3, hh, mm, ss, ms * 1000, tzinfo=UTC).timestamp() * 1000)


@pytest.mark.parametrize(
    ("shift", "utc", "inside"),
    [
        (None, (12, 0), True),
        ("", (12, 0), True),
        ("01:00-05:00", (0, 0), True),  # 01:00 local: the night patrol starts
        ("01:00-05:00", (23, 59, 59, 999), False),  # 00:59:59.999 local
        ("01:00-05:00", (3, 59, 59, 999), True),
        ("01:00-05:00", (4, 0), False),  # 05:00 local: over
        ("22:00-06:00", (20, 59), False),
        ("22:00-06:00", (21, 0), True),  # 22:00 local
        ("22:00-06:00", (23, 30), True),  # past midnight, local
        ("22:00-06:00", (4, 59), True),
        ("22:00-06:00", (5, 0), False),  # 06:00 local
    ],
)
def test_shift_table(shift: str | None, utc: tuple[int, ...], inside: bool) -> None:
    assert in_shift(shift, _utc_ms(*utc), WINTER) is inside


def _by_the_clock(shift: str, now_ms: int, offset_min: int) -> bool:
    """The definition: the local time of day, read off a clock, inside [start, end), wrapping midnight."""
    start_s, _, end_s = shift.partition("-")
    start, end = time.fromisoformat(start_s), time.fromisoformat(end_s)
    local = datetime.fromtimestamp(now_ms / 1000 + offset_min * 60, tz=UTC).time()
    return start <= local < end if start <= end else local >= start or local < end


hhmm = st.builds(lambda h, m: f"{h:02d}:{m:02d}", st.integers(0, 23), st.integers(0, 59))


@given(
    start=hhmm,
    end=hhmm,
    now_ms=st.integers(1_500_000_000_000, 2_500_000_000_000),
    offset_min=st.integers(-12 * 60, 14 * 60),
)
def test_shift_matches_the_clock(start: str, end: str, now_ms: int, offset_min: int) -> None:
    shift = f"{start}-{end}"
    assert in_shift(shift, now_ms, offset_min) is _by_the_clock(shift, now_ms, offset_min)
