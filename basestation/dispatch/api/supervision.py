"""What operators watch under /api/v1: messages set aside, notices, and the live stream of every change."""

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from basestation.dispatch.api.auth import Operator, StreamReader, TokenTable
from basestation.dispatch.api.base import AUTH, D, responder_names
from basestation.dispatch.api.views import incident_view, visible_to
from basestation.dispatch.io import sse
from basestation.dispatch.io.bus import Message
from basestation.dispatch.io.sse import EventStream
from basestation.dispatch.service import now_ms

router = APIRouter(prefix="/api/v1")


@router.get("/dead-letters", tags=["supervision"], responses=AUTH)
async def dead_letters(
    d: D,
    _: Operator,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
) -> list[dict[str, Any]]:
    """Messages the service set aside because handling them could never succeed: each with its topic, its
    payload and the error, newest first. They were acknowledged, so the broker no longer holds them."""
    return await d.store.dead_letters(limit, before_id)


@router.get("/notices", tags=["supervision"], responses=AUTH)
async def notices(d: D, _: Operator) -> list[dict[str, Any]]:
    return await d.store.notices()


@router.get("/stream", tags=["stream"], responses=AUTH, response_class=EventStream)
async def stream(request: Request, d: D, who: StreamReader) -> EventStream:
    """Server-sent events: every incident change and operator notice, as it happens. Takes the bearer header or,
    for a browser's EventSource, the web app's token cookie."""

    last_id = request.headers.get("last-event-id", "")
    since = int(last_id) if last_id.isdigit() else None
    operator = who.role == "operator"
    tokens: TokenTable = request.app.state.tokens

    name = responder_names(d)

    def attach(push: sse.Push) -> Callable[[], None]:
        def sink(msg: Message | None) -> bool:
            if msg is None:
                return push(None)
            if who.expires_ms is not None and now_ms() >= who.expires_ms:
                push(None)  # a token that expired while its stream was open: the next reconnect is refused
                return False
            if operator or msg.topic == "resync":
                return push(msg.sse())
            # The bus hands a responder's stream only what is addressed to them; checked again all the same.
            if msg.topic == "incident" and visible_to(who, msg.data):
                return push(sse.event(msg.topic, msg.seq, incident_view(who, msg.data, name)))
            return True

        # A reconnecting client sends the last id it saw and first gets what it missed (bus.py).
        detach = d.bus.attach(sink, since, None if operator else who.responder_id or "")
        if who.account_id is None:
            return detach

        # Revoking the account ends this stream at once, not at its next event.
        def close() -> None:
            push(None)

        forget = tokens.on_revoke(who.account_id, close)

        def both() -> None:
            forget()
            detach()

        return both

    return EventStream(attach, ping_s=15, max_backlog=d.bus.queue_size + d.bus.history_size)
