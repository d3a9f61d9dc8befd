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


@pytest.mark.parametrize(
    ("counter", "state", "seq", "eta"),
    [
        (1, "received", 0, 0),
        ((1 << 20) - 1, "closed", 7, 0),  # the last counter the search reaches
        (1 << 20, "unavailable", 1, 0),  # the first one it does not
        (3_000_000, "help_on_the_way", 2, 12),
        (0xFFFFFFFF, "closed", 255, 0),
    ],
)
def test_ack_decode_honours_counter(counter: int, state: str, seq: int, eta: int) -> None:
    code, out = _run(
        "frame", "ack", "--key", KEY, "--counter", str(counter), "--state", state, "--seq", str(seq), "--eta", str(eta)
    )
    assert code == 0, out
    frame = out.strip()
    code, out = _run("frame", "decode", "--key", KEY, "--counter", str(counter), frame)
    assert code == 0, out
    assert json.loads(out) == {"type": "ack", "counter": counter, "state": state, "seq": seq, "eta_min": eta or None}
    # The given counter is the one tried: another is refused, not searched around.
    code, out = _run(
        "frame", "decode", "--key", KEY, "--counter", str(counter + 1 if counter < 2**32 - 1 else 1), frame
    )
    assert (code, json.loads(out)["error"]) == (2, "unknown_device")


def test_ack_above_the_search_needs_its_counter() -> None:
    _, out = _run("frame", "ack", "--key", KEY, "--counter", str(1 << 20), "--state", "received")
    code, out = _run("frame", "decode", "--key", KEY, out.strip())
    assert code == 2
    assert json.loads(out)["error"] == "unknown_device"
    assert "--counter" in json.loads(out)["detail"]


@pytest.mark.parametrize("counter", ["0", str(1 << 32)])
def test_decode_refuses_a_counter_no_frame_can_have(counter: str) -> None:
    res = runner.invoke(app, ["frame", "decode", "--key", KEY, "--counter", counter, "10" + "00" * 23])
    assert res.exit_code == 2
    assert res.exception is None or isinstance(res.exception, SystemExit)


_, _UP = _run("frame", "encode", "--key", KEY, "--device-id", "5", "--counter", "7", "--event", "sos")
_, _ACK = _run("frame", "ack", "--key", KEY, "--counter", "7", "--state", "received")
UP_HEX, ACK_HEX = _UP.strip(), _ACK.strip()


@pytest.mark.parametrize(
    ("frame", "extra", "reason"),
    [
        ("12" + UP_HEX[2:], [], "version"),
        ("12" + ACK_HEX[2:], [], "version"),
        ("12" + UP_HEX[2:], ["--counter", "7"], "version"),
        ("12" + ACK_HEX[2:], ["--counter", "7"], "version"),
        ("12", [], "version"),
        ("00" + UP_HEX[2:] + "00", [], "version"),
        ("", [], "length"),
        ("", ["--counter", "7"], "length"),
        ("10", [], "length"),
        ("11", [], "length"),
        ("11", ["--counter", "7"], "length"),
        ("10" + ACK_HEX[2:], [], "length"),  # an uplink's byte 0 on an ACK's length
        ("11" + UP_HEX[2:], [], "length"),  # and the other way round
        (ACK_HEX[:-2], ["--counter", "7"], "length"),
        (ACK_HEX + "00", [], "length"),
    ],
)
def test_decode_reports_version_before_length(frame: str, extra: list[str], reason: str) -> None:
    code, out = _run("frame", "decode", "--key", KEY, *extra, frame)
    assert (code, json.loads(out)["error"]) == (2, reason)


@pytest.mark.parametrize("state", ["closed", "unavailable"])
def test_ack_encodes_the_new_states(state: str) -> None:
    code, out = _run("frame", "ack", "--key", KEY, "--counter", "9", "--state", state, "--seq", "3")
    assert code == 0, out
    code, out = _run("frame", "decode", "--key", KEY, out.strip())
    assert (code, json.loads(out)["state"], json.loads(out)["seq"]) == (0, state, 3)
