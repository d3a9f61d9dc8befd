"""The telephony and SMS hook: a PBX, a SIP service or an SMS provider asks for a walk home for a caller, as the
public /walk page does for a browser (docs/hooks.md).

``POST /api/v1/hooks/request`` takes a JSON body signed with a shared secret (hook_signature.py). The signature
is checked on the raw bytes before anything is parsed. The request goes through walk_api.take, so the block
list, the page's hours, the limits and one open request per number hold here as there. Every answer after the
signature carries a ``message`` in the caller's language, for the PBX to read out or the provider to send back.

A provider that did not hear the answer sends the same delivery again: its ``id`` is kept (table
hook_deliveries), and a delivery seen before answers the first one's reference and opens nothing.
"""

import json
import logging
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy import delete, select, update

from basestation.dispatch.api import walk as walk_api
from basestation.dispatch.api.base import FilledOrNone, StrictIn, check_place, dispatcher
from basestation.dispatch.core import intake, walk
from basestation.dispatch.core.hook_signature import SIGNATURE_HEADER, SignatureError, verify
from basestation.dispatch.i18n import N_, text
from basestation.dispatch.io import schema as t
from basestation.dispatch.io.store import Store
from basestation.dispatch.service import now_ms
from basestation.dispatch.settings import DispatchSettings

log = logging.getLogger("nightwatch.dispatch.hook")

router = APIRouter(prefix="/api/v1", tags=["hooks"])

MAX_BODY = 8 * 1024
# A claimed delivery with no reference after this long was being taken by a process that died: taken over.
STALE_CLAIM_MS = 60_000
DAY_MS = 86_400_000

Lang = Literal["nl", "en"]


class HookIn(StrictIn):
    """What a PBX, SIP service or SMS provider sends for a caller."""

    # A field this hook does not know is a sender built for another version: refused, not ignored.
    model_config = ConfigDict(strict=True, extra="forbid", populate_by_name=False)

    source: Literal["telephony", "sms"] = Field(description="a call (PBX, SIP) or a text message")
    from_: str = Field(
        alias="from", min_length=1, max_length=32, description="the caller's number, as the provider gives it"
    )
    kind: Literal["escort", "worried", "emergency"] = Field(
        "escort", description="escort: walk me home; worried: a welfare check; emergency: as an SOS"
    )
    name: FilledOrNone = Field(None, max_length=80, description="how the patrol member will greet them")
    text: FilledOrNone = Field(None, max_length=1000, description="the text message or the call's transcript")
    where: FilledOrNone = Field(None, max_length=200, description="where they are, in words")
    lat: float | None = Field(None, ge=-90, le=90, description="where they are, with lon")
    lon: float | None = Field(None, ge=-180, le=180)
    destination: FilledOrNone = Field(None, max_length=200, description="where they are going")
    lang: Lang = Field("nl", description="the language of the answer's message")
    id: str = Field(
        min_length=1, max_length=100, description="the provider's message or call id; sent again, it opens nothing new"
    )

    @field_validator("id")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be blank")
        return v

    @model_validator(mode="after")
    def _located(self) -> "HookIn":
        check_place(self.lat, self.lon, self.where)
        return self


class HookAnswer(BaseModel):
    reference: str = Field(description="the request's reference, as the walk-me-home page gives it")
    status: str = Field(description="looking, nobody, coming, arrived, done or cancelled (docs/walk.md)")
    message: str = Field(description="for the caller, in their language: to read out or to send back")


class HookProblem(BaseModel):
    detail: str
    message: str | None = Field(None, description="for the caller, in their language, when there is one to tell")


def _problem(description: str) -> dict[str, Any]:
    return {"model": HookProblem, "description": description}


RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": HookAnswer, "description": "a delivery seen before: the request it opened, nothing new"},
    401: _problem("no signature, a malformed one, one that matches no secret, or one outside the 300 s window"),
    403: _problem("the number is blocked"),
    404: _problem("the hook is off (no hook secret configured)"),
    409: _problem("outside the patrol's hours (closed: ...), or a request of this number still open (open: ...)"),
    413: _problem("a body over 8 KiB"),
    422: _problem("not JSON, or a field missing, unknown or out of bounds"),
    429: _problem("too many requests from this number in the last hour"),
    503: _problem("the same delivery is being taken right now: send it again in a moment"),
}

