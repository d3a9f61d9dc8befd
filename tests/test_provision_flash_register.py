"""`nightwatch provision --register/--flash`: a ring registered at the real dispatch service and written onto the
ring, each apart and in one step, and every way either fails explained without the key.

Dispatch is the real app served over HTTP. Only mpremote, at the edge to the hardware, is a fake: a script on PATH
that records what it was asked to do.
"""

import asyncio
import json
import os
import stat
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from basestation.dispatch import ring_label
from basestation.dispatch.api.app import create_app
from basestation.dispatch.service import Dispatcher
from basestation.dispatch.settings import DispatchSettings
from firmware.config import parse
from harness.dispatch import served
from harness.ports import free_port
from nightwatch import provisioning
from tests.provision_cli import KEY, invoke, last_json, read_label, said

PROVISION = "provision-test-provisioner-token"
RESPONDER = "provision-test-responder-token"


# -- mpremote, faked at the hardware edge ----------------------------------------------------------------------------

FAKE_MPREMOTE = """#!{python}
# A fake mpremote for tests: records its arguments and the files it was given, and fails when told to.
import json
import os
import sys

args = sys.argv[1:]
copied = {{}}
for i, arg in enumerate(args):
    if arg == "cp":
        local, remote = args[i + 1], args[i + 2]
        with open(local) as f:
            copied[remote] = [f.read(), oct(os.stat(local).st_mode & 0o777)]
with open(os.environ["FAKE_MPREMOTE_LOG"], "w") as f:
    json.dump({{"argv": args, "copied": copied}}, f)
if os.environ.get("FAKE_MPREMOTE_FAIL"):
    # A device that echoes what it got is the worst case: the key must still not reach the error.
    print("mpremote: failed to access " + args[1] + " (it may be in use by another program)", file=sys.stderr)
    print("echo: " + json.dumps(copied), file=sys.stderr)
    sys.exit(1)
"""


@dataclass
class FakeMpremote:
    log: Path

    def calls(self) -> dict[str, Any]:
        found: dict[str, Any] = json.loads(self.log.read_text())
        return found


