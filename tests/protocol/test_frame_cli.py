"""`nightwatch frame encode/decode/ack`, run as the operator runs it."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nightwatch.cli import app

KEY = "000102030405060708090a0b0c0d0e0f"
OTHER = "ffeeddccbbaa99887766554433221100"
runner = CliRunner()


def _run(*args: str) -> tuple[int, str]:
    res = runner.invoke(app, list(args))
    return res.exit_code, res.stdout


@pytest.mark.parametrize(
    ("event", "extra", "expect"),
    [
        ("sos", ["--battery", "64"], {"event": "sos", "battery": 64}),
        ("escort", [], {"event": "escort", "battery": None}),
        ("cancel", ["--cancels", "99990"], {"event": "cancel", "cancels": 99990}),
        ("duress", ["--cancels", "99998"], {"event": "duress", "cancels": 99998}),
        ("heartbeat", ["--period", "60"], {"event": "heartbeat", "heartbeat_min": 60}),
        ("low_battery", ["--battery", "7", "--period", "60"], {"event": "low_battery", "battery": 7}),
        ("test", ["--ack-requested"], {"event": "test", "ack_requested": True}),
    ],
)
def test_encode_then_decode_from_the_key_alone(event: str, extra: list[str], expect: dict[str, object]) -> None:
    code, out = _run(
        "frame",
        "encode",
        "--key",
        KEY,
        "--device-id",
        "31337",
        "--counter",
        "99999",
        "--event",
        event,
        *extra,
    )
    assert code == 0, out
    frame = out.strip()
    assert len(bytes.fromhex(frame)) == 24
    code, out = _run("frame", "decode", "--key", KEY, frame)
    assert code == 0, out
    got = json.loads(out)
    assert got["counter"] == 99999
    assert got["device_id"] == 31337
    assert expect.items() <= got.items()


def test_decode_with_the_wrong_key_or_device_is_a_json_error() -> None:
    _, out = _run("frame", "encode", "--key", KEY, "--device-id", "5", "--counter", "7", "--event", "sos")
    frame = out.strip()
    code, out = _run("frame", "decode", "--key", OTHER, frame)
    assert (code, json.loads(out)["error"]) == (2, "unknown_device")
    code, out = _run("frame", "decode", "--key", KEY, "--device-id", "6", frame)
    assert (code, json.loads(out)["error"]) == (2, "device")
    code, out = _run("frame", "decode", "--key", KEY, frame[:-2] + ("00" if frame[-2:] != "00" else "01"))
    assert (code, json.loads(out)["error"]) == (2, "mic")
    code, out = _run("frame", "decode", "--key", KEY, frame[:-4])
    assert (code, json.loads(out)["error"]) == (2, "length")
    code, out = _run("frame", "decode", "--key", KEY, "zz")
    assert (code, json.loads(out)["error"]) == (2, "hex")


def test_ack_encode_and_decode() -> None:
    code, out = _run("frame", "ack", "--key", KEY, "--counter", "4242", "--state", "help_on_the_way", "--eta", "3")
    assert code == 0
    code, out = _run("frame", "decode", "--key", KEY, out.strip())
    assert code == 0
    assert json.loads(out) == {
        "type": "ack",
        "counter": 4242,
        "state": "help_on_the_way",
        "seq": 0,
        "eta_min": 3,
    }


def test_bad_arguments_are_refused_without_echoing_the_key() -> None:
    res = runner.invoke(
        app, ["frame", "encode", "--key", "abc", "--device-id", "1", "--counter", "1", "--event", "sos"]
    )
    assert res.exit_code != 0
    code, _ = _run("frame", "encode", "--key", KEY, "--device-id", "1", "--counter", "1", "--event", "cancel")
    assert code != 0
    code, _ = _run("frame", "encode", "--key", KEY, "--device-id", "1", "--counter", "1", "--event", "panic")
    assert code != 0


def test_console_script_exits_2_on_a_bad_frame() -> None:
    exe = Path(sys.executable).with_name("nightwatch")
    proc = subprocess.run(
        [str(exe), "frame", "decode", "--key", KEY, "10" + "00" * 23],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert json.loads(proc.stdout)["error"] in ("unknown_device", "mic")
