"""Incidents under /api/v1: a phone call logged as one, the list however old with its filters, search and export,
one by id, and what responders and operators do to them."""

from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any, Literal

import msgspec
from fastapi import APIRouter, HTTPException, Path, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse
from pydantic import Field, field_validator, model_validator

from basestation.dispatch.api import handover as handover_api
from basestation.dispatch.api.auth import Anyone, Operator
from basestation.dispatch.api.base import (
    AUTH,
    BODY,
    MAX_MS,
    D,
    FilledOrNone,
    RespondingOnly,
    StrictIn,
    act,
    check_place,
    offered_only,
    open_intake,
    refusals,
    responder_names,
)
from basestation.dispatch.api.views import incident_view, visible_to
from basestation.dispatch.core import actions, intake, operator_actions
from basestation.dispatch.core.referrals import REFERRALS, catalogue
from basestation.dispatch.io import incident_log
from basestation.dispatch.io.notify import Notifier
from basestation.dispatch.service import Dispatcher, now_ms

_json = msgspec.json.Encoder()
router = APIRouter(prefix="/api/v1")


class AcceptIn(StrictIn):
    eta_min: int = Field(0, ge=0, le=255)


class AssignIn(StrictIn):
    responder: str = Field(max_length=120, description="A responder id from GET /api/v1/responders.")


class PlaceIn(StrictIn):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class ResolveIn(StrictIn):
    referral: str | None = Field(None, max_length=64, description="An id from GET /api/v1/referrals.")

    @field_validator("referral")
    @classmethod
    def _known(cls, v: str | None) -> str | None:
        if v is not None and v not in REFERRALS:
            raise ValueError("unknown referral; see /api/v1/referrals")
        return v


class IncidentIn(StrictIn):
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
    caller_name: FilledOrNone = Field(None, max_length=120)
    lat: float | None = Field(None, ge=-90, le=90, description="a point on the map, with lon")
    lon: float | None = Field(None, ge=-180, le=180)
    address: FilledOrNone = Field(
        None,
        max_length=200,
        description="as the caller said it, stored and shown; not geocoded: an incident with an address and no"
        " lat/lon has no position until an operator places it",
    )
    notes: FilledOrNone = Field(None, max_length=2000)

    @field_validator("callback_number")
    @classmethod
    def _digits(cls, v: str) -> str:
        digits = sum(c.isdigit() for c in v)
        if not 6 <= digits <= 15:
            raise ValueError("a phone number has 6 to 15 digits")
        return v.strip()

    @model_validator(mode="after")
    def _where(self) -> "IncidentIn":
        check_place(self.lat, self.lon, self.address, "where: lat and lon, or an address, or both")
        return self

    def call(self) -> intake.Call:
        return intake.Call(
            self.kind, self.callback_number, self.caller_name, self.lat, self.lon, self.address, self.notes
        )


@router.post("/incidents/{incident_id}/seen", tags=["incidents"], responses={**AUTH, **refusals(404)})
async def seen(incident_id: str, request: Request, d: D, who: RespondingOnly) -> dict[str, str]:
    """The responder's phone showed the alarm: its push needs no more retries."""
    offered_only(d, who, incident_id)
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


StateName = Literal["open", "offered", "accepted", "on_the_way", "resolved", "cancelled", "escalated"]
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
    name = responder_names(d)
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
    name = responder_names(d)
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


@router.get("/incidents/{incident_id}", tags=["incidents"], responses={**AUTH, **refusals(404)})
async def get_incident(incident_id: Annotated[str, Path(max_length=64)], d: D, who: Anyone) -> dict[str, Any]:
    """One incident by id, however old: memory's copy while it is there, else the database's."""
    inc = d.state.incidents.get(incident_id)
    doc = inc.to_dict() if inc is not None else await d.store.incident(incident_id)
    if doc is None or not visible_to(who, doc):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such incident")
    view = incident_view(who, doc, responder_names(d))
    if who.role == "operator":
        view = {**view, "events": await d.store.incident_events(incident_id)}
    return view


@router.post("/incidents/{incident_id}/accept", tags=["incidents"], responses={**BODY, **refusals(404, 409)})
async def accept(incident_id: str, body: AcceptIn, d: D, who: RespondingOnly) -> dict[str, Any]:
    """Accept: the key ring is sent "help on the way"."""
    offered_only(d, who, incident_id)
    await act(d, actions.accept, incident_id, who.responder_id, now_ms(), body.eta_min)
    return incident_view(who, d.state.incidents[incident_id].to_dict(), responder_names(d))


