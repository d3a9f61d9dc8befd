"""HTTP API under /api/v1 (OpenAPI at /docs), the live stream, /healthz and /metrics."""

import asyncio
import contextlib
import dataclasses
import functools
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import time
from typing import Annotated, Any, Literal

import httpx
import msgspec
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Path, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from starlette.types import Receive, Scope, Send

from basestation.dispatch import (
    actions,
    handover_api,
    incident_log,
    intake,
    metrics,
    operator_actions,
    roster,
    roster_devices,
    roster_store,
    sse,
)
from basestation.dispatch.assignment import Responder
from basestation.dispatch.auth import Anyone, Operator, Principal, Provisioner, StreamReader, TokenTable, require
from basestation.dispatch.bus import Message
from basestation.dispatch.mqtt_link import MqttLink, link_figures
from basestation.dispatch.notify import Notifier, WebhookTarget
from basestation.dispatch.referrals import REFERRALS, catalogue
from basestation.dispatch.service import Dispatcher, now_ms
from basestation.dispatch.sse import EventStream
from basestation.dispatch.state import DeviceInfo
from basestation.dispatch.views import incident_view, visible_to
from basestation.dispatch.web.routes import install as install_web
from basestation.dispatch.webpush import Subscription, WebPush
from protocol.constants import COUNTER_MAX, COUNTER_MIN, REPLAY_WINDOW
from protocol.keys import parse_root_key

_json = msgspec.json.Encoder()

RespondingOnly = Annotated[Principal, Depends(require("responder"))]
# Path parameters bounded as the database columns are, so an oversized one is a 422, never a database error.
DeviceId = Annotated[int, Path(ge=0, le=0xFFFFFFFF)]
GatewayId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
ResponderId = Annotated[str, Path(min_length=1, max_length=64)]


class Problem(BaseModel):
    """Every refusal the service makes itself (not input validation, which answers 422 with its own shape)."""

    detail: str


def _refusals(*codes: int) -> dict[int | str, dict[str, Any]]:
    what = {
        400: "the body is not JSON",
        401: "missing, unknown or expired token",
        403: "the token's role may not do this",
        404: "no such thing, or not visible to this role",
        409: "not possible in the incident's or registry's present state",
    }
    return {code: {"model": Problem, "description": what[code]} for code in codes}


AUTH = _refusals(401, 403)
BODY = {**AUTH, **_refusals(400)}  # operations that read a JSON body


class _In(BaseModel):
    # Strict: JSON's false is not the number 0, nor "1" the number 1. A request means what it says or is refused.
    model_config = ConfigDict(strict=True)


class DeviceIn(_In):
    device_id: int = Field(ge=0, le=0xFFFFFFFF)
    root_key: str = Field(pattern=r"^[0-9a-fA-F]{32}$", description="32 hex digits; never returned by the API")
    label: str | None = Field(None, max_length=120)
    counter_start: int = Field(
        COUNTER_MIN,
        ge=COUNTER_MIN,
        le=COUNTER_MAX,
        description="the ring's first counter, as `nightwatch provision --counter-start` gave it; a frame with a"
        " counter below it is refused",
    )


def _window_before(counter_start: int) -> tuple[int, int]:
    """The replay window (highest, bitmap) of a ring that has sent nothing yet and starts at ``counter_start``.

    The resolver looks for a ring's frames only just above its highest counter (SPEC 7.3), so the window must sit
    just below the first counter or the ring's first alarm is never recognised. Every counter below the start is
    marked as used: the ring never sends one, and a frame that has one was recorded from the ring's life before
    it was re-provisioned with the same key.
    """
    highest = counter_start - 1
    return highest, (1 << min(highest - COUNTER_MIN + 1, REPLAY_WINDOW)) - 1


class ResponderIn(_In):
    name: str = Field(max_length=120)
    language: Literal["nl", "en"] = "nl"
    skills: list[Literal["patrol", "first_aid", "security"]] = []
    shift: str | None = Field(None, pattern=r"^[0-9]{2}:[0-9]{2}-[0-9]{2}:[0-9]{2}$")
    team: str | None = Field(None, min_length=1, max_length=64, description="a patrol zone may be bound to it")

    @field_validator("shift")
    @classmethod
    def _clock_times(cls, v: str | None) -> str | None:
        # Assignment reads the shift at every alarm: a "25:00" stored here would fail every alarm after it.
        if v is not None:
            for part in v.split("-"):
                time.fromisoformat(part)
        return v