# What the caller is told, by what happened (the words: hook.* in the web app's catalogues). {ref}: the reference;
# {phone}: the patrol's number; {hours}: the page's hours, when it has any. Every refusal says where to turn
# instead, and that 112 is for emergencies.
MESSAGES: dict[str, str] = {
    "taken": N_("hook.taken"),
    "nobody": N_("hook.nobody"),
    "over": N_("hook.over"),
    "blocked": N_("hook.blocked"),
    "closed": N_("hook.closed"),
    "limit": N_("hook.limit"),
    "open": N_("hook.open"),
    "no_number": N_("hook.no_number"),
    "failed": N_("hook.failed"),
}


def message(what: str, lang: Lang, s: DispatchSettings, reference: str = "") -> str:
    hours = text(lang, "hook.hours", h=s.walk_hours) if s.walk_hours else ""
    return text(lang, MESSAGES[what], ref=reference, phone=s.patrol_phone, hours=hours)


def _why(e: HTTPException) -> str:
    """Which refusal walk_api.take made, from the detail it gives the page."""
    detail = str(e.detail)
    if e.status_code == status.HTTP_429_TOO_MANY_REQUESTS:
        return "limit"
    for what in ("blocked", "closed", "open"):
        if detail.startswith(what + ":"):
            return what
    return "failed"


class HookDeliveries:
    """The provider's delivery ids, each claimed once: the first delivery is taken, any other answers its
    reference. In the database, so that replicas behind one address and a restart agree."""

    def __init__(self, store: Store, keep_ms: int) -> None:
        self.store = store
        self.keep_ms = keep_ms

    async def claim(self, source: str, delivery_id: str, now: int) -> tuple[bool, str | None]:
        """(True, None): this call takes the delivery and must ``settle`` or ``release`` it. (False, reference):
        taken before; reference None while another call is still taking it."""
        h = t.hook_deliveries
        key = (h.c.source == source) & (h.c.delivery_id == delivery_id)
        async with self.store.engine.begin() as conn:
            # Older than any retry a provider makes; kept as long as the requests are (retention_days).
            await conn.execute(delete(h).where(h.c.created_ms < now - self.keep_ms))
            stmt = (
                self.store._insert(h)
                .values(source=source, delivery_id=delivery_id, reference=None, created_ms=now)
                .on_conflict_do_nothing()
                .returning(h.c.delivery_id)
            )
            if (await conn.execute(stmt)).first() is not None:
                return True, None
            row = (await conn.execute(select(h.c.reference, h.c.created_ms).where(key))).first()
            if row is None or row.reference is not None:
                return False, None if row is None else row.reference
            if row.created_ms >= now - STALE_CLAIM_MS:
                return False, None
            took = await conn.execute(
                update(h).where(key, h.c.reference.is_(None), h.c.created_ms == row.created_ms).values(created_ms=now)
            )
            return bool(took.rowcount), None

    async def settle(self, source: str, delivery_id: str, reference: str) -> None:
        h = t.hook_deliveries
        async with self.store.engine.begin() as conn:
            await conn.execute(
                update(h).where(h.c.source == source, h.c.delivery_id == delivery_id).values(reference=reference)
            )

    async def release(self, source: str, delivery_id: str) -> None:
        """The delivery was refused: a retry is judged again (the page may have opened since, say)."""
        h = t.hook_deliveries
        async with self.store.engine.begin() as conn:
            await conn.execute(
                delete(h).where(h.c.source == source, h.c.delivery_id == delivery_id, h.c.reference.is_(None))
            )


def _deliveries(request: Request) -> HookDeliveries:
    hd: HookDeliveries | None = getattr(request.app.state, "hook_deliveries", None)
    if hd is None:
        d = dispatcher(request)
        hd = HookDeliveries(d.store, int(d.settings.retention_days * DAY_MS))
        request.app.state.hook_deliveries = hd
    return hd


def _refuse(
    request: Request, code: int, why: str, detail: str, msg: str | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    walk_api.count_refusal(request, why)
    body: dict[str, Any] = {"detail": detail}
    if msg is not None:
        body["message"] = msg
    return JSONResponse(body, status_code=code, headers=headers)


async def _raw_body(request: Request) -> bytes | None:
    """The body, or None when it is over MAX_BODY: read no further than that, whatever Content-Length says."""
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > MAX_BODY:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _lang_of(raw: bytes) -> Lang:
    """The language a refused body asked for, when it can be read at all: the caller is told in it."""
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError):  # 8 KiB of "[" is deeper than the parser goes
        return "nl"
    lang = doc.get("lang") if isinstance(doc, dict) else None
    return "en" if lang == "en" else "nl"


