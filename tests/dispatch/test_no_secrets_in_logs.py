"""No secret in any log line, error message or response: the real app, in this process, with distinctive secrets
in every place one can be set, driven through requests and failures, and everything it said searched for each
secret and for every run of 8 of its characters."""

import asyncio
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02
from pydantic import ValidationError
from typer.testing import CliRunner

from basestation.dispatch.api.app import create_app
from basestation.dispatch.io.keystore import KeyStoreError
from basestation.dispatch.io.mqtt_link import MqttLink
from basestation.dispatch.service import Dispatcher
from basestation.dispatch.settings import DispatchSettings
from harness.ports import free_port
from nightwatch.cli import app as cli_app
from protocol import uplink
from protocol.constants import EVENT_SOS, FLAG_ACK_REQUESTED
from protocol.keys import DeviceKeys
from tests.dispatch.conftest import running

OPERATOR = "opTok-Kq4vZp9RwX2mLs7N"
RESPONDER = "rsTok-Hb3cYt8JdF6gUe1Q"
PROVISIONING = "pvTok-Wn5xAo2EiV9kZr4C"
HOOK_SECRET = "hkSec-Mj7pQz3LtB8yNw5D"
HOOK_PASSWORD = "hkPwd-Gs2fRk9VxC4hTa6E"
HOOK_PATH = "hkPath-Ue8nJq1ZbM5wYo3S"
HOOK_QUERY = "hkQry-Pc6dXv4KgA9rLt2F"
BAD_URL_SECRET = "bdUrl-Ty3mWq7HsN1eZk8B"
BAD_URL_HOOK_SECRET = "bdHks-Lr5vCx2PjG9aQw4M"
MQTT_PASSWORD = "mqPwd-Zf4bNh8KtR3sYe6V"
PUSH_TOKEN = "puTok-Dx9wEq2MgL7cVa5J"
SEALING = "5ea1" + os.urandom(30).hex()
OTHER_SEALING = "0e7e" + os.urandom(30).hex()
NOT_A_KEY = "nkSec-Qa8sWd3FzX6cVb1N" * 3  # a secret put where a key belongs: refused, never repeated
SHORT_HOOK_SECRET = "shSec-9Kd2Lq"  # refused as too short, never repeated


def _shown(text: str, secret: str) -> str | None:
    """The first run of 8 characters of ``secret`` found in ``text``, if any."""
    for i in range(len(secret) - 7):
        if secret[i : i + 8] in text:
            return secret[i : i + 8]
    return None


def _pem_body(pem: str) -> str:
    return "".join(line for line in pem.splitlines() if not line.startswith("-----"))


