"""The steps of `nightwatch provision` past making the key: register the ring at dispatch, write its files onto it.

``device_files()`` is pure: the files the ring reads at boot, as bytes, from the provisioning record. ``flash()``
copies them with mpremote; ``register()`` posts the record to dispatch's ``POST /api/v1/devices``. Their errors
never carry the token or the root key: an operator pastes them into chats and tickets.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import httpx

from firmware.config import CONFIG_PATH, Config, dump

TOKEN_ENV = "NIGHTWATCH_TOKEN"
DEVICES_PATH = "/api/v1/devices"
MPREMOTE_TIMEOUT_S = 120.0
HTTP_TIMEOUT_S = 15.0


@dataclass(frozen=True, slots=True)
class Record:
    """What dispatch registers: the body of ``POST /api/v1/devices``."""

    device_id: int
    root_key: bytes
    counter_start: int = 1
    label: str | None = None

    def __repr__(self) -> str:
        return f"Record(device_id={self.device_id}, counter_start={self.counter_start}, root_key=<hidden>)"

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "device_id": self.device_id,
            "root_key": self.root_key.hex(),
            "counter_start": self.counter_start,
        }
        if self.label is not None:
            out["label"] = self.label
        return out


class ProvisionError(RuntimeError):
    """A step failed; the message says what to do and holds no secret."""


class RegisterError(ProvisionError):
    pass


class FlashError(ProvisionError):
    pass


def _redact(text: str, *secrets: str) -> str:
    # Whatever a library or a device says is passed on only with the secrets blanked out.
    for s in secrets:
        if s:
            text = text.replace(s, "<hidden>").replace(s.upper(), "<hidden>")
    return text


# -- the files on the ring -------------------------------------------------------------------------------------


def config_text(record: Record, settings: Mapping[str, Any] | None = None) -> str:
    """The config file's text, validated as the firmware validates it at boot."""
    cfg = Config(record.device_id, record.root_key, record.counter_start, dict(settings) if settings else None)
    return dump(cfg) + "\n"


def device_files(record: Record, settings: Mapping[str, Any] | None = None) -> dict[str, bytes]:
    """Path on the ring -> content: what ``firmware.main.run`` reads at boot (the key lives in the config file)."""
    return {CONFIG_PATH: config_text(record, settings).encode()}


# -- mpremote ------------------------------------------------------------------------------------------------------


def mpremote_binary() -> str:
    """PATH first, so an operator's own mpremote is the one used; then the environment this command runs in."""
    found = shutil.which("mpremote") or shutil.which("mpremote", path=str(Path(sys.executable).parent))
    if found is None:
        raise FlashError(
            "mpremote is missing: install the project's environment (make venv) or `pipx install mpremote`"
        )
    return found


def mpremote_args(binary: str, port: str, copies: list[tuple[Path, str]]) -> list[str]:
    """One mpremote run: connect, copy each file, then reset so the ring boots with them."""
    args = [binary, "connect", port]
    for local, remote in copies:
        args += ["fs", "cp", str(local), ":" + remote, "+"]
    return [*args, "reset"]


def flash(port: str, files: Mapping[str, bytes], binary: str | None = None) -> list[str]:
    """Copy ``files`` onto the ring at ``port``; returns the mpremote command line that did it."""
    if not port or port.startswith("-"):
        raise FlashError(f"not a serial port: {port!r}")
    for path in files:
        if not PurePosixPath(path).is_absolute() or PurePosixPath(path).parent != PurePosixPath("/"):
            raise FlashError(f"only files at the ring's root can be written, not {path!r}")
    binary = binary or mpremote_binary()
    # A private directory: the config file holds the root key, and lives on the host only while mpremote runs.
    with tempfile.TemporaryDirectory(prefix="nightwatch-flash-") as tmp:
        copies: list[tuple[Path, str]] = []
        for path, content in files.items():
            local = Path(tmp) / PurePosixPath(path).name
            fd = os.open(local, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(content)
            copies.append((local, path))
        args = mpremote_args(binary, port, copies)
        try:
            done = subprocess.run(args, capture_output=True, text=True, timeout=MPREMOTE_TIMEOUT_S, check=False)
        except FileNotFoundError:
            raise FlashError(f"cannot run mpremote ({binary})") from None
        except subprocess.TimeoutExpired:
            raise FlashError(f"mpremote did not finish within {MPREMOTE_TIMEOUT_S:g} s on {port}") from None
    if done.returncode != 0:
        said = _redact((done.stderr or done.stdout).strip(), *_keys_in(files))
        last = said.splitlines()[-3:] if said else ["(it said nothing)"]
        raise FlashError(f"mpremote failed on {port} (exit {done.returncode}): " + " / ".join(last))
    return args


def _keys_in(files: Mapping[str, bytes]) -> list[str]:
    keys = []
    for content in files.values():
        try:
            key = json.loads(content).get("root_key")
        except (ValueError, AttributeError):
            continue
        if isinstance(key, str):
            keys.append(key)
    return keys


# -- dispatch ------------------------------------------------------------------------------------------------------


def devices_url(base: str) -> str:
    base = base.strip().rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise RegisterError(f"--register needs dispatch's base URL, http:// or https://, not {base!r}")
    return base + DEVICES_PATH


def _problem(response: httpx.Response) -> str:
    """Dispatch's reason, without the request's values: a 422's ``input`` would echo the key."""
    try:
        body = response.json()
    except ValueError:
        return ""
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if isinstance(item, dict):
                where = ".".join(str(x) for x in item.get("loc", ()) if x != "body")
                parts.append(f"{where}: {item.get('msg', '?')}")
        return "; ".join(parts)
    return ""


def register(base_url: str, token: str, record: Record, client: httpx.Client | None = None) -> None:
    """Register ``record`` at dispatch; RegisterError says why not."""
    url = devices_url(base_url)
    if not token:
        raise RegisterError(f"--register needs a provisioning token: --token or {TOKEN_ENV}")
    key = record.root_key.hex()
    own = client is None
    http = client or httpx.Client(timeout=HTTP_TIMEOUT_S)
    try:
        r = http.post(url, json=record.body(), headers={"Authorization": f"Bearer {token}"})
    except httpx.ConnectError as e:
        reason = "connection refused" if "refused" in str(e).lower() else _redact(str(e), token, key)
        raise RegisterError(f"cannot reach dispatch at {url}: {reason}") from None
    except httpx.TimeoutException:
        raise RegisterError(f"dispatch at {url} did not answer within {HTTP_TIMEOUT_S:g} s") from None
    except httpx.HTTPError as e:
        raise RegisterError(f"cannot register at {url}: {_redact(str(e) or type(e).__name__, token, key)}") from None
    finally:
        if own:
            http.close()
    if r.status_code in (200, 201):
        return
    why = _redact(_problem(r), token, key)
    ring = f"ring {record.device_id}"
    if r.status_code == 401:
        raise RegisterError(f"dispatch refused the token (401): missing, unknown or expired; {ring} is not registered")
    if r.status_code == 403:
        raise RegisterError(
            f"the token may not register rings (403): it needs the provisioning (or operator) role;"
            f" {ring} is not registered"
        )
    if r.status_code == 409:
        raise RegisterError(
            f"{ring} is already registered at dispatch (409): choose another --device-id, or remove the old"
            f" registration first (DELETE {DEVICES_PATH}/{record.device_id})"
        )
    if r.status_code == 422:
        raise RegisterError(f"dispatch refused the record (422): {why or 'invalid'}")
    raise RegisterError(f"dispatch answered {r.status_code} at {url}" + (f": {why}" if why else ""))
