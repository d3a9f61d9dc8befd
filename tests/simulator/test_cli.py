"""`nightwatch sim`: one command for both clocks; a virtual-time run prints the verdict and writes the report, and a
bad scenario or broker is refused before anything starts."""

from pathlib import Path

from typer.testing import CliRunner

from simulator.cli import sim_app
from tests.simulator.scenes import small

# Typer prints errors in a rich panel as wide as the terminal: wide enough that no message wraps.
WIDE = {"COLUMNS": "1000"}


def test_run_prints_the_verdict_and_writes_the_report(tmp_path: Path) -> None:
    scenario = tmp_path / "small.toml"
    scenario.write_text(small(rings=100, hours=0.5, sos=6.0), encoding="utf-8")
    res = CliRunner().invoke(sim_app, ["run", str(scenario), "--out", str(tmp_path / "out"), "--no-plots"])
    assert res.exit_code == 0, res.output
    assert "recognised SOS to screen p95" in res.output and "presses that reached a person" in res.output
    assert {p.name for p in (tmp_path / "out").iterdir()} == {"summary.json", "summary.md"}


def test_a_bad_scenario_is_refused_naming_the_field(tmp_path: Path) -> None:
    scenario = tmp_path / "bad.toml"
    scenario.write_text(small().replace("count = 200", "count = -5"), encoding="utf-8")
    for command in ("run", "live"):
        res = CliRunner().invoke(sim_app, [command, str(scenario)], env=WIDE)
        assert res.exit_code == 2 and "rings.count: -5 is outside" in res.output


def test_live_refuses_an_unknown_broker() -> None:
    res = CliRunner().invoke(sim_app, ["live", "demo-leiden", "--broker", "nats"], env=WIDE)
    assert res.exit_code == 2 and "mosquitto or amqtt" in res.output
