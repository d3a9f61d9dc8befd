"""POST /api/v1/incidents/{id}/handover, an operator's hand-over to 112: its answer's shape and what it does.
api.py declares the route; handover.py builds the script."""

from typing import Literal

from fastapi import HTTPException, status
from pydantic import BaseModel, Field

from basestation.dispatch.api.auth import Principal
from basestation.dispatch.core import handover
from basestation.dispatch.io.notify import Notifier
from basestation.dispatch.service import Dispatcher, now_ms


class Location(BaseModel):
    lat: float
    lon: float
    radius_m: int | None = Field(description="uncertainty radius in metres")


class Responder(BaseModel):
    id: str
    name: str


class HandoverFields(BaseModel):
    incident_id: str
    kind: str = Field(description="what happened: sos, escort, duress (a forced cancel, whatever was pressed)")
    incident_kind: str = Field(description="the incident's own kind, before a duress")
    forced: bool
    state: str = Field(description="the incident's state at the hand-over")
    opened_ms: int
    opened_local: str = Field(description="when it was opened, ISO 8601 in the service's time zone")
    timezone: str
    address: str | None
    location: Location | None
    responders: list[Responder] = Field(description="who accepted it, the first one first")
    eta_min: int | None = Field(description="the first responder's estimate on accepting, if they gave one")
    callback_number: str | None
    caller_name: str | None


class Script(BaseModel):
    nl: str
    en: str


class HandoverOut(BaseModel):
    incident_id: str
    handed_over_by: str = Field(description="operator, or operator:<name> for a named operator token")
    handed_over_ms: int
    script: Script = Field(description="ready to read out to 112, one fact a line")
    fields: HandoverFields
    monitoring_centre: Literal["queued", "not_configured"] = Field(
        description="queued: the escalation webhook is sent the same script and fields (event handover_112)"
    )


async def hand_over(d: Dispatcher, notifier: Notifier | None, incident_id: str, who: Principal) -> HandoverOut:
    """What the endpoint does (api.py declares it): the incident from memory, or the database once it ended and
    the service restarted; 404 when there is none. Logged before the monitoring centre is sent it, so the centre
    never hears of a hand-over the log does not hold."""
    inc = d.state.incidents.get(incident_id)
    doc = inc.to_dict() if inc is not None else await d.store.incident(incident_id)
    if doc is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such incident")
    at = now_ms()
    names = {r.id: r.name for r in d.state.responders.values()}
    h = handover.build(doc, names, d.settings.timezone, at)
    by = "operator" if who.operator is None else f"operator:{who.operator}"
    out = {"incident_id": incident_id, "handed_over_by": by, "handed_over_ms": at, **h.to_dict()}
    centre = notifier is not None and notifier.escalation is not None
    await d.carried_out(handover.record(incident_id, at, who.operator, h, centre))
    if notifier is not None:
        notifier.hand_over(incident_id, out)
    return HandoverOut.model_validate({**out, "monitoring_centre": "queued" if centre else "not_configured"})