class DutyIn(_In):
    on_duty: bool
    lat: float | None = Field(None, ge=-90, le=90)
    lon: float | None = Field(None, ge=-180, le=180)


class GatewayIn(_In):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class PushKeys(_In):
    p256dh: str = Field(max_length=200, pattern=r"^[A-Za-z0-9_-]+=*$")
    auth: str = Field(max_length=64, pattern=r"^[A-Za-z0-9_-]+=*$")


class PushSubscriptionIn(_In):
    """What the browser's PushSubscription.toJSON() gives."""

    endpoint: str = Field(max_length=1024, pattern=r"^https?://")
    keys: PushKeys


class AcceptIn(_In):
    eta_min: int = Field(0, ge=0, le=255)


class AssignIn(_In):
    responder: str = Field(max_length=120, description="A responder id from GET /api/v1/responders.")


class PlaceIn(_In):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class ResolveIn(_In):
    referral: str | None = Field(None, max_length=64, description="An id from GET /api/v1/referrals.")

    @field_validator("referral")
    @classmethod
    def _known(cls, v: str | None) -> str | None:
        if v is not None and v not in REFERRALS:
            raise ValueError("unknown referral; see /api/v1/referrals")
        return v


class IncidentIn(_In):
    """A phone call an operator logs: who called, what they ask for, and where."""

    kind: Literal["escort", "worried", "emergency"] = Field(
        description="escort: walk me home (the patrol); worried: a welfare check by the patrol; emergency: as an SOS"
    )
    callback_number: str = Field(
        min_length=6,
        max_length=32,
        pattern=r"^\+?[0-9][0-9 ()./-]*$",
        description="the number to call back: digits, an optional leading +, spaces, dashes, dots or brackets;"
        " 6 to 15 digits",
    )
    caller_name: str | None = Field(None, max_length=120)
    lat: float | None = Field(None, ge=-90, le=90, description="a point on the map, with lon")
    lon: float | None = Field(None, ge=-180, le=180)
    address: str | None = Field(
        None,
        max_length=200,
        description="as the caller said it, stored and shown; not geocoded: an incident with an address and no"
        " lat/lon has no position until an operator places it",
    )
    notes: str | None = Field(None, max_length=2000)

    @field_validator("callback_number")
    @classmethod
    def _digits(cls, v: str) -> str:
        digits = sum(c.isdigit() for c in v)
        if not 6 <= digits <= 15:
            raise ValueError("a phone number has 6 to 15 digits")
        return v.strip()

    @field_validator("caller_name", "address", "notes")
    @classmethod
    def _blank_is_none(cls, v: str | None) -> str | None:
        return v.strip() or None if v is not None else None

    @model_validator(mode="after")
    def _where(self) -> "IncidentIn":
        if (self.lat is None) != (self.lon is None):
            raise ValueError("lat and lon go together")
        if self.lat is None and self.address is None:
            raise ValueError("where: lat and lon, or an address, or both")
        return self

    def call(self) -> intake.Call:
        return intake.Call(
            self.kind, self.callback_number, self.caller_name, self.lat, self.lon, self.address, self.notes
        )


def _dispatcher(request: Request) -> Dispatcher:
    d: Dispatcher = request.app.state.dispatcher
    return d


D = Annotated[Dispatcher, Depends(_dispatcher)]


async def _act(d: Dispatcher, fn: Any, *args: Any, **kwargs: Any) -> None:
    try:
        await d.act(fn, *args, **kwargs)
    except actions.ActionError as e:
        raise HTTPException(status.HTTP_409_CONFLICT, str(e)) from None


def _names(d: Dispatcher) -> Callable[[str], str]:
    """A responder's name by id, looked up when asked: the stream asks on every push, and most name nobody."""
    responders, former = d.state.responders, d.state.former

    def name(rid: str) -> str:
        r = responders.get(rid)
        return former.get(rid, rid) if r is None else r.name  # a removed responder still named where they came

    return name


def _offered(d: Dispatcher, who: Principal, incident_id: str) -> None:
    """A responder acts only on an incident offered to them or accepted by them; any other is as good as absent
    (404, as GET answers), so that incident ids, which are guessable, reveal nothing and cannot be taken over."""
    inc = d.state.incidents.get(incident_id)
    if inc is None or not visible_to(who, inc.to_dict()):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such incident")


router = APIRouter(prefix="/api/v1")