def test_no_secret_reaches_a_log_an_error_or_a_response(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="nightwatch")
    vapid = Vapid02()
    vapid.generate_keys()
    vapid_pem = vapid.private_pem().decode()
    phone = ec.generate_private_key(ec.SECP256R1()).public_key()
    p256dh = phone.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    push_auth = "puAut-Rb6nTk1WsY8qCe3H"
    secrets = [
        OPERATOR,
        RESPONDER,
        PROVISIONING,
        HOOK_SECRET,
        HOOK_PASSWORD,
        HOOK_PATH,
        HOOK_QUERY,
        BAD_URL_SECRET,
        BAD_URL_HOOK_SECRET,
        MQTT_PASSWORD,
        PUSH_TOKEN,
        push_auth,
        SEALING,
        OTHER_SEALING,
        NOT_A_KEY,
        SHORT_HOOK_SECRET,
        _pem_body(vapid_pem),
    ]
    said: list[str] = []  # every error text and response body
    closed = free_port()  # nothing listens there: every delivery to it fails
    key_file = tmp_path / "sealing.key"
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, SEALING.encode())
    os.close(fd)
    db = f"sqlite+aiosqlite:///{tmp_path / 'd.db'}"
    hook_url = f"http://watcher:{HOOK_PASSWORD}@127.0.0.1:{closed}/in/{HOOK_PATH}?key={HOOK_QUERY}"
    bad_url = f"https://hooks.example.org:8443{BAD_URL_SECRET}/in"
    settings = DispatchSettings(
        database_url=db,
        mqtt_url=f"mqtt://nightwatch-dispatch:{MQTT_PASSWORD}@127.0.0.1:{closed}",
        mqtt_connect_timeout_s=2,
        key_sealing_key_file=key_file,
        tokens={OPERATOR: "operator", RESPONDER: "responder:anna", PROVISIONING: "provisioning"},
        webhooks=[{"url": hook_url, "secret": HOOK_SECRET}],
        vapid_private_key=vapid_pem,
    )
    assert settings.mqtt_password == MQTT_PASSWORD
    # A URL the settings refuse, slipped past them: what the notifier logs of it is what matters here.
    settings = settings.model_copy(
        update={"webhooks": [*settings.webhooks, {"url": bad_url, "secret": BAD_URL_HOOK_SECRET}]}
    )
    said += [repr(settings), str(settings), json.dumps(settings.model_dump(mode="json", exclude=_all_secret_fields()))]
    root = os.urandom(16)

    async def scenario() -> None:
        async with running(settings) as svc:
            d, app, http = svc.dispatcher, svc.app, svc.http
            notifier = app.state.notifier
            notifier.backoff_s = (0.0, 0.05)
            op, me = {"Authorization": f"Bearer {OPERATOR}"}, {"Authorization": f"Bearer {RESPONDER}"}
            for bad in (OPERATOR[:-1] + "x", RESPONDER + "x", "short"):
                r = await http.get("/api/v1/incidents", headers={"Authorization": f"Bearer {bad}"})
                assert r.status_code == 401
                said.append(r.text + json.dumps(dict(r.headers)))
            r = await http.post(
                "/api/v1/devices",
                json={"device_id": 5, "root_key": root.hex()},
                headers={"Authorization": f"Bearer {PROVISIONING}"},
            )
            assert r.status_code == 201, r.text
            said.append(r.text)
            r = await http.put("/api/v1/responders/anna", json={"name": "Anna", "language": "en"}, headers=op)
            said.append(r.text)
            r = await http.put("/api/v1/me/duty", json={"on_duty": True, "lat": 52.16, "lon": 4.49}, headers=me)
            said.append(r.text)
            # An account added at run time: its token is in the one answer to the operator who added it, and
            # nowhere else, through a new link, its use and its revocation.
            r = await http.post("/api/v1/accounts", json={"role": "responder", "name": "Bo"}, headers=op)
            assert r.status_code == 201, r.text
            acc_id = r.json()["account"]["id"]
            secrets.append(r.json()["token"])
            r = await http.post(f"/api/v1/accounts/{acc_id}/link", headers=op)
            secrets.append(r.json()["token"])
            r = await http.get("/api/v1/incidents", headers={"Authorization": f"Bearer {secrets[-1]}"})
            said.append(r.text + json.dumps(dict(r.headers)))
            said.append((await http.get("/api/v1/accounts", headers=op)).text)
            said.append((await http.delete(f"/api/v1/accounts/{acc_id}", headers=op)).text)
            sub = {
                "endpoint": f"http://127.0.0.1:{closed}/push/{PUSH_TOKEN}",
                "keys": {"p256dh": _b64(p256dh), "auth": push_auth},
            }
            r = await http.post("/api/v1/me/push-subscription", json=sub, headers=me)
            assert r.status_code == 201, r.text
            said.append(r.text)
            frame = uplink.encode(DeviceKeys(root), uplink.Uplink(1, 5, EVENT_SOS, 60, flags=FLAG_ACK_REQUESTED))
            env = {"v": 1, "gateway_id": "gw", "rx_time_ms": int(time.time() * 1000), "radio": "ble"}
            await d.on_uplink("nightwatch/v1/up/gw", json.dumps({**env, "frame": frame.hex()}).encode())
            deadline = time.monotonic() + 10
            while notifier.failed["webhook"] < 4 or notifier.failed["webpush"] < 2:
                assert time.monotonic() < deadline, (notifier.failed, caplog.text[-2000:])
                await asyncio.sleep(0.02)
            for path in ("/healthz", "/metrics", "/api/v1/incidents", "/api/v1/push/public-key"):
                said.append((await http.get(path, headers=op)).text)
            # The broker's password went into the settings, and the link to a broker that is not there fails.
            with pytest.raises((OSError, TimeoutError)) as refused:
                await MqttLink(settings, d).start()
            said.append(f"{refused.value!r} {refused.value}")
            await http.aclose()

    asyncio.run(scenario())

    async def reopen_with_another_key() -> None:
        other = tmp_path / "other.key"
        other.write_text(OTHER_SEALING)
        other.chmod(0o600)
        d = Dispatcher(settings.model_copy(update={"key_sealing_key_file": other, "webhooks": []}))
        try:
            with pytest.raises(KeyStoreError, match="does not open with this sealing key") as wrong:
                await d.start()
            said.append(str(wrong.value))
        finally:
            await d.stop()

    asyncio.run(reopen_with_another_key())

    refused_settings: list[dict[str, Any]] = [
        {"key_sealing_key": NOT_A_KEY},
        {"webhooks": [{"url": bad_url, "secret": HOOK_SECRET}]},
        {"webhooks": [{"url": hook_url, "secret": SHORT_HOOK_SECRET}]},
        {"escalation_webhook": {"url": f"ftp://x/{HOOK_PATH}", "secret": HOOK_SECRET}},
        {"mqtt_url": f"http://u:{MQTT_PASSWORD}@broker"},
        {"tokens": {OPERATOR: ["operator"]}},
        {"vapid_private_key": {"pem": vapid_pem}},
    ]
    for given in refused_settings:
        with pytest.raises(ValidationError) as invalid:
            DispatchSettings(database_url=db, **given)
        # What a log or the command line shows of it (.errors() and .json() hold the input, and nothing calls them).
        said.append(f"{invalid.value}\n{invalid.value!r}")
    with pytest.raises(ValueError) as grant:
        create_app(Dispatcher(DispatchSettings(database_url=db, tokens={OPERATOR: "root"})))
    said.append(str(grant.value))

    # The command line: a sealing key file others may read, and a key that is not one, refuse the start.
    loose = tmp_path / "loose.key"
    loose.write_text(SEALING)
    loose.chmod(0o644)
    runner = CliRunner()
    cli_db = ("--db", db, "--token", f"{OPERATOR}=operator", "--mqtt", f"mqtt://u:{MQTT_PASSWORD}@127.0.0.1:{closed}")
    # Its log lines come here, not to the JSON handler it would put in place of caplog's.
    monkeypatch.setattr("basestation.dispatch.cli.configure_logs", lambda level: None)
    monkeypatch.setattr("basestation.dispatch.cli.uvloop.run", _not_started)
    for args, env in (
        (["dispatch", *cli_db, "--sealing-key-file", str(loose)], {}),
        (["dispatch", *cli_db], {"NIGHTWATCH_DISPATCH_KEY_SEALING_KEY": NOT_A_KEY}),
        (["dispatch", *cli_db, "--insecure-unsealed-keys"], {"NIGHTWATCH_DISPATCH_KEY_SEALING_KEY": SEALING}),
    ):
        result = runner.invoke(cli_app, args, env=env)
        assert result.exit_code == 2, result.output
        said.append(result.output + repr(result.exception) + str(result.exception))

    logged = caplog.text + "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''} {r.args!r}" for r in caplog.records)
    # What the run had to go through, so that the search below is not of nothing.
    assert "webhook delivery for" in logged and "webpush delivery for" in logged
    assert "http://127.0.0.1:" in logged  # where a failed delivery went, and no more of its URL
    assert "https://hooks.example.org" not in logged  # an unreadable URL is not quoted at all
    everything = logged + "\n".join(said)
    assert "lets others at the key" in everything and "does not open with this sealing key" in everything
    found = {
        s[:8]: everything[max(0, at - 100) : at + 60]
        for s in secrets
        if (run := _shown(everything, s)) and (at := everything.index(run)) >= 0
    }
    assert not found, f"secrets in the output: {found}"


def _not_started(coro: Any) -> None:
    coro.close()
    raise AssertionError("the service started with settings it should have refused")


def _all_secret_fields() -> set[str]:
    return {"mqtt_password", "tokens", "webhooks", "escalation_webhook", "vapid_private_key", "key_sealing_key"}


def _b64(b: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
