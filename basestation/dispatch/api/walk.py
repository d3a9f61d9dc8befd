"""Walk me home without a key ring: the public API behind /walk, and the operators' block list and hours switch.

The public routes need no token. A request answers with a short reference and a secret; reading or cancelling
the request needs the secret (header ``X-Walk-Secret``), which only the browser that asked holds. Refusals say
what to do instead, and always that 112 is the number in an emergency (docs/walk.md).

It takes the API's refusals and input base from api.py, which includes this router when it makes the app.
"""

import logging
from collections import Counter
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, HTTPException, Path, Request, status
from fastapi.exceptions import RequestValidationError
from pydantic import ConfigDict, Field, model_validator

from basestation.dispatch.api.auth import Operator
from basestation.dispatch.api.base import (
    AUTH,
    BODY,
    MAX_MS,
    Filled,
    FilledOrNone,
    StrictIn,
    check_place,
    dispatcher,
    open_intake,
    refusals,
)
from basestation.dispatch.core import actions, intake, walk
from basestation.dispatch.core.effects import Effects
from basestation.dispatch.core.geo import distance_m
from basestation.dispatch.core.incidents import Incident, State, transition
from basestation.dispatch.core.referrals import aftercare
from basestation.dispatch.core.state import DispatchState
from basestation.dispatch.io.walk_store import WalkRequest, WalkStore
from basestation.dispatch.service import Dispatcher, now_ms

log = logging.getLogger("nightwatch.dispatch.walk")

router = APIRouter(prefix="/api/v1", tags=["walk me home"])
Reference = Annotated[str, Path(pattern=r"^[A-Z0-9]{3}-[A-Z0-9]{3}$")]
Secret = Annotated[str, Header(alias="X-Walk-Secret", min_length=16, max_length=64)]
PUBLIC = refusals(404)


class WalkIn(StrictIn):
    """What the person types on the walk-me-home page."""

    # A field the page never sends is a client that does not know this form: refused, not ignored.
    model_config = ConfigDict(strict=True, extra="forbid")

    name: Filled = Field(min_length=1, max_length=80, description="how the patrol member will greet them")
    phone: str = Field(min_length=6, max_length=32, description="a number the patrol can call back")
    lat: float | None = Field(None, ge=-90, le=90, description="where they are, with lon: geolocation or a pin")
    lon: float | None = Field(None, ge=-180, le=180)
    where: FilledOrNone = Field(None, max_length=200, description="where they are, in words")
    destination: Filled = Field(min_length=1, max_length=200, description="where they are going")
    lang: Literal["nl", "en"] = "nl"
    # A honeypot: hidden from people by the page, filled in by form-filling bots.
    website: str = Field("", max_length=200, description="leave empty")

    @model_validator(mode="after")
    def _located(self) -> "WalkIn":
        nowhere = "where: lat and lon (geolocation or a pin on the map), or a place in words"
        check_place(self.lat, self.lon, self.where, nowhere)
        return self


class OverrideIn(StrictIn):
    state: Literal["open", "closed", "hours"] = Field(
        description="open or closed until until_ms; hours: back to the configured hours"
    )
    until_ms: int = Field(0, ge=0, le=MAX_MS, description="Unix ms; 0: until said otherwise")


class BlockIn(StrictIn):
    reason: str | None = Field(None, max_length=200)


@dataclass(frozen=True, slots=True)
class NewRequest:
    """A walk-me-home request from any door: the page, or the telephony hook."""

    call: intake.Call
    phone: str  # normalized (walk.normalize_phone)
    client: str | None  # the network address it came from; None from the hook
    lang: str


def walk_store(request: Request) -> WalkStore:
    """The app's walk requests, made on first use; the hook and the desk's pages read the same one."""
    ws: WalkStore | None = getattr(request.app.state, "walks", None)
    if ws is None:
        ws = request.app.state.walks = WalkStore(dispatcher(request).store)
    return ws


def count_refusal(request: Request, why: str) -> None:
    """Counted (GET /metrics) and logged: a wave of refusals is what an operator must notice."""
    refused: Counter[str] = request.app.state.walk_refused
    refused[why] += 1
    log.info("walk request refused: %s", why)


def _phone(d: Dispatcher, text: str, where: tuple[str, str]) -> str:
    """A number in its one spelling; one that is not a number is refused as any invalid field is (422, FastAPI's
    shape, ``where`` naming it), so clients read every refusal of input the same way."""
    try:
        return walk.normalize_phone(text, d.settings.phone_country_code)
    except walk.PhoneError as e:
        raise RequestValidationError([{"type": "value_error", "loc": where, "msg": str(e), "input": None}]) from None