@router.post("/devices", status_code=201, tags=["devices"], responses={**BODY, **_refusals(409)})
async def add_device(body: DeviceIn, d: D, _: Provisioner) -> dict[str, Any]:
    """Register a key ring from the record `nightwatch provision` prints. A removed ring's id may be registered
    again, with a counter start above every counter it used (409 says which): its incidents keep their ids, and
    no recording of its old frames is ever taken for a new one."""
    key = parse_root_key(body.root_key)
    highest, bitmap = _window_before(body.counter_start)
    if not await d.store.add_device(body.device_id, key, body.label, now_ms(), highest, bitmap):
        await roster_devices.readd_device(d, body.device_id, key, body.label, highest, bitmap)
    d.state.resolver.add(body.device_id, key, highest, bitmap)
    d.state.devices.setdefault(body.device_id, DeviceInfo())  # on the board's registry (and its card) at once
    await d.registry_changed("device", {"device_id": body.device_id})
    await d.carry_out(roster.shown("device", {"id": body.device_id}))
    return {"device_id": body.device_id, "label": body.label}


@router.delete("/devices/{device_id}", status_code=204, tags=["devices"], responses={**AUTH, **_refusals(404)})
async def remove_device(device_id: DeviceId, d: D, _: Provisioner) -> Response:
    """Remove a key ring: it leaves every list, its key is wiped, its frames are refused from now on (counted as
    `unknown_device`). Its incidents stay, an open one too: someone pressed for help."""
    await roster_devices.remove_device(d, device_id)
    return Response(status_code=204)


@router.get("/devices", tags=["devices"], responses=AUTH)
async def list_devices(d: D, _: Operator) -> list[dict[str, Any]]:
    return [
        {
            "device_id": dev_id,
            "last_seen_ms": info.last_seen_ms or None,
            "battery": info.battery,
            "heartbeat_min": info.heartbeat_min,
        }
        for dev_id, info in sorted(d.state.devices.items())
    ]


@router.get("/gateways", tags=["gateways"], responses=AUTH)
async def list_gateways(d: D, _: Operator) -> list[dict[str, Any]]:
    return [
        {"id": g.id, "lat": g.lat, "lon": g.lon, "online": g.online, "changed_ms": g.changed_ms}
        for g in d.state.gateways.values()
    ]


@router.put("/gateways/{gateway_id}", tags=["gateways"], responses=BODY)
async def put_gateway(gateway_id: GatewayId, body: GatewayIn, d: D, _: Operator) -> dict[str, Any]:
    """Add a gateway at a position, move one, or add a removed one again."""
    gw = d.state.gateways.get(gateway_id)
    eff = actions.gateway_status(d.state, gateway_id, gw.online if gw else False, body.lat, body.lon, now_ms())
    await d.carry_out(eff)
    gw = d.state.gateways[gateway_id]
    await d.store.save_gateway(gw)
    if gateway_id in d.state.removed_gateways:
        await roster_store.restore_gateway(d.store, gateway_id)
        d.state.removed_gateways.discard(gateway_id)
    await d.registry_changed("gateway", dataclasses.asdict(gw))
    return {"id": gateway_id, "lat": body.lat, "lon": body.lon}


@router.get("/responders", tags=["responders"], responses=AUTH)
async def list_responders(d: D, _: Operator) -> list[dict[str, Any]]:
    return [r.to_dict() for r in d.state.responders.values()]


@router.put("/responders/{responder_id}", tags=["responders"], responses=BODY)
async def put_responder(responder_id: ResponderId, body: ResponderIn, d: D, _: Operator) -> dict[str, Any]:
    """Add a responder or edit one; a removed responder's id brings them back (off duty, as any new one)."""
    r = d.state.responders.get(responder_id) or Responder(responder_id, body.name)
    r.name, r.language, r.skills, r.shift = body.name, body.language, list(body.skills), body.shift
    r.team = body.team
    d.state.responders[responder_id] = r
    await d.store.save_responder(r)
    if d.state.former.pop(responder_id, None) is not None:
        await roster_store.restore_responder(d.store, responder_id)  # a removed responder back on the patrol
    await d.registry_changed("responder", dataclasses.asdict(r))
    await d.carry_out(roster.shown("responder", {"id": responder_id}))
    return r.to_dict()


@router.put("/me/duty", tags=["responders"], responses={**BODY, **_refusals(404)})
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


