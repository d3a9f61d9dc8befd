"""Patrol zones over HTTP, for operators: list, put (create or replace) and remove (zones.py, docs/dispatch.md).

A change takes effect at the next offer: the zones live in the dispatcher's state, which assignment reads, and
other replicas are told through ``registry_changed``. It takes the API's refusals and input base from api.py,
which includes this router when it makes the app.
"""

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import ConfigDict, Field, field_validator

from basestation.dispatch.api.auth import Operator
from basestation.dispatch.api.base import AUTH, BODY, D, Filled, StrictIn, refusals
from basestation.dispatch.core.zones import MAX_POINTS, MIN_POINTS, NAME_MAX, TEAM_MAX, Zone, polygon_problem
from basestation.dispatch.io import zones_store
from basestation.dispatch.service import Dispatcher, now_ms

router = APIRouter(prefix="/api/v1", tags=["zones"])

ZoneId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
# A list, not a tuple: FastAPI validates the parsed body, and strict validation takes no list for a tuple.
PointIn = Annotated[list[Annotated[float, Field(allow_inf_nan=False)]], Field(min_length=2, max_length=2)]
Ident = Annotated[str, Field(min_length=1, max_length=TEAM_MAX)]


class ZoneIn(StrictIn):
    """A zone as the operator drew it, and who patrols it."""

    # A field this form does not have is a client that does not know it: refused, not ignored.
    model_config = ConfigDict(strict=True, extra="forbid")

    name: Filled = Field(min_length=1, max_length=NAME_MAX)
    polygon: list[PointIn] = Field(
        min_length=MIN_POINTS, max_length=MAX_POINTS, description="[lat, lon] points; the last joins the first"
    )
    responders: list[Ident] = Field([], max_length=1000, description="responder ids from GET /api/v1/responders")
    teams: list[Ident] = Field([], max_length=200, description="team names, as responders carry them")

    @field_validator("polygon")
    @classmethod
    def _encloses(cls, v: list[list[float]]) -> list[list[float]]:
        for i, (lat, lon) in enumerate(v):
            if not (-90 <= lat <= 90 and -180 <= lon <= 180):
                raise ValueError(f"point {i}: lat is -90..90 and lon -180..180")
        problem = polygon_problem(v)
        if problem is not None:
            raise ValueError(problem)
        return v


def _zones(d: Dispatcher) -> list[dict[str, Any]]:
    return [z.to_dict() for z in sorted(d.state.zones.values(), key=lambda z: (z.name.casefold(), z.id))]


@router.get("/zones", responses=AUTH)
async def list_zones(d: D, _: Operator) -> list[dict[str, Any]]:
    """Every patrol zone, by name."""
    return _zones(d)


@router.put("/zones/{zone_id}", responses=BODY)
async def put_zone(zone_id: ZoneId, body: ZoneIn, d: D, _: Operator) -> dict[str, Any]:
    """Create or replace a zone. Alarms inside it are offered first to the responders bound to it, directly or by
    their team; a responder id that names nobody is refused (a typo would bind nobody without a word)."""
    unknown = [
        {"type": "value_error", "loc": ("body", "responders", i), "msg": "no such responder", "input": rid}
        for i, rid in enumerate(body.responders)
        if rid not in d.state.responders
    ]
    if unknown:
        raise RequestValidationError(unknown)
    polygon = tuple((lat, lon) for lat, lon in body.polygon)
    zone = Zone(zone_id, body.name, polygon, frozenset(body.responders), frozenset(body.teams), now_ms())
    await zones_store.save_zone(d.store, zone)
    d.state.zones[zone_id] = zone
    doc = zone.to_dict()
    await d.registry_changed("zone", doc)
    return doc


@router.delete("/zones/{zone_id}", status_code=204, responses={**AUTH, **refusals(404)})
async def remove_zone(zone_id: ZoneId, d: D, _: Operator) -> Response:
    if not await zones_store.remove_zone(d.store, zone_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such zone")
    d.state.zones.pop(zone_id, None)
    await d.registry_changed("zone_removed", {"id": zone_id})
    return Response(status_code=204)
