"""A scenario names the zone whose wall clock the responders' shifts are read on, and its start agrees with it."""

import pytest

from simulator.dispatch_model import DispatchModel
from simulator.scenario import ScenarioError, load, parse
from tests.simulator.scenes import small

START = 'start = "2026-11-20T23:00:00+01:00"'


def test_the_zone_is_europe_amsterdam_unless_given() -> None:
    assert parse(small(), "s.toml").timezone == "Europe/Amsterdam"
    assert load("leiden-night").timezone == "Europe/Amsterdam"


def test_a_scenario_gives_its_zone_and_the_dispatch_model_reads_shifts_on_it() -> None:
    text = small().replace(START, 'start = "2026-11-20T17:00:00-05:00"\ntimezone = "America/New_York"', 1)
    sc = parse(text, "ny.toml")
    assert sc.timezone == "America/New_York"
    assert DispatchModel(sc.timezone).state.policy.timezone == "America/New_York"


def test_a_summer_start_carries_the_summer_offset() -> None:
    assert parse(small().replace(START, 'start = "2026-07-03T23:00:00+02:00"', 1), "s.toml").utc_offset_min == 120


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('timezone = "Leiden"', "timezone: no time zone 'Leiden'"),
        ("timezone = 1", "timezone: expected text"),
        # The going-out hours are read off the start's wall clock: it must be the zone's.
        ('start = "2026-07-03T23:00:00+01:00"', "start: 2026-07-03T23:00:00+01:00 is 2026-07-04T00:00:00+02:00"),
    ],
)
def test_a_zone_that_is_unknown_or_disagrees_with_the_start_is_refused(line: str, message: str) -> None:
    text = small().replace(START, f"{START}\n{line}" if line.startswith("timezone") else line, 1)
    with pytest.raises(ScenarioError) as err:
        parse(text, "bad.toml")
    assert message in str(err.value)