def _fields(e: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or 'body'}: {err['msg']}"
        for err in e.errors(include_url=False, include_context=False, include_input=False)
    )


async def _answer(request: Request, reference: str, lang: Lang) -> tuple[str, str]:
    """The request's status as its person would read it, and what to tell them."""
    d = dispatcher(request)
    row = await walk_api.walk_store(request).get(reference)
    state = "done" if row is None else (await walk_api.request_view(d, row, lang))["status"]
    what = {"nobody": "nobody", "done": "over", "cancelled": "over"}.get(state, "taken")
    return state, message(what, lang, d.settings, reference)


_SIGNATURE_DOC = {
    "parameters": [
        {
            "name": SIGNATURE_HEADER,
            "in": "header",
            "required": True,
            "description": "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, '<t>.' + body)>; several v1= allowed",
            "schema": {"type": "string", "maxLength": 2048},
        }
    ],
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": HookIn.model_json_schema(by_alias=True)}},
    },
}


@router.post(
    "/hooks/request",
    status_code=201,
    response_model=HookAnswer,
    responses=RESPONSES,
    openapi_extra=_SIGNATURE_DOC,
)
async def hook_request(request: Request) -> Any:
    """A walk-me-home request from a PBX, SIP service or SMS provider, signed (docs/hooks.md). Answers the
    reference and a message for the caller; the same ``id`` again answers the same (200) and opens nothing.
    Refused as the page is (403, 409, 429), with a message for the caller; 401 a bad signature, 404 the hook off,
    413 over 8 KiB, 422 bad JSON or fields, 503 the same delivery being taken at this moment."""
    d = dispatcher(request)
    s = d.settings
    if not s.hook_secrets:
        # As if there were no such route: an unconfigured hook tells a prober nothing.
        return JSONResponse({"detail": "Not Found"}, status_code=status.HTTP_404_NOT_FOUND)
    raw = await _raw_body(request)
    if raw is None:
        return _refuse(request, status.HTTP_413_CONTENT_TOO_LARGE, "too_large", f"over {MAX_BODY} bytes")
    try:
        verify([x.get_secret_value() for x in s.hook_secrets], raw, request.headers.get(SIGNATURE_HEADER))
    except SignatureError as e:
        return _refuse(request, status.HTTP_401_UNAUTHORIZED, "signature", f"signature: {e}")
    try:
        body = HookIn.model_validate_json(raw)
    except ValidationError as e:
        lang = _lang_of(raw)
        return _refuse(request, 422, "invalid", _fields(e), message("failed", lang, s))
    try:
        phone = walk.normalize_phone(body.from_, s.phone_country_code)
    except walk.PhoneError as e:
        return _refuse(request, 422, "invalid", f"from: {e}", message("no_number", body.lang, s))

    hd = _deliveries(request)
    mine, reference = await hd.claim(body.source, body.id, now_ms())
    if not mine:
        if reference is None:
            msg = message("failed", body.lang, s)
            return _refuse(request, 503, "busy", "busy: this id is being taken now", msg, {"Retry-After": "2"})
        state, msg = await _answer(request, reference, body.lang)
        log.info("hook delivery %s/%s sent again: %s", body.source, body.id, reference)
        return JSONResponse({"reference": reference, "status": state, "message": msg}, status_code=200)

    call = intake.Call(
        kind=body.kind,
        callback_number=phone,
        caller_name=body.name,
        lat=body.lat,
        lon=body.lon,
        address=body.where,
        notes=body.text,
        source=body.source,
        destination=body.destination,
    )
    try:
        reference, _, _ = await walk_api.take(request, walk_api.NewRequest(call, phone, None, body.lang))
    except HTTPException as e:
        await hd.release(body.source, body.id)
        return JSONResponse(
            {"detail": str(e.detail), "message": message(_why(e), body.lang, s)},
            status_code=e.status_code,
            headers=e.headers,
        )
    except Exception:
        await hd.release(body.source, body.id)
        raise
    await hd.settle(body.source, body.id, reference)
    state, msg = await _answer(request, reference, body.lang)
    return HookAnswer(reference=reference, status=state, message=msg)
