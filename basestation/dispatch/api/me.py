"""A responder's own calls under /api/v1/me: on or off duty with a position, and their browsers for Web Push."""

import dataclasses
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from pydantic import Field

from basestation.dispatch.api.base import BODY, D, RespondingOnly, StrictIn, refusals
from basestation.dispatch.io.notify import Notifier
from basestation.dispatch.io.webpush import Subscription
from basestation.dispatch.service import now_ms

router = APIRouter(prefix="/api/v1")


class DutyIn(StrictIn):
    on_duty: bool
    lat: float | None = Field(None, ge=-90, le=90)
    lon: float | None = Field(None, ge=-180, le=180)


class PushKeys(StrictIn):
    p256dh: str = Field(max_length=200, pattern=r"^[A-Za-z0-9_-]+=*$")
    auth: str = Field(max_length=64, pattern=r"^[A-Za-z0-9_-]+=*$")


class PushSubscriptionIn(StrictIn):
    """What the browser's PushSubscription.toJSON() gives."""

    endpoint: str = Field(max_length=1024, pattern=r"^https?://")
    keys: PushKeys


@router.put("/me/duty", tags=["responders"], responses={**BODY, **refusals(404)})
async def set_duty(body: DutyIn, d: D, who: RespondingOnly) -> dict[str, Any]:
    """On or off duty. The position is kept only while on duty."""
    r = d.state.responders.get(who.responder_id or "")
    if r is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "responder not registered")
    r.on_duty = body.on_duty
    if body.on_duty and body.lat is not None and body.lon is not None:
        r.lat, r.lon, r.position_ms = body.lat, body.lon, now_ms()
    elif not body.on_duty:
        r.lat = r.lon = None
    await d.store.save_responder(r)
    await d.registry_changed("responder", dataclasses.asdict(r))
    return r.to_dict()


@router.get("/push/public-key", tags=["responders"])
async def push_public_key(request: Request) -> dict[str, str | None]:
    """The VAPID application server key for pushManager.subscribe(); null when Web Push is not set up."""
    notifier: Notifier | None = request.app.state.notifier
    return {"key": notifier.push.public_key() if notifier and notifier.push else None}


@router.post("/me/push-subscription", status_code=201, tags=["responders"], responses=BODY)
async def add_push_subscription(
    body: PushSubscriptionIn, request: Request, d: D, who: RespondingOnly
) -> dict[str, str]:
    rid = who.responder_id or ""
    await d.store.save_subscription(rid, body.endpoint, body.keys.p256dh, body.keys.auth)
    notifier: Notifier | None = request.app.state.notifier
    if notifier is not None:
        notifier.subscribe(rid, Subscription(body.endpoint, body.keys.p256dh, body.keys.auth))
    return {"status": "subscribed"}
