"""Walk me home without a key ring (docs/walk.md), the pure rules as tables and properties: a phone number's one
spelling and what is not one, the patrol's hours on the wall clock or as an operator says, what the person reads
about their request and the time expected, and references short and readable with secrets only kept hashed."""

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from basestation.dispatch.core import walk

ZONE = ZoneInfo("Europe/Amsterdam")


# -- phone numbers -----------------------------------------------------------------------------------------------

SAME_NUMBER = ["+31 6 1234 5678", "+31612345678", "0031 6 12345678", "06-12345678", "(06) 1234.5678", " 0612345678 "]


@pytest.mark.parametrize("spelling", SAME_NUMBER)
def test_one_number_has_one_spelling(spelling: str) -> None:
    assert walk.normalize_phone(spelling) == "+31612345678"


@pytest.mark.parametrize(
    "text", ["", "   ", "call me", "+31 6 1234 567a", "12+345678", "0612", "+1234567890123456", "+0612345678"]
)
def test_what_is_not_a_phone_number_is_refused_with_a_reason(text: str) -> None:
    with pytest.raises(walk.PhoneError) as e:
        walk.normalize_phone(text)
    assert str(e.value)


@given(st.text(alphabet="0123456789+ ()-./x", max_size=40))
def test_normalizing_never_crashes_and_is_idempotent(text: str) -> None:
    try:
        once = walk.normalize_phone(text)
    except walk.PhoneError:
        return
    assert once.startswith("+") and once[1:].isdigit() and walk.normalize_phone(once) == once


# -- hours -----------------------------------------------------------------------------------------------------


def _local(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=ZONE).timestamp() * 1000)


HOURS = [
    # (local time, hours, override, open, why)
    ("2026-12-07T01:30", "01:00-05:00", None, True, "hours"),
    ("2026-12-07T05:00", "01:00-05:00", None, False, "hours"),
    ("2026-12-07T00:59", "01:00-05:00", None, False, "hours"),
    # Summer time: 01:30 on the wall clock is 23:30 UTC, and the page is open then, not an hour later.
    ("2026-07-01T01:30", "01:00-05:00", None, True, "hours"),
    ("2026-07-01T05:30", "01:00-05:00", None, False, "hours"),
    # The night summer time ends, 02:00-03:00 happens twice: open both times.
    ("2026-10-25T02:30", "01:00-05:00", None, True, "hours"),
    ("2026-12-07T23:00", "22:00-02:00", None, True, "hours"),
    ("2026-12-07T12:00", "", None, True, "always"),
    ("2026-12-07T12:00", "01:00-05:00", walk.Override("open"), True, "operator"),
    ("2026-12-07T02:00", "01:00-05:00", walk.Override("closed"), False, "operator"),
    ("2026-12-07T12:00", "01:00-05:00", walk.Override("open", _local("2026-12-07T11:00")), False, "hours"),
    ("2026-12-07T12:00", "01:00-05:00", walk.Override("open", _local("2026-12-07T13:00")), True, "operator"),
]


@pytest.mark.parametrize(("local", "hours", "override", "is_open", "why"), HOURS)
def test_the_page_is_open_in_the_patrols_hours_on_the_wall_clock_or_as_an_operator_says(
    local: str, hours: str, override: walk.Override | None, is_open: bool, why: str
) -> None:
    assert walk.opening(_local(local), hours, "Europe/Amsterdam", override) == walk.Opening(is_open, why)


# -- what the person reads -----------------------------------------------------------------------------------------

BASE = {"opened_ms": 1000, "updated_ms": 2000, "accepted_by": [], "unavailable": False, "eta_min": 0, "arrived_ms": 0}
VIEWS = [
    ({"state": "offered"}, None, None, "looking", True),
    ({"state": "escalated", "unavailable": True}, None, None, "nobody", True),
    ({"state": "accepted", "accepted_by": ["anna"], "eta_min": 5}, "Anna de Vries", 310_000, "coming", True),
    ({"state": "on_the_way", "accepted_by": ["anna"], "arrived_ms": 9}, "Anna de Vries", None, "arrived", True),
    ({"state": "resolved", "accepted_by": ["anna"]}, "Anna de Vries", None, "done", False),
    ({"state": "cancelled"}, None, None, "cancelled", False),
]


@pytest.mark.parametrize(("change", "name", "eta_ms", "status", "can_cancel"), VIEWS)
def test_the_person_reads_where_their_request_is_and_nothing_more(
    change: dict[str, Any], name: str | None, eta_ms: int | None, status: str, can_cancel: bool
) -> None:
    view = walk.person_view({**BASE, **change}, name, eta_ms)
    assert view["status"] == status and view["can_cancel"] == can_cancel
    assert not {"accepted_by", "offered_to", "location", "callback_number", "device_id"} & set(view)
    if status == "coming":
        assert view["responder"] == "Anna"  # a first name only
        assert view["eta_ms"] == 310_000


ETAS = [
    # (their own estimate, accepted at, how far they are, now, expected)
    (5, 10_000, 400.0, 20_000, 310_000),  # their word first
    (0, 10_000, 700.0, 20_000, 20_000 + 650_000),  # else the walk from where they are: 700 m is about 11 min
    (0, 10_000, 0.0, 20_000, 20_000),
    (0, 10_000, None, 20_000, None),  # no position: no time is promised
    (5, None, None, 20_000, None),
]


@pytest.mark.parametrize(("eta_min", "accepted_ms", "far", "now", "expected"), ETAS)
def test_the_time_expected_is_their_word_or_the_walk_and_never_made_up(
    eta_min: int, accepted_ms: int | None, far: float | None, now: int, expected: int | None
) -> None:
    assert walk.expected_ms(eta_min, accepted_ms, far, now) == expected


def test_references_are_short_readable_and_secrets_are_only_kept_hashed() -> None:
    refs = {walk.new_reference() for _ in range(2000)}
    assert len(refs) > 1990
    for ref in refs:
        assert len(ref) == 7 and ref[3] == "-"
        assert set(ref.replace("-", "")) <= set(walk.REFERENCE_ALPHABET)
        assert not set(ref) & set("0O1IL5S8B2Z")
    secret = walk.new_secret()
    assert len(secret) >= 32 and walk.secret_matches(secret, walk.secret_hash(secret))
    assert not walk.secret_matches(secret + "x", walk.secret_hash(secret))