async def hours(d: Dispatcher, ws: WalkStore) -> dict[str, Any]:
    s = d.settings
    override = await ws.override()
    opened = walk.opening(now_ms(), s.walk_hours, s.timezone, override)
    doc: dict[str, Any] = {"open": opened.open, "why": opened.why, "hours": s.walk_hours or None}
    if opened.why == "operator" and override is not None:
        doc["until_ms"] = override.until_ms or None
    doc["patrol_phone"] = s.patrol_phone
    return doc


async def take(request: Request, req: NewRequest) -> tuple[str, str, str]:
    """Check the limits, open the incident and record the request: (reference, secret, incident id). Refusals,
    in the order they are checked: 403 a blocked number, 409 closed, 429 over a limit, 409 a request of this
    number still open."""
    d, ws = dispatcher(request), walk_store(request)
    s, now = d.settings, now_ms()
    if await ws.blocked(req.phone):
        count_refusal(request, "blocked")
        raise HTTPException(status.HTTP_403_FORBIDDEN, "blocked: this number cannot ask here; in an emergency call 112")
    opened = await hours(d, ws)
    if not opened["open"]:
        count_refusal(request, "closed")
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"closed: the patrol takes requests {opened['hours'] or 'when it is on duty'}; call {s.patrol_phone},"
            " or 112 in an emergency",
        )
    by_phone, by_client = await ws.counts(req.phone, req.client, now)
    if by_phone >= s.walk_per_phone_hour or by_client >= s.walk_per_address_hour:
        count_refusal(request, "limit")
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"too many requests in the last hour; call {s.patrol_phone}, or 112 in an emergency",
            headers={"Retry-After": "3600"},
        )
    for inc_id in await ws.open_for(req.phone):
        inc = d.state.incidents.get(inc_id)
        if inc is not None and inc.active:
            count_refusal(request, "open")
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                f"open: a request for this number is still open; call {s.patrol_phone} to change it",
            )
    incident_id = await open_intake(request, d, req.call, None)
    secret = walk.new_secret()
    while True:
        reference = walk.new_reference()
        row = WalkRequest(
            reference, incident_id, walk.secret_hash(secret), req.phone, req.client, req.call.source, req.lang, now
        )
        if await ws.add(row):
            break
    log.info("walk request %s opened %s (%s)", reference, incident_id, req.call.source)
    return reference, secret, incident_id


async def _mine(request: Request, reference: str, secret: str) -> WalkRequest:
    row = await walk_store(request).get(reference)
    # A wrong secret is answered as an unknown reference: references are short, and must reveal nothing.
    if row is None or not walk.secret_matches(secret, row.secret_hash):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such request")
    return row


async def request_view(d: Dispatcher, row: WalkRequest, lang: str) -> dict[str, Any]:
    """What the person's page shows of their request now (the hook reads a caller's status from it too)."""
    inc = d.state.incidents.get(row.incident_id)
    doc = inc.to_dict() if inc is not None else await d.store.incident(row.incident_id)
    if doc is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such request")
    eta_ms, name = None, None
    if doc.get("accepted_by") and doc["state"] in ("accepted", "on_the_way"):
        r = d.state.responders.get(doc["accepted_by"][0])
        name = r.name if r is not None else None
        events = await d.store.incident_events(row.incident_id)
        accepted_ms = next((e["at_ms"] for e in events if e["kind"] == "accepted"), None)
        loc = doc.get("location")
        far = None
        if r is not None and r.lat is not None and r.lon is not None and loc:
            far = distance_m(r.lat, r.lon, loc["lat"], loc["lon"])
        eta_ms = walk.expected_ms(int(doc.get("eta_min") or 0), accepted_ms, far, now_ms())
    view = walk.person_view(doc, name, eta_ms)
    view["reference"] = row.reference
    view["patrol_phone"] = d.settings.patrol_phone
    if view["status"] == "done" and doc.get("referral"):
        view["aftercare"] = aftercare(doc["referral"], lang)
    return view


