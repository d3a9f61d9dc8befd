"""The dispatch service as an ASGI app: every router under /api/v1 (OpenAPI at /docs), the web app, /healthz and
/metrics, and the lifespan that loads the state and starts the links."""

import asyncio
import contextlib
import functools
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import httpx
import msgspec
from fastapi import FastAPI, Response
from fastapi.responses import PlainTextResponse
from starlette.types import Receive, Scope, Send

from basestation.dispatch.api import accounts as accounts_api
from basestation.dispatch.api import card as card_api
from basestation.dispatch.api import hook as hook_api
from basestation.dispatch.api import incidents as incidents_api
from basestation.dispatch.api import me as me_api
from basestation.dispatch.api import metrics
from basestation.dispatch.api import registry as registry_api
from basestation.dispatch.api import supervision as supervision_api
from basestation.dispatch.api import walk as walk_api
from basestation.dispatch.api import zones as zones_api
from basestation.dispatch.api.auth import TokenTable
from basestation.dispatch.core import intake
from basestation.dispatch.io import sse
from basestation.dispatch.io.mqtt_link import MqttLink, link_figures
from basestation.dispatch.io.notify import Notifier, WebhookTarget
from basestation.dispatch.io.webpush import Subscription, WebPush
from basestation.dispatch.service import Dispatcher
from basestation.dispatch.web.routes import install as install_web

_json = msgspec.json.Encoder()


class _App(FastAPI):
    """Hands the server's own ``send`` to the live stream through the scope (sse.SERVER_SEND)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope[sse.SERVER_SEND] = send
        await super().__call__(scope, receive, send)


def create_app(dispatcher: Dispatcher, links: Sequence[MqttLink] = ()) -> FastAPI:
    """The service as an ASGI app; its lifespan loads the state, then subscribes through each of ``links`` (one
    per broker) and sends downlinks through all of them."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await dispatcher.start()
        await accounts_api.load(dispatcher, app.state.tokens)
        if dispatcher.cluster is not None:
            dispatcher.cluster.on_registry = functools.partial(accounts_api.on_registry, app)
        async with httpx.AsyncClient(timeout=10) as http:
            notifier = make_notifier(dispatcher, http)
            app.state.notifier = notifier
            task = None
            if notifier is not None:
                for rid, endpoint, p256dh, auth in await dispatcher.store.subscriptions():
                    notifier.subscribe(rid, Subscription(endpoint, p256dh, auth))
                task = asyncio.create_task(notifier.run(), name="dispatch-notify")
            for link in links:
                dispatcher.publishers.append(link.publish)
                await link.start()
            try:
                yield
            finally:
                for link in links:
                    dispatcher.publishers.remove(link.publish)
                    await link.stop()
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                await dispatcher.stop()

    app = _App(title="Nightwatch dispatch", version="1", lifespan=lifespan)
    app.state.dispatcher = dispatcher
    app.state.notifier = None
    app.state.tokens = TokenTable(dispatcher.settings.tokens)
    app.state.intake_ids = intake.IntakeIds()
    for module in (registry_api, me_api, incidents_api, supervision_api, card_api, walk_api, hook_api, zones_api):
        app.include_router(module.router)
    app.include_router(accounts_api.router)
    app.state.walk_refused = Counter()
    install_web(app)
    _install_operations(app, dispatcher, links)
    return app


def _install_operations(app: FastAPI, dispatcher: Dispatcher, links: Sequence[MqttLink]) -> None:
    """/healthz and /metrics, open to monitors."""

    @app.get("/healthz", tags=["operations"], response_model=None)
    async def healthz() -> Response:
        # Encoded here, not by FastAPI's generic serializer: monitors and the benchmark poll this many times a
        # second while uplinks stream in.
        mqtt = link_figures(links)
        doc = {"ok": True, **dispatcher.health(), "mqtt": mqtt}
        return Response(_json.encode(doc), media_type="application/json")

    figures = metrics.registry(dispatcher, app.state.walk_refused)

    @app.get("/metrics", tags=["operations"], response_class=PlainTextResponse)
    async def prometheus() -> Response:
        return Response(metrics.text(figures), media_type=metrics.CONTENT_TYPE)


def make_notifier(d: Dispatcher, http: httpx.AsyncClient) -> Notifier | None:
    s = d.settings
    hooks = [WebhookTarget(h["url"], h["secret"].encode()) for h in s.webhooks]
    esc = s.escalation_webhook
    escalation = WebhookTarget(esc["url"], esc["secret"].encode()) if esc else None
    push = WebPush(s.vapid_private_key, s.vapid_subject, http) if s.vapid_private_key else None
    if not hooks and escalation is None and push is None:
        return None
    return Notifier(d, http, hooks, escalation, push)
