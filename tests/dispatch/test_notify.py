"""Web Push and signed webhooks against real local HTTP endpoints: the push decrypts to the bilingual alarm, the
webhook's signature verifies, and both are retried until acknowledged."""

import asyncio
import base64
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import http_ece
import httpx
import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from basestation.dispatch.core.incidents import State
from basestation.dispatch.io import webhook
from basestation.dispatch.io.notify import Notifier, WebhookTarget
from basestation.dispatch.io.store_load import incident_from_doc
from basestation.dispatch.io.webpush import Subscription, WebPush
from basestation.dispatch.service import Dispatcher
from basestation.dispatch.settings import DispatchSettings
from harness.ports import free_port
from protocol import uplink
from protocol.constants import EVENT_SOS, FLAG_ACK_REQUESTED
from protocol.keys import DeviceKeys
from tests.dispatch.conftest import running, until
from tests.dispatch.world import envelope, topic

SECRET = "webhook-secret-0123456789"
OPERATOR = "operator-token-0123456789"
RESPONDER = "responder-token-0123456789"


def _b64(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


class Receiver:
    """A local stand-in for a push service and a monitoring centre: real HTTP, answers scripted."""

    def __init__(self) -> None:
        self.port = free_port()
        self.hooks: list[tuple[bytes, dict[str, str]]] = []
        self.pushes: list[tuple[bytes, dict[str, str]]] = []
        self.hook_status = [500, 200]
        self.push_status = 500
        app = Starlette(
            routes=[Route("/hook", self.hook, methods=["POST"]), Route("/push/{sub}", self.push, methods=["POST"])]
        )
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))

    async def hook(self, request: Request) -> Response:
        self.hooks.append((await request.body(), dict(request.headers)))
        return Response(status_code=self.hook_status.pop(0) if self.hook_status else 200)

    async def push(self, request: Request) -> Response:
        self.pushes.append((await request.body(), dict(request.headers)))
        return Response(status_code=self.push_status)


def test_push_and_webhook_are_delivered_and_retried_until_acknowledged(tmp_path: Path) -> None:
    vapid = Vapid02()
    vapid.generate_keys()
    phone_key = ec.generate_private_key(ec.SECP256R1())
    phone_pub = phone_key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    auth = os.urandom(16)
    root = os.urandom(16)

    async def scenario() -> None:
        rx = Receiver()
        serve = asyncio.create_task(rx.server.serve())
        await until(lambda: rx.server.started)
        settings = DispatchSettings(
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'd.db'}",
            tokens={OPERATOR: "operator", RESPONDER: "responder:anna"},
            webhooks=[{"url": f"http://127.0.0.1:{rx.port}/hook", "secret": SECRET}],
            vapid_private_key=vapid.private_pem().decode(),
        )
        async with running(settings) as svc:
            d, app, http = svc.dispatcher, svc.app, svc.http
            app.state.notifier.backoff_s = (0.0, 0.05)
            op, me = {"Authorization": f"Bearer {OPERATOR}"}, {"Authorization": f"Bearer {RESPONDER}"}
            assert (await http.get("/api/v1/push/public-key")).json()["key"]
            await d.store.add_device(5, root, None, 0)
            d.state.resolver.add(5, root)
            await http.put("/api/v1/responders/anna", json={"name": "Anna", "language": "en"}, headers=op)
            await http.put("/api/v1/me/duty", json={"on_duty": True, "lat": 52.16, "lon": 4.49}, headers=me)
            sub = {
                "endpoint": f"http://127.0.0.1:{rx.port}/push/anna-phone",
                "keys": {"p256dh": _b64(phone_pub), "auth": _b64(auth)},
            }
            assert (await http.post("/api/v1/me/push-subscription", json=sub, headers=me)).status_code == 201

            frame = uplink.encode(DeviceKeys(root), uplink.Uplink(1, 5, EVENT_SOS, 60, flags=FLAG_ACK_REQUESTED))
            await d.on_uplink(topic("gw"), envelope(frame, "gw", int(time.time() * 1000), radio="ble", rssi=None))

            # The push service fails; the push is retried until the responder's phone says it was seen.
            await until(lambda: len(rx.pushes) >= 3)
            body, headers = rx.pushes[0]
            assert headers["content-encoding"] == "aes128gcm" and headers["urgency"] == "high"
            assert headers["authorization"].startswith("vapid t=")
            plain = json.loads(http_ece.decrypt(body, private_key=phone_key, auth_secret=auth, version="aes128gcm"))
            assert plain["type"] == "offer" and plain["kind"] == "sos"
            assert plain["text"]["nl"]["title"] == "Noodoproep" and plain["text"]["en"]["title"] == "Emergency alarm"
            incident = plain["incident"]
            assert (await http.post(f"/api/v1/incidents/{incident}/seen", headers=me)).status_code == 200
            await asyncio.sleep(0.3)
            settled = len(rx.pushes)
            await asyncio.sleep(0.3)
            assert len(rx.pushes) == settled  # acknowledged: no more retries

            # The webhook answered 500 once, then 200: delivered twice, signed both times.
            await until(lambda: len(rx.hooks) >= 2)
            for hook_body, hook_headers in rx.hooks:
                assert webhook.verify(SECRET.encode(), hook_body, hook_headers["x-nightwatch-signature"])
                assert json.loads(hook_body)["data"]["id"] == incident
            assert not webhook.verify(b"another-secret-0123", rx.hooks[0][0], rx.hooks[0][1]["x-nightwatch-signature"])
            await http.aclose()
        rx.server.should_exit = True
        await serve

    asyncio.run(scenario())


