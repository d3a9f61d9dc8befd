"""`nightwatch keyring run` and `nightwatch provision`, through the real command line."""

import json
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from firmware.config import parse
from nightwatch.cli import app

KEY = "000102030405060708090a0b0c0d0e0f"
EXAMPLE = "down@1000,up@3500,ack-received@5200,ack-help@9000,battery-12@60000,powercut@70000,end@120000"

runner = CliRunner()


def _lines(output: str) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in output.splitlines() if line.strip()]


@pytest.mark.micropython
def test_keyring_run_under_micropython_frames_decode_with_frame_cli() -> None:
    r = runner.invoke(app, ["keyring", "run", "--key", KEY, "--device-id", "42", "--timeline", EXAMPLE])
    assert r.exit_code == 0, r.output
    lines = _lines(r.output)
    summary = lines[-1]
    assert summary["kind"] == "summary" and summary["runtime"] == "micropython"
    assert summary["pattern_to_first_frame_ms"] and max(summary["pattern_to_first_frame_ms"]) <= 10
    assert summary["peak_heap_alarm"] - summary["heap_after_boot"] <= 32 * 1024
    radios = [x for x in lines if x["kind"] == "radio"]
    assert {x["radio"] for x in radios} == {"ble", "lora"}
    events = []
    for x in radios:
        d = runner.invoke(app, ["frame", "decode", x["frame"], "--key", KEY, "--device-id", "42"])
        assert d.exit_code == 0, d.output
        events.append(json.loads(d.output)["event"])
    assert "sos" in events and "heartbeat" in events and "low_battery" in events
    kinds = {x["kind"] for x in lines}
    assert {"led", "vibe", "buzzer", "sleep", "downlink", "powercut", "boot"} <= kinds


def test_keyring_run_cpython_runtime_and_timeline_file(tmp_path: Path) -> None:
    spec = tmp_path / "walk.txt"
    spec.write_text("# a walk home\npress-2500@1000\nack-received@4000\nend@30000\n")
    r = runner.invoke(
        app, ["keyring", "run", "--key", KEY, "--device-id", "7", "--timeline", str(spec), "--runtime", "cpython"]
    )
    assert r.exit_code == 0, r.output
    lines = _lines(r.output)
    assert lines[-1]["runtime"] == "cpython"
    assert [x["value"] for x in lines if x["kind"] == "ack"] == [1]


def test_keyring_run_rejects_a_bad_timeline() -> None:
    r = runner.invoke(app, ["keyring", "run", "--key", KEY, "--device-id", "1", "--timeline", "down@soon"])
    assert r.exit_code == 2 and "bad time" in r.output


def test_keyring_run_rejects_a_bad_key_without_echoing_it() -> None:
    bad = "zz" * 16
    r = runner.invoke(app, ["keyring", "run", "--key", bad, "--device-id", "1", "--timeline", "end@10"])
    assert r.exit_code != 0 and bad not in r.output


def test_provision_writes_a_private_config_and_prints_the_record(tmp_path: Path) -> None:
    out = tmp_path / "ring.json"
    r = runner.invoke(app, ["provision", "--device-id", "31337", "--out", str(out), "--counter-start", "5"])
    assert r.exit_code == 0, r.output
    record = json.loads(r.output)
    assert record["device_id"] == 31337 and record["counter_start"] == 5 and len(record["root_key"]) == 32
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    cfg = parse(out.read_text())
    assert cfg.device_id == 31337 and cfg.root_key.hex() == record["root_key"] and cfg.counter_start == 5
    assert record["root_key"] not in repr(cfg)
    # A second run does not overwrite the identity by accident, and a forced one makes a new key.
    again = runner.invoke(app, ["provision", "--device-id", "31337", "--out", str(out)])
    assert again.exit_code != 0
    forced = runner.invoke(app, ["provision", "--device-id", "31337", "--out", str(out), "--force"])
    assert forced.exit_code == 0 and json.loads(forced.output)["root_key"] != record["root_key"]


@pytest.mark.micropython
def test_a_long_inline_timeline_runs_under_micropython() -> None:
    # Hundreds of presses inline: far longer than a file name may be, which once aborted the interpreter.
    presses = ",".join(f"down@{t},up@{t + 150}" for t in range(10_000, 610_000, 2_000))
    r = runner.invoke(app, ["keyring", "run", "--key", KEY, "--device-id", "7", "--timeline", presses + ",end@700000"])
    assert r.exit_code == 0, r.output
    assert _lines(r.output)[-1]["kind"] == "summary"