@router.post("/incidents/{incident_id}/seen", tags=["incidents"], responses={**AUTH, **_refusals(404)})
async def seen(incident_id: str, request: Request, d: D, who: RespondingOnly) -> dict[str, str]:
    """The responder's phone showed the alarm: its push needs no more retries."""
    _offered(d, who, incident_id)
    notifier: Notifier | None = request.app.state.notifier
    if notifier is not None:
        notifier.seen.add((incident_id, who.responder_id or ""))
    return {"status": "seen"}


@router.post("/incidents", status_code=201, tags=["incidents"], responses=BODY)
async def new_incident(body: IncidentIn, request: Request, d: D, who: Operator) -> dict[str, Any]:
    """Log a phone call as an incident: offered at once to the nearest on-duty responders, as a key ring's alarm
    is. The callback number is shown to operators and to the responder who accepts, to nobody else."""
    new_id = await open_intake(request, d, body.call(), who.operator)
    return d.state.incidents[new_id].to_dict()


async def open_intake(request: Request, d: Dispatcher, call: intake.Call, operator: str | None) -> str:
    """Open an incident for a request without a ring (a phone call, the walk-me-home page, the telephony hook)
    and return its id."""
    at = now_ms()
    ids: intake.IntakeIds = request.app.state.intake_ids
    while True:
        new_id = ids.next(at)
        try:
            await d.act(intake.open_call, new_id, call, operator, at, d.pipeline)
        except intake.IdTakenError:
            continue  # the next id is a larger one: this ends
        except actions.ActionError as e:
            raise HTTPException(status.HTTP_409_CONFLICT, str(e)) from None
        return new_id


StateName = Literal["open", "offered", "accepted", "on_the_way", "resolved", "cancelled", "escalated"]
# The last millisecond of the year 9999: a time the export can write as a date.
MAX_MS = 253_402_300_799_999
Ms = Annotated[int | None, Query(ge=0, le=MAX_MS, description="Unix time in milliseconds")]
NEXT_CURSOR = "X-Next-Cursor"


@router.get("/incidents", tags=["incidents"], responses={**AUTH, 422: {"description": "a bad parameter or cursor"}})
async def list_incidents(
    d: D,
    who: Anyone,
    response: Response,
    active: bool = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query(max_length=200, description=f"from the previous page's {NEXT_CURSOR}")] = None,
    state: Annotated[list[StateName] | None, Query(description="repeat for several")] = None,
    kind: Literal["sos", "escort", "worried"] | None = None,
    from_ms: Ms = None,
    to_ms: Annotated[int | None, Query(ge=0, le=MAX_MS, description="opened before; Unix ms")] = None,
    device_id: Annotated[int | None, Query(ge=0, le=2**63 - 1, description="the ring (or intake device)")] = None,
    q: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=100,
            description="in the id, the caller's name and number, the address, the notes and the destination; any case",
        ),
    ] = None,
) -> list[dict[str, Any]]:
    """Incidents newest first (by opened_ms, then id), ``limit`` to a page, from the whole database however old.
    A full page sends the next page's cursor in the ``X-Next-Cursor`` header; the last page sends none. A
    responder sees only the incidents offered to them or accepted by them."""
    # Memory is ahead of the disk by at most one group commit, and pushes go out before the commit: its incidents
    # join the page, so a client that reacts to a push always finds what the push announced.
    try:
        after = None if cursor is None else incident_log.decode_cursor(cursor)
    except ValueError:
        raise _invalid("cursor", "not a cursor this service gave", cursor) from None
    filters = incident_log.Filters(frozenset(state or ()), kind, from_ms, to_ms, device_id, q, active)
    operator = who.role == "operator"
    keep = None if operator else lambda doc: visible_to(who, doc)
    docs, nxt = await incident_log.page(
        d.store,
        filters,
        limit,
        after,
        live=_live_page(d, filters, limit, after, keep),
        keep=keep,
        responder_id=None if operator else who.responder_id or "",
        live_ids=d.state.incidents.keys(),
    )
    if nxt is not None:
        response.headers[NEXT_CURSOR] = incident_log.encode_cursor(nxt)
    name = _names(d)
    return [incident_view(who, doc, name) for doc in docs]


def _invalid(param: str, msg: str, value: object) -> RequestValidationError:
    """A query parameter refused after parsing, in the same 422 shape as those refused by their declaration."""
    return RequestValidationError([{"type": "value_error", "loc": ("query", param), "msg": msg, "input": value}])