@router.post("/incidents/{incident_id}/decline", tags=["incidents"], responses={**AUTH, **refusals(404, 409)})
async def decline(incident_id: str, d: D, who: RespondingOnly) -> dict[str, str]:
    offered_only(d, who, incident_id)
    await act(d, actions.decline, incident_id, who.responder_id, now_ms(), d.pipeline)
    return {"status": "declined"}


@router.post("/incidents/{incident_id}/on-the-way", tags=["incidents"], responses={**AUTH, **refusals(404, 409)})
async def on_the_way(incident_id: str, d: D, who: RespondingOnly) -> dict[str, Any]:
    offered_only(d, who, incident_id)
    await act(d, actions.on_the_way, incident_id, who.responder_id, now_ms())
    return incident_view(who, d.state.incidents[incident_id].to_dict(), responder_names(d))


@router.post("/incidents/{incident_id}/arrived", tags=["incidents"], responses={**AUTH, **refusals(404, 409)})
async def arrived(incident_id: str, d: D, who: RespondingOnly) -> dict[str, Any]:
    """The responder who accepted is with the person. A walk-me-home request's page then says so; the incident
    stays open until it is resolved. Saying it again changes nothing."""
    offered_only(d, who, incident_id)
    await act(d, actions.arrived, incident_id, who.responder_id, now_ms())
    return incident_view(who, d.state.incidents[incident_id].to_dict(), responder_names(d))


@router.get("/referrals", tags=["incidents"], responses=AUTH)
async def referrals(_: Anyone) -> list[dict[str, Any]]:
    """Aftercare a responder may choose when resolving, in Dutch and English."""
    return catalogue()


@router.post("/incidents/{incident_id}/resolve", tags=["incidents"], responses={**BODY, **refusals(409)})
async def resolve(incident_id: str, body: ResolveIn, d: D, who: Anyone) -> dict[str, Any]:
    if who.role == "responder":
        inc = d.state.incidents.get(incident_id)
        if inc is None or who.responder_id not in inc.accepted_by:
            raise HTTPException(status.HTTP_403_FORBIDDEN, "only a responder who accepted can resolve")
    by = who.responder_id or "operator"
    await act(d, actions.resolve, incident_id, by, now_ms(), body.referral, who.operator)
    return incident_view(who, d.state.incidents[incident_id].to_dict(), responder_names(d))


@router.post("/incidents/{incident_id}/escalate", tags=["incidents"], responses={**AUTH, **refusals(409)})
async def escalate(incident_id: str, d: D, who: Operator) -> dict[str, Any]:
    """Escalate now: the monitoring centre is told and everyone on duty nearby is offered the alarm."""
    await act(d, operator_actions.escalate, incident_id, now_ms(), d.pipeline, who.operator)
    return d.state.incidents[incident_id].to_dict()


@router.post("/incidents/{incident_id}/handover", tags=["incidents"], responses={**AUTH, **refusals(404)})
async def handover(incident_id: str, request: Request, d: D, who: Operator) -> handover_api.HandoverOut:
    """Hand the incident over to 112, whatever its state: the script to read out, in Dutch and English, and its
    facts. Logged as `handed_to_112` with the operator, and sent to the monitoring centre (`handover_112`)."""
    return await handover_api.hand_over(d, request.app.state.notifier, incident_id, who)


@router.post("/incidents/{incident_id}/assign", tags=["incidents"], responses={**BODY, **refusals(409)})
async def assign(incident_id: str, body: AssignIn, d: D, _: Operator) -> dict[str, Any]:
    """Offer the incident to a responder the operator chose."""
    await act(d, operator_actions.assign, incident_id, body.responder, now_ms())
    return d.state.incidents[incident_id].to_dict()


@router.post("/incidents/{incident_id}/place", tags=["incidents"], responses={**BODY, **refusals(409)})
async def place(incident_id: str, body: PlaceIn, d: D, who: Operator) -> dict[str, Any]:
    """Put a request without a key ring (a phone call or the walk-me-home page that gave only an address) on the
    map; if nobody has accepted it, it is offered to whoever is nearest to that point now. 409 for a ring's alarm,
    which the gateways place, and for one that is over."""
    await act(d, operator_actions.place, incident_id, body.lat, body.lon, now_ms(), d.pipeline, who.operator)
    return d.state.incidents[incident_id].to_dict()