def cancel_request(st: DispatchState, incident_id: str, now_ms: int) -> Effects:
    """The person says they no longer need the walk: whoever was offered it or on the way is stood down (their
    screens follow the incident). A request already over stays as it ended."""
    inc: Incident | None = st.incidents.get(incident_id)
    if inc is None or not inc.active:
        return Effects()
    eff = Effects()
    try:
        eff.durable.append(transition(inc, State.CANCELLED, now_ms, "cancelled", by="caller"))
    except ValueError as e:
        raise actions.ActionError(str(e)) from None
    if st.open_by_device.get(inc.device_id) == inc.id:
        del st.open_by_device[inc.device_id]
    eff.snapshot(inc)
    return eff


# -- the public routes -------------------------------------------------------------------------------------------


@router.get("/walk")
async def walk_hours(request: Request) -> dict[str, Any]:
    """Whether the page takes requests now, the patrol's hours and number. No token needed."""
    return await hours(dispatcher(request), walk_store(request))


@router.post("/walk", status_code=201, responses=refusals(400, 403, 409))
async def new_walk(body: WalkIn, request: Request) -> dict[str, Any]:
    """Ask to be walked home. No token needed. Answers the reference to read out on the phone and the secret to
    follow and cancel the request with. Refused: 400 a form a person did not fill in, 403 a blocked number, 409
    outside the patrol's hours (the detail says who to call) or with a request of this number still open, 429
    over the limits per number and per address."""
    d = dispatcher(request)
    if body.website:
        count_refusal(request, "honeypot")
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "refused")
    phone = _phone(d, body.phone, ("body", "phone"))
    call = intake.Call(
        kind="escort",
        callback_number=phone,
        caller_name=body.name,
        lat=body.lat,
        lon=body.lon,
        address=body.where,
        source="walk",
        destination=body.destination,
    )
    client = request.client.host if request.client is not None else None
    reference, secret, _ = await take(request, NewRequest(call, phone, client, body.lang))
    row = await _mine(request, reference, secret)
    return {**await request_view(d, row, body.lang), "secret": secret}


@router.get("/walk/{reference}", responses=PUBLIC)
async def walk_status(
    reference: Reference, secret: Secret, request: Request, lang: Literal["nl", "en"] = "nl"
) -> dict[str, Any]:
    """The request as its person may read it: looking, nobody, coming (with the first name and when expected),
    arrived, done (with the aftercare chosen) or cancelled."""
    row = await _mine(request, reference, secret)
    return await request_view(dispatcher(request), row, lang)


@router.post("/walk/{reference}/cancel", responses=PUBLIC)
async def walk_cancel(reference: Reference, secret: Secret, request: Request) -> dict[str, Any]:
    """The person no longer needs the walk. Cancelling one already over changes nothing."""
    d = dispatcher(request)
    row = await _mine(request, reference, secret)
    await d.act(cancel_request, row.incident_id, now_ms())
    return await request_view(d, row, row.lang)


# -- the operators' side --------------------------------------------------------------------------------------


@router.put("/walk/override", responses=BODY)
async def set_override(body: OverrideIn, request: Request, who: Operator) -> dict[str, Any]:
    """Open or close the page now, until a time or until said otherwise; or back to the configured hours."""
    ws = walk_store(request)
    state = None if body.state == "hours" else body.state
    await ws.set_override(state, body.until_ms, who.operator, now_ms())
    log.info("walk page %s until %s by %s", body.state, body.until_ms or "further notice", who.operator or "operator")
    return await hours(dispatcher(request), ws)


@router.get("/blocked-numbers", responses=AUTH)
async def blocked_numbers(request: Request, _: Operator) -> list[dict[str, object]]:
    return await walk_store(request).blocks()


@router.put("/blocked-numbers/{phone}", responses=BODY)
async def block_number(
    phone: Annotated[str, Path(max_length=32)], body: BlockIn, request: Request, who: Operator
) -> dict[str, object]:
    """Refuse walk-me-home requests from this number, on the page and through the telephony hook."""
    d = dispatcher(request)
    number = _phone(d, phone, ("path", "phone"))
    await walk_store(request).block(number, body.reason, who.operator, now_ms())
    return {"phone": number, "blocked": True}


@router.delete("/blocked-numbers/{phone}", responses={**AUTH, **refusals(404)})
async def unblock_number(
    phone: Annotated[str, Path(max_length=32)], request: Request, _: Operator
) -> dict[str, object]:
    number = _phone(dispatcher(request), phone, ("path", "phone"))
    if not await walk_store(request).unblock(number):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not blocked")
    return {"phone": number, "blocked": False}