def _live_page(
    d: Dispatcher,
    filters: incident_log.Filters,
    limit: int,
    after: incident_log.Key | None,
    keep: Callable[[dict[str, Any]], bool] | None,
) -> list[dict[str, Any]]:
    """Memory's first ``limit`` incidents after ``after`` that the page may show: a page needs no more of them,
    and memory may hold thousands (escalated ones nobody closed stay there)."""
    out: list[dict[str, Any]] = []
    for inc in sorted(d.state.incidents.values(), key=lambda i: (i.opened_ms, i.id), reverse=True):
        if after is not None and (inc.opened_ms, inc.id) >= after:
            continue
        doc = inc.to_dict()
        if filters.matches(doc) and (keep is None or keep(doc)):
            out.append(doc)
            if len(out) == limit:
                break
    return out


@router.get(
    "/incidents/export",
    tags=["incidents"],
    responses={**AUTH, 200: {"content": {"text/csv": {}, "application/json": {}}}},
    response_class=StreamingResponse,
)
async def export_incidents(
    d: D,
    _: Operator,
    from_ms: Annotated[int, Query(ge=0, le=MAX_MS, description="opened at or after; Unix ms")],
    to_ms: Annotated[int, Query(ge=0, le=MAX_MS, description="opened before; Unix ms")],
    format: Literal["csv", "json"] = "json",
) -> StreamingResponse:
    """Every incident opened in [from_ms, to_ms), oldest first, with its log. JSON: a list of {incident, events,
    receptions, retention_passed}. CSV: one row per incident, its log in the last column. An incident past
    retention (not changed for ``retention_days``) is exported without its location, address, destination,
    receptions and ``located`` entries, as the retention purge leaves it."""
    if to_ms <= from_ms:
        raise _invalid("to_ms", "must be after from_ms", to_ms)
    cutoff = now_ms() - int(d.settings.retention_days * 86_400_000)
    name = _names(d)
    chunks = incident_log.export(d.store, from_ms, to_ms, cutoff)

    async def as_json() -> AsyncIterator[bytes]:
        first = True
        yield b"["
        async for entries in chunks:
            for entry in entries:
                yield (b"" if first else b",\n") + _json.encode(entry)
                first = False
        yield b"]\n"

    async def as_csv() -> AsyncIterator[bytes]:
        yield incident_log.csv_header().encode()
        async for entries in chunks:
            yield incident_log.csv_rows(entries, name).encode()

    stem = f"nightwatch-incidents-{incident_log.iso(from_ms)[:10]}-{incident_log.iso(to_ms - 1)[:10]}"
    media = "text/csv; charset=utf-8" if format == "csv" else "application/json"
    return StreamingResponse(
        as_csv() if format == "csv" else as_json(),
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{stem}.{format}"', "Cache-Control": "no-store"},
    )


@router.get("/incidents/{incident_id}", tags=["incidents"], responses={**AUTH, **_refusals(404)})
async def get_incident(incident_id: Annotated[str, Path(max_length=64)], d: D, who: Anyone) -> dict[str, Any]:
    """One incident by id, however old: memory's copy while it is there, else the database's."""
    inc = d.state.incidents.get(incident_id)
    doc = inc.to_dict() if inc is not None else await d.store.incident(incident_id)
    if doc is None or not visible_to(who, doc):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such incident")
    view = incident_view(who, doc, _names(d))
    if who.role == "operator":
        view = {**view, "events": await d.store.incident_events(incident_id)}
    return view


@router.post("/incidents/{incident_id}/accept", tags=["incidents"], responses={**BODY, **_refusals(404, 409)})
async def accept(incident_id: str, body: AcceptIn, d: D, who: RespondingOnly) -> dict[str, Any]:
    """Accept: the key ring is sent "help on the way"."""
    _offered(d, who, incident_id)
    await _act(d, actions.accept, incident_id, who.responder_id, now_ms(), body.eta_min)
    return incident_view(who, d.state.incidents[incident_id].to_dict(), _names(d))


@router.post("/incidents/{incident_id}/decline", tags=["incidents"], responses={**AUTH, **_refusals(404, 409)})
async def decline(incident_id: str, d: D, who: RespondingOnly) -> dict[str, str]:
    _offered(d, who, incident_id)
    await _act(d, actions.decline, incident_id, who.responder_id, now_ms(), d.pipeline)
    return {"status": "declined"}


