"""Device keys sealed by default: the sealing key file made on first start (mode 0600, never wider, not even for an
instant), read on every start after, refused when others may read it; a database sealed under another key stops
the start. And each replica's own MQTT client id."""

import asyncio
import os
import socket
import stat
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from basestation.dispatch import cli
from basestation.dispatch.io.keystore import KeyStoreError, key_file
from basestation.dispatch.service import Dispatcher
from basestation.dispatch.settings import DispatchSettings
from nightwatch.cli import app as cli_app

ENV = "NIGHTWATCH_DISPATCH_KEY_SEALING_KEY_FILE"


@pytest.fixture
def default_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The default location, not the one tests/conftest.py gives every other test; run from an empty directory."""
    monkeypatch.delenv(ENV, raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)


def _url(db: Path) -> str:
    return f"sqlite+aiosqlite:///{db}"


@pytest.mark.usefixtures("default_file")
def test_the_first_start_makes_the_key_beside_the_database_with_mode_0600(tmp_path: Path) -> None:
    db = tmp_path / "data" / "d.db"
    db.parent.mkdir()
    root = os.urandom(16)
    old_umask = os.umask(0)  # a umask that would let everyone read: the mode is the call's, not the umask's
    try:
        first = DispatchSettings(database_url=_url(db))
        key = first.sealing_key()
    finally:
        os.umask(old_umask)
    made = db.parent / "nightwatch-sealing.key"
    assert key is not None and len(key) == 32
    assert stat.S_IMODE(made.stat().st_mode) == 0o600
    assert made.read_text().strip() == key.hex()
    assert not list((tmp_path / "work").iterdir())  # nothing in the working directory

    async def provision_then_restart() -> None:
        d = Dispatcher(first)
        await d.start()
        try:
            assert await d.store.add_device(7, root, None, 0)
        finally:
            await d.stop()
        again = Dispatcher(DispatchSettings(database_url=_url(db)))  # reads the same file
        await again.start()
        try:
            assert await again.store.device_key(7) == root
        finally:
            await again.stop()

    asyncio.run(provision_then_restart())
    on_disk = b"".join(p.read_bytes() for p in db.parent.glob("d.db*"))
    assert root not in on_disk  # sealed


@pytest.mark.usefixtures("default_file")
def test_where_the_key_is_kept_by_default(tmp_path: Path) -> None:
    assert DispatchSettings(database_url=_url(tmp_path / "x" / "d.db")).sealing_key_path() == (
        tmp_path / "x" / "nightwatch-sealing.key"
    )
    # The default database is in the working directory, and so is its key; PostgreSQL's is there too.
    assert DispatchSettings().sealing_key_path() == Path("nightwatch-sealing.key")
    pg = DispatchSettings(database_url="postgresql+psycopg://nightwatch@db.example/nightwatch")
    assert pg.sealing_key_path() == Path("nightwatch-sealing.key")
    given = DispatchSettings(database_url=pg.database_url, key_sealing_key_file=tmp_path / "k")
    assert given.sealing_key_path() == tmp_path / "k"


@pytest.mark.usefixtures("default_file")
def test_a_database_in_memory_is_sealed_with_a_key_of_the_moment_and_leaves_no_file() -> None:
    s = DispatchSettings(database_url="sqlite+aiosqlite://")
    key = s.sealing_key()
    assert key is not None and s.sealing_key() == key
    assert DispatchSettings(database_url="sqlite+aiosqlite://").sealing_key() != key
    assert not list(Path.cwd().iterdir())


def test_a_key_file_others_may_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "k"
    secret = os.urandom(32).hex()
    path.write_text(secret)
    for mode in (0o644, 0o640, 0o604, 0o660):
        path.chmod(mode)
        with pytest.raises(KeyStoreError, match=f"mode {mode:04o} lets others at the key") as refused:
            DispatchSettings(key_sealing_key_file=path).sealing_key()
        assert "chmod 600" in str(refused.value) and secret[:8] not in str(refused.value)
    path.chmod(0o400)
    assert key_file(path) == (bytes.fromhex(secret), False)


def test_a_key_file_that_holds_no_key_is_refused_without_quoting_it(tmp_path: Path) -> None:
    path = tmp_path / "k"
    text = "not-a-key-but-a-secret-all-the-same"
    path.write_text(text)
    path.chmod(0o600)
    with pytest.raises(KeyStoreError, match="does not hold a key") as refused:
        key_file(path)
    assert text[:8] not in str(refused.value)
    (tmp_path / "elsewhere").write_text("0" * 64)
    (tmp_path / "link").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(KeyStoreError, match="cannot be read"):
        key_file(tmp_path / "link")  # a link put in its place is not followed
    with pytest.raises(KeyStoreError, match="cannot be made"):
        key_file(tmp_path / "no such directory" / "k")


def test_only_the_insecure_flag_stores_keys_unsealed(tmp_path: Path) -> None:
    s = DispatchSettings(database_url=_url(tmp_path / "d.db"), insecure_unsealed_keys=True)
    assert s.sealing_key() is None
    assert not (tmp_path / "nightwatch-sealing.key").exists()
    with pytest.raises(ValidationError, match="contradicts"):
        DispatchSettings(key_sealing_key="ab" * 32, insecure_unsealed_keys=True)
    assert DispatchSettings(key_sealing_key="ab" * 32).sealing_key() == bytes.fromhex("ab" * 32)


def test_a_database_sealed_under_another_key_stops_the_start(tmp_path: Path) -> None:
    db = _url(tmp_path / "d.db")

    async def go() -> None:
        d = Dispatcher(DispatchSettings(database_url=db, key_sealing_key_file=tmp_path / "first.key"))
        await d.start()
        try:
            await d.store.add_device(3, os.urandom(16), None, 0)
        finally:
            await d.stop()
        other = Dispatcher(DispatchSettings(database_url=db, key_sealing_key_file=tmp_path / "second.key"))
        try:
            with pytest.raises(KeyStoreError, match="device 3: its key does not open with this sealing key"):
                await other.start()
        finally:
            await other.stop()

    asyncio.run(go())


def test_the_command_line_refuses_a_key_file_others_may_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "k"
    path.write_text("ab" * 32)
    path.chmod(0o644)
    monkeypatch.setattr(cli, "configure_logs", lambda level: None)
    monkeypatch.setattr("basestation.dispatch.cli.uvloop.run", _not_started)
    result = CliRunner().invoke(cli_app, ["dispatch", "--db", _url(tmp_path / "d.db"), "--sealing-key-file", str(path)])
    assert result.exit_code == 2
    assert "cannot start" in result.output and "chmod 600" in result.output


def test_the_default_client_id_names_the_host_and_the_http_port() -> None:
    host = socket.gethostname().split(".")[0]
    a, b = DispatchSettings(), DispatchSettings(http_port=8081)
    assert a.mqtt_client_id.startswith("nightwatch-dispatch-") and host[:8] in a.mqtt_client_id
    assert a.mqtt_client_id.endswith("-8080") and b.mqtt_client_id.endswith("-8081")
    # Two replicas on one machine listen on two ports; a restart keeps its id, and the session the broker kept.
    assert a.mqtt_client_id != b.mqtt_client_id
    assert DispatchSettings().mqtt_client_id == a.mqtt_client_id
    assert DispatchSettings(mqtt_client_id="dispatch-east").mqtt_client_id == "dispatch-east"


def test_the_command_line_sets_the_client_id(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[DispatchSettings] = []

    def run(coro: Any) -> None:
        started.append(coro.cr_frame.f_locals["settings"])
        coro.close()

    monkeypatch.setattr(cli, "configure_logs", lambda level: None)
    monkeypatch.setattr("basestation.dispatch.cli.uvloop.run", run)
    db = ("--db", _url(tmp_path / "d.db"), "--http", "127.0.0.1:8099")
    for args in (["--client-id", "dispatch-west"], []):
        result = CliRunner().invoke(cli_app, ["dispatch", *db, *args])
        assert result.exit_code == 0, result.output
    assert [s.mqtt_client_id for s in started] == ["dispatch-west", DispatchSettings(http_port=8099).mqtt_client_id]


def test_credentials_in_the_mqtt_url_move_to_their_settings() -> None:
    s = DispatchSettings(mqtt_url="mqtts://relay%40city:p%3Ass@broker.example:8883")
    assert (s.mqtt_url, s.mqtt_username, s.mqtt_password) == ("mqtts://broker.example:8883", "relay@city", "p:ss")
    assert "p:ss" not in repr(s)


def _not_started(coro: Any) -> None:
    coro.close()
    raise AssertionError("the service started with settings it should have refused")


def test_keys_provisioned_unsealed_still_open_and_are_named_at_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = _url(tmp_path / "d.db")
    root = os.urandom(16)

    async def go() -> None:
        before = Dispatcher(DispatchSettings(database_url=db, insecure_unsealed_keys=True))
        await before.start()
        try:
            await before.store.add_device(9, root, None, 0)
        finally:
            await before.stop()
        sealed = Dispatcher(DispatchSettings(database_url=db, key_sealing_key_file=tmp_path / "k"))
        await sealed.start()
        try:
            assert await sealed.store.device_key(9) == root
            assert await sealed.store.add_device(10, root, None, 0)
        finally:
            await sealed.stop()

    asyncio.run(go())
    assert caplog.text.count("device keys stored unsealed in the database, device 9's among them") == 1