@pytest.fixture
def fake_mpremote(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeMpremote:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    exe = bindir / "mpremote"
    exe.write_text(FAKE_MPREMOTE.format(python=sys.executable))
    exe.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    log = tmp_path / "mpremote.log"
    monkeypatch.setenv("FAKE_MPREMOTE_LOG", str(log))
    monkeypatch.delenv("FAKE_MPREMOTE_FAIL", raising=False)
    return FakeMpremote(log)


def test_flash_copies_the_config_file_and_resets_the_ring(tmp_path: Path, fake_mpremote: FakeMpremote) -> None:
    out = tmp_path / "ring.json"
    r = invoke("--device-id", "4242", "--out", str(out), "--counter-start", "9", "--flash", "/dev/ttyUSB9")
    assert r.exit_code == 0, r.output
    printed = last_json(r.output)
    assert printed["flashed"] == "/dev/ttyUSB9" and printed["counter_start"] == 9
    calls = fake_mpremote.calls()
    argv = calls["argv"]
    assert argv[:3] == ["connect", "/dev/ttyUSB9", "fs"]
    assert argv[3:4] == ["cp"] and argv[5:] == [":/nightwatch.json", "+", "reset"]
    # The ring got what the file on the host holds, from a private copy that is gone again.
    content, mode = calls["copied"][":/nightwatch.json"]
    assert content == out.read_text() and mode == "0o600" and not Path(argv[4]).exists()
    key = json.loads(content)["root_key"]
    assert key == printed["root_key"] and not any(key in a for a in argv)
    cfg = parse(content)
    assert (cfg.device_id, cfg.counter_start) == (4242, 9)


def test_a_failing_mpremote_is_a_clear_error(
    tmp_path: Path, fake_mpremote: FakeMpremote, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_MPREMOTE_FAIL", "1")
    out = tmp_path / "ring.json"
    r = invoke("--device-id", "4242", "--out", str(out), "--flash", "/dev/ttyUSB9")
    assert r.exit_code == 1
    assert "mpremote failed on /dev/ttyUSB9 (exit 1)" in r.output and "in use by another program" in r.output
    assert "is not registered" in r.output and f"fs cp {out} :/nightwatch.json" in r.output
    key = json.loads(out.read_text())["root_key"]
    assert key not in r.output and "<hidden>" in r.output


def test_without_mpremote_nothing_is_made(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    out = tmp_path / "ring.json"
    r = invoke("--device-id", "1", "--out", str(out), "--flash", "/dev/ttyUSB0")
    assert r.exit_code == 2 and "mpremote is missing" in said(r) and not out.exists()


@pytest.mark.parametrize("port", ["", "-x"])
def test_a_port_that_is_no_port_is_refused(port: str, fake_mpremote: FakeMpremote) -> None:
    with pytest.raises(provisioning.FlashError, match="not a serial port"):
        provisioning.flash(port, {"/nightwatch.json": b"{}"})
    assert not fake_mpremote.log.exists()


# -- dispatch, the real service ----------------------------------------------------------------------------------


@dataclass
class Served:
    base: str
    d: Dispatcher
    loop: asyncio.AbstractEventLoop

    def window(self, device_id: int) -> tuple[bytes, int, int] | None:
        return asyncio.run_coroutine_threadsafe(self.d.store.device_window(device_id), self.loop).result(10)


@pytest.fixture(scope="module")
def dispatch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    db = tmp_path_factory.mktemp("provision") / "d.db"
    settings = DispatchSettings(
        database_url=f"sqlite+aiosqlite:///{db}",
        tokens={PROVISION: "provisioning", RESPONDER: "responder:anna"},
    )
    d = Dispatcher(settings)
    with served(create_app(d)) as (base, loop):
        yield Served(base, d, loop)


def test_register_puts_the_ring_at_dispatch_with_its_counter_start(tmp_path: Path, dispatch: Served) -> None:
    out = tmp_path / "ring.json"
    r = invoke(
        "--device-id", "7001", "--out", str(out), "--counter-start", "5000", "--label", "desk 3",
        "--register", dispatch.base + "/", env={provisioning.TOKEN_ENV: PROVISION},
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    key = json.loads(out.read_text())["root_key"]
    printed = last_json(r.output)
    # Dispatch and the file have the key: it is not printed.
    assert printed == {
        "device_id": 7001,
        "counter_start": 5000,
        "label": "desk 3",
        "registered": dispatch.base + "/api/v1/devices",
    }
    assert key not in r.output and PROVISION not in r.output
    window = dispatch.window(7001)
    assert window is not None
    assert window[0].hex() == key and window[1] == 4999  # dispatch looks for the ring's frames from 5000 on
    assert dispatch.d.state.resolver.replay_state(7001)[0] == 4999

    again = invoke("--device-id", "7001", "--out", str(tmp_path / "again.json"), "--register", dispatch.base,
                   "--token", PROVISION)  # fmt: skip
    assert again.exit_code == 1
    assert "ring 7001 is already registered at dispatch (409)" in again.output
    assert "DELETE /api/v1/devices/7001" in again.output
    assert PROVISION not in again.output
    assert json.loads((tmp_path / "again.json").read_text())["root_key"] not in again.output
    assert dispatch.window(7001) == window  # the first registration stands


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("not-a-token-of-this-service", "dispatch refused the token (401)"),
        (RESPONDER, "the token may not register rings (403): it needs the provisioning (or operator) role"),
    ],
)
def test_a_token_dispatch_refuses(tmp_path: Path, dispatch: Served, token: str, message: str) -> None:
    out = tmp_path / "ring.json"
    r = invoke("--device-id", "7002", "--out", str(out), "--register", dispatch.base, "--token", token)
    assert r.exit_code == 1 and message in r.output, r.output
    assert token not in r.output and json.loads(out.read_text())["root_key"] not in r.output
    assert "nothing was flashed" in r.output
    assert dispatch.window(7002) is None


def test_a_record_dispatch_refuses_is_explained_without_its_key(dispatch: Served) -> None:
    # Neither can come from the command line, which checks both first; dispatch's 422 echoes what it got.
    short_key = provisioning.Record(7003, bytes(range(15)))
    with pytest.raises(provisioning.RegisterError) as e:
        provisioning.register(dispatch.base, PROVISION, short_key)
    assert "(422)" in str(e.value) and "root_key" in str(e.value) and bytes(range(15)).hex() not in str(e.value)
    long_label = provisioning.Record(7003, KEY, label="x" * 121)
    with pytest.raises(provisioning.RegisterError, match=r"\(422\).*label"):
        provisioning.register(dispatch.base, PROVISION, long_label)
    assert dispatch.window(7003) is None


def test_dispatch_not_listening(tmp_path: Path) -> None:
    base = f"http://127.0.0.1:{free_port()}"
    r = invoke("--device-id", "1", "--out", str(tmp_path / "r.json"), "--register", base, "--token", PROVISION)
    assert r.exit_code == 1
    assert f"cannot reach dispatch at {base}/api/v1/devices: connection refused" in r.output
    assert PROVISION not in r.output


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--register", "http://127.0.0.1:9"], {}, "a provisioning token is needed"),
        (["--register", "127.0.0.1:8080", "--token", "t"], {}, "http:// or https://"),
    ],
)
def test_register_is_refused_before_a_key_is_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], env: dict[str, str], message: str
) -> None:
    monkeypatch.delenv(provisioning.TOKEN_ENV, raising=False)
    out = tmp_path / "ring.json"
    r = invoke("--device-id", "1", "--out", str(out), *args, env=env)
    assert r.exit_code == 2 and message in said(r) and not out.exists()


def test_register_flash_and_label_in_one_step(tmp_path: Path, dispatch: Served, fake_mpremote: FakeMpremote) -> None:
    out, label = tmp_path / "ring.json", tmp_path / "label.pdf"
    r = invoke(
        "--device-id", "7004", "--out", str(out), "--counter-start", "40", "--register", dispatch.base,
        "--flash", "/dev/ttyACM0", "--label-out", str(label), env={provisioning.TOKEN_ENV: PROVISION},
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    printed = last_json(r.output)
    assert printed["registered"].startswith(dispatch.base) and printed["flashed"] == "/dev/ttyACM0"
    key = json.loads(out.read_text())["root_key"]
    assert fake_mpremote.calls()["copied"][":/nightwatch.json"][0] == out.read_text()
    window = dispatch.window(7004)
    assert window is not None and window[0].hex() == key and window[1] == 39
    assert ring_label.parse(read_label(label.read_bytes()).qr[0]) == 7004
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


def test_flash_failing_after_registration_says_the_ring_is_registered(
    tmp_path: Path, dispatch: Served, fake_mpremote: FakeMpremote, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_MPREMOTE_FAIL", "1")
    out, label = tmp_path / "ring.json", tmp_path / "label.pdf"
    r = invoke(
        "--device-id", "7005", "--out", str(out), "--register", dispatch.base, "--token", PROVISION,
        "--flash", "/dev/ttyACM0", "--label-out", str(label),
    )  # fmt: skip
    assert r.exit_code == 1
    assert "Ring 7005 is registered" in r.output and f"mpremote connect /dev/ttyACM0 fs cp {out}" in r.output
    assert dispatch.window(7005) is not None and not label.exists()
