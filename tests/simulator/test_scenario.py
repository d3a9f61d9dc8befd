"""Scenario files: the shipped ones parse; mistakes give errors that name the field."""

from pathlib import Path

import pytest

from simulator.scenario import SCENARIO_DIR, ScenarioError, load, parse
from tests.simulator.scenes import small

SHIPPED = sorted(p.stem for p in SCENARIO_DIR.glob("*.toml"))


def test_the_issue_scenarios_are_shipped() -> None:
    assert {"leiden-night", "gateway-outage", "broker-outage", "alarm-storm", "replay-attacker"} <= set(SHIPPED)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_scenarios_parse(name: str) -> None:
    sc = load(name)
    assert sc.name == name
    assert sc.centre == pytest.approx((52.1601, 4.4970))
    assert sc.gateways or sc.gateway_grid


def test_leiden_night_has_the_patrol_shift() -> None:
    sc = load("leiden-night")
    assert any(r.shift == "01:00-05:00" and "patrol" in r.skills for r in sc.responders)
    assert sc.utc_offset_min == 60


def test_load_by_path(tmp_path: Path) -> None:
    p = tmp_path / "mine.toml"
    p.write_text(small(), encoding="utf-8")
    assert load(str(p)).name == "test-small"


def test_bad_shift_and_outage() -> None:
    text = small(sos=4).replace('skills = ["first_aid", "patrol"]', 'skills = ["first_aid"]\nshift = "25:00-05:00"')
    with pytest.raises(ScenarioError, match=r"responders\[0\].shift"):
        parse(text)
    text = small(sos=4, extra="[broker]\noutages = [{ start_h = 0.5, end_h = 0.2 }]")
    with pytest.raises(ScenarioError, match="end_h must come after start_h"):
        parse(text)


def test_unknown_scenario_lists_the_shipped_ones() -> None:
    with pytest.raises(ScenarioError, match="leiden-night"):
        load("no-such-city")
