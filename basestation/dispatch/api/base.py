"""What every router of the HTTP API shares: its refusals (declared in the OpenAPI document), strict request bodies,
the dispatcher as a dependency, bounded path parameters, and opening an incident for a request without a ring.
Every router imports this, and api.py, which makes the app, imports every router: no cycle."""

from collections.abc import Callable
from datetime import time
from typing import Annotated, Any, Literal

from fastapi import Depends, HTTPException, Path, Request, status
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from basestation.dispatch.api.auth import Principal, require
from basestation.dispatch.api.views import visible_to
from basestation.dispatch.core import actions, intake
from basestation.dispatch.service import Dispatcher, now_ms

# The last millisecond of the year 9999: the latest time a date can be written for, and far inside the database's
# BIGINT, which a larger number in a body would overflow (a 500 where a 422 is due).
MAX_MS = 253_402_300_799_999
RespondingOnly = Annotated[Principal, Depends(require("responder"))]
# Path parameters bounded as the database columns are, so an oversized one is a 422, never a database error.
DeviceId = Annotated[int, Path(ge=0, le=0xFFFFFFFF)]
GatewayId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
ResponderId = Annotated[str, Path(min_length=1, max_length=64)]


class Problem(BaseModel):
    """Every refusal the service makes itself (not input validation, which answers 422 with its own shape)."""

    detail: str


def refusals(*codes: int) -> dict[int | str, dict[str, Any]]:
    what = {
        400: "the body is not JSON",
        401: "missing, unknown or expired token",
        403: "the token's role may not do this",
        404: "no such thing, or not visible to this role",
        409: "not possible in the incident's or registry's present state",
    }
    return {code: {"model": Problem, "description": what[code]} for code in codes}


AUTH = refusals(401, 403)
BODY = {**AUTH, **refusals(400)}  # operations that read a JSON body


class StrictIn(BaseModel):
    # Strict: JSON's false is not the number 0, nor "1" the number 1. A request means what it says or is refused.
    model_config = ConfigDict(strict=True)


def _filled(v: str) -> str:
    if not v.strip():
        raise ValueError("must not be blank")
    return v.strip()


def _blank_is_none(v: str | None) -> str | None:
    return v.strip() or None if v is not None else None


# Words a person typed, without the blanks around them: Filled must say something, FilledOrNone may be left out
# (blanks only are none at all). A field's length limits hold for the words as sent, before the blanks go.
Filled = Annotated[str, AfterValidator(_filled)]
FilledOrNone = Annotated[str | None, AfterValidator(_blank_is_none)]


def check_place(lat: float | None, lon: float | None, words: str | None, nowhere: str | None = None) -> None:
    """Where a body says it is, for its model validator: lat and lon come both or neither, and with ``nowhere``
    (the refusal's words) the point or the ``words`` for the place, or both, are needed."""
    if (lat is None) != (lon is None):
        raise ValueError("lat and lon go together")
    if nowhere is not None and lat is None and words is None:
        raise ValueError(nowhere)


class ResponderIn(StrictIn):
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


def dispatcher(request: Request) -> Dispatcher:
    """The app's dispatcher: a dependency (D) for most routes, called by those that read it only sometimes."""
    d: Dispatcher = request.app.state.dispatcher
    return d


D = Annotated[Dispatcher, Depends(dispatcher)]


async def act(d: Dispatcher, fn: Any, *args: Any, **kwargs: Any) -> None:
    try:
        await d.act(fn, *args, **kwargs)
    except actions.ActionError as e:
        raise HTTPException(status.HTTP_409_CONFLICT, str(e)) from None


def responder_names(d: Dispatcher) -> Callable[[str], str]:
    """A responder's name by id, looked up when asked: the stream asks on every push, and most name nobody."""
    responders, former = d.state.responders, d.state.former

    def name(rid: str) -> str:
        r = responders.get(rid)
        return former.get(rid, rid) if r is None else r.name  # a removed responder still named where they came

    return name


def offered_only(d: Dispatcher, who: Principal, incident_id: str) -> None:
    """A responder acts only on an incident offered to them or accepted by them; any other is as good as absent
    (404, as GET answers), so that incident ids, which are guessable, reveal nothing and cannot be taken over."""
    inc = d.state.incidents.get(incident_id)
    if inc is None or not visible_to(who, inc.to_dict()):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such incident")


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