def test_signature_rejects_tampering_and_stale_timestamps() -> None:
    body = webhook.body("incident", {"id": "1-1"})
    sig = webhook.sign(b"k" * 16, body, at=1000)
    assert webhook.verify(b"k" * 16, body, sig, now=1100)
    assert not webhook.verify(b"k" * 16, body + b" ", sig, now=1100)
    assert not webhook.verify(b"k" * 16, body, sig, now=2000)
    assert not webhook.verify(b"k" * 16, body, "garbage", now=1100)


def _notifier(tmp_path: Path, check: Callable[[Dispatcher, Notifier], None], **targets: Any) -> None:
    """``check`` a notifier to ``targets`` (Notifier's escalation, push ...), of a dispatcher on a new database, in a
    running event loop. Nothing listens at the targets: what counts is what the notifier queues."""
    d = Dispatcher(DispatchSettings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'd.db'}"))

    async def go() -> None:
        async with httpx.AsyncClient() as http:
            check(d, Notifier(d, http, **targets))

    asyncio.run(go())


CENTRE = WebhookTarget("http://127.0.0.1:9/centre", b"s" * 16)


def test_only_emergencies_escalate_to_the_monitoring_centre(tmp_path: Path) -> None:
    def check(d: Dispatcher, n: Notifier) -> None:
        base = {"state": "escalated", "escalation": 2, "forced": False, "location": None, "offered_to": []}
        base |= {"opened_ms": 0}
        n.on_incident({**base, "id": "1-1", "kind": "escort"})
        assert n.pending == 0
        n.on_incident({**base, "id": "2-1", "kind": "sos"})
        n.on_incident({**base, "id": "2-1", "kind": "sos"})  # once per incident
        assert n.pending == 1

    _notifier(tmp_path, check, escalation=CENTRE)


def test_a_duress_goes_to_the_monitoring_centre_whatever_its_kind(tmp_path: Path) -> None:
    def check(d: Dispatcher, n: Notifier) -> None:
        base = {"state": "accepted", "escalation": 2, "location": None, "offered_to": ["anna"], "opened_ms": 0}
        n.on_incident({**base, "id": "3-1", "kind": "escort", "forced": True})
        assert n.pending == 1

    _notifier(tmp_path, check, escalation=CENTRE)


def test_a_duress_is_pushed_to_everyone_offered_it_or_on_the_way(tmp_path: Path) -> None:
    push = WebPush(_private_pem(), "mailto:ops@nightwatch.invalid", httpx.AsyncClient())

    def check(d: Dispatcher, n: Notifier) -> None:
        for rid in ("anna", "bram", "cees"):
            n.subscribe(rid, Subscription(f"http://127.0.0.1:9/push/{rid}", "p", "a"))
        doc = {
            "id": "4-1",
            "kind": "sos",
            "state": "accepted",
            "escalation": 2,
            "forced": True,
            "location": None,
            "press_ms": 0,
            "offered_to": ["anna", "bram", "cees"],
            "accepted_by": ["anna"],
            "declined_by": ["cees"],
        }
        n.on_incident(doc)
        n.on_incident(doc)  # once per responder
        duress = [j for j in n._jobs if j.payload["type"] == "duress"]
        assert sorted(j.responder_id or "" for j in duress) == ["anna", "bram"]
        # Retried while the incident lasts, although it was accepted and escalated; not once it is over.
        inc = incident_from_doc({**doc, "opened_ms": 0, "updated_ms": 0, "counter": 1, "device_id": 4})
        d.state.incidents[inc.id] = inc
        assert not any(n.moot(j) for j in duress)
        inc.state = State.RESOLVED
        assert all(n.moot(j) for j in duress)

    _notifier(tmp_path, check, push=push)


def _private_pem() -> str:
    vapid = Vapid02()
    vapid.generate_keys()
    return str(vapid.private_pem().decode())