@router.post("/incidents/{incident_id}/on-the-way", tags=["incidents"], responses={**AUTH, **_refusals(404, 409)})
async def on_the_way(incident_id: str, d: D, who: RespondingOnly) -> dict[str, Any]:
    _offered(d, who, incident_id)
    await _act(d, actions.on_the_way, incident_id, who.responder_id, now_ms())
    return incident_view(who, d.state.incidents[incident_id].to_dict(), _names(d))


@router.post("/incidents/{incident_id}/arrived", tags=["incidents"], responses={**AUTH, **_refusals(404, 409)})
async def arrived(incident_id: str, d: D, who: RespondingOnly) -> dict[str, Any]:
    """The responder who accepted is with the person. A walk-me-home request's page then says so; the incident
    stays open until it is resolved. Saying it again changes nothing."""
    _offered(d, who, incident_id)
    await _act(d, actions.arrived, incident_id, who.responder_id, now_ms())
    return incident_view(who, d.state.incidents[incident_id].to_dict(), _names(d))


@router.get("/referrals", tags=["incidents"], responses=AUTH)
async def referrals(_: Anyone) -> list[dict[str, Any]]:
    """Aftercare a responder may choose when resolving, in Dutch and English."""
    return catalogue()


@router.post("/incidents/{incident_id}/resolve", tags=["incidents"], responses={**BODY, **_refusals(409)})
async def resolve(incident_id: str, body: ResolveIn, d: D, who: Anyone) -> dict[str, Any]:
    if who.role == "responder":
        inc = d.state.incidents.get(incident_id)
        if inc is None or who.responder_id not in inc.accepted_by:
            raise HTTPException(status.HTTP_403_FORBIDDEN, "only a responder who accepted can resolve")
    by = who.responder_id or "operator"
    await _act(d, actions.resolve, incident_id, by, now_ms(), body.referral)
    return incident_view(who, d.state.incidents[incident_id].to_dict(), _names(d))


@router.post("/incidents/{incident_id}/escalate", tags=["incidents"], responses={**AUTH, **_refusals(409)})
async def escalate(incident_id: str, d: D, _: Operator) -> dict[str, Any]:
    """Escalate now: the monitoring centre is told and everyone on duty nearby is offered the alarm."""
    await _act(d, operator_actions.escalate, incident_id, now_ms(), d.pipeline)
    return d.state.incidents[incident_id].to_dict()


@router.post("/incidents/{incident_id}/handover", tags=["incidents"], responses={**AUTH, **_refusals(404)})
async def handover(incident_id: str, request: Request, d: D, who: Operator) -> handover_api.HandoverOut:
    """Hand the incident over to 112, whatever its state: the script to read out, in Dutch and English, and its
    facts. Logged as `handed_to_112` with the operator, and sent to the monitoring centre (`handover_112`)."""
    return await handover_api.hand_over(d, request.app.state.notifier, incident_id, who)


@router.post("/incidents/{incident_id}/assign", tags=["incidents"], responses={**BODY, **_refusals(409)})
async def assign(incident_id: str, body: AssignIn, d: D, _: Operator) -> dict[str, Any]:
    """Offer the incident to a responder the operator chose."""
    await _act(d, operator_actions.assign, incident_id, body.responder, now_ms())
    return d.state.incidents[incident_id].to_dict()


@router.post("/incidents/{incident_id}/place", tags=["incidents"], responses={**BODY, **_refusals(409)})
async def place(incident_id: str, body: PlaceIn, d: D, who: Operator) -> dict[str, Any]:
    """Put a request without a key ring (a phone call or the walk-me-home page that gave only an address) on the
    map; if nobody has accepted it, it is offered to whoever is nearest to that point now. 409 for a ring's alarm,
    which the gateways place, and for one that is over."""
    await _act(d, operator_actions.place, incident_id, body.lat, body.lon, now_ms(), d.pipeline, who.operator)
    return d.state.incidents[incident_id].to_dict()


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

    name = _names(d)

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
    app.include_router(router)
    from basestation.dispatch.card_api import router as card_router  # here: it takes its refusals from this module

    app.include_router(card_router)
    from basestation.dispatch.registry_api import router as registry_router  # the same

    app.include_router(registry_router)
    from basestation.dispatch.walk_api import router as walk_router  # the same: it takes this module's refusals

    app.include_router(walk_router)
    from basestation.dispatch.hook_api import router as hook_router  # the same, through walk_api

    app.include_router(hook_router)
    from basestation.dispatch.zones_api import router as zones_router  # the same: it takes this module's refusals

    app.include_router(zones_router)
    from basestation.dispatch import accounts_api  # the same

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
