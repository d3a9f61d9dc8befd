"""DELETE /api/v1/responders/{id} and /api/v1/gateways/{id}: operators take them off the roster at run time; and
PATCH /api/v1/devices/{id}, a ring's label (a ring's removal is api.py's, beside its registration).

A removal keeps the row (roster_store.py) and takes the entry out of the service's memory and every list; a PUT
on the same id brings it back. It takes the API's refusals and path types from api.py, which includes this router
when it makes the app.
"""

import logging
from typing import Any

from fastapi import APIRouter, HTTPException, Response, status
from pydantic import Field

from basestation.dispatch import roster, roster_store
from basestation.dispatch.api import AUTH, BODY, D, DeviceId, GatewayId, ResponderId, _act, _In, _refusals
from basestation.dispatch.auth import Operator, Provisioner
from basestation.dispatch.effects import Push
from basestation.dispatch.service import now_ms

log = logging.getLogger("nightwatch.dispatch.roster")

router = APIRouter(prefix="/api/v1")


@router.delete("/responders/{responder_id}", status_code=204, tags=["responders"], responses={**AUTH, **_refusals(404)})
async def remove_responder(responder_id: ResponderId, d: D, _: Operator) -> Response:
    """Take a responder off the patrol: off duty, their position forgotten, never offered anything again, and stood
    down from every open incident (one they had accepted is offered to the next nearest, or escalated). The
    incidents they took part in still show their name. PUT /responders/{id} brings them back."""
    r = d.state.responders.get(responder_id)
    if r is None or not await roster_store.remove_responder(d.store, responder_id, now_ms()):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such responder")
    # Out of memory first: the offers that standing down makes must not go to them again.
    d.state.responders.pop(responder_id, None)
    d.state.former[responder_id] = r.name
    await d.registry_changed("responder_removed", {"id": responder_id, "name": r.name})
    for incident_id in roster.names_in(d.state, responder_id):
        await _act(d, roster.stand_down, incident_id, responder_id, now_ms(), d.pipeline)
    await d.carry_out(roster.shown("responder_removed", {"id": responder_id}))
    log.info("responder %s removed", responder_id)
    return Response(status_code=204)


@router.delete("/gateways/{gateway_id}", status_code=204, tags=["gateways"], responses={**AUTH, **_refusals(404)})
async def remove_gateway(gateway_id: GatewayId, d: D, _: Operator) -> Response:
    """Take a gateway off the lists and the map. A status it sends afterwards is refused and counted
    (`nightwatch_gateway_status_refused_total`), not taken as a new gateway: PUT /gateways/{id} adds it again."""
    if gateway_id not in d.state.gateways or not await roster_store.remove_gateway(d.store, gateway_id, now_ms()):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such gateway")
    d.state.gateways.pop(gateway_id, None)
    d.state.removed_gateways.add(gateway_id)
    await d.registry_changed("gateway_removed", {"id": gateway_id})
    eff = roster.shown("gateway_removed", {"id": gateway_id})
    # The board's map drops its marker on this one (map.js).
    eff.pushes.append(Push("gateway", {"id": gateway_id, "removed": True, "online": False, "lat": None, "lon": None}))
    await d.carry_out(eff)
    log.info("gateway %s removed", gateway_id)
    return Response(status_code=204)


class DeviceEdit(_In):
    label: str | None = Field(max_length=120, description="what the ring is known by on the board; null for none")


@router.patch("/devices/{device_id}", tags=["devices"], responses={**BODY, **_refusals(404)})
async def edit_device(device_id: DeviceId, body: DeviceEdit, d: D, _: Provisioner) -> dict[str, Any]:
    """Change a registered ring's label (its key and counters change only by registering it again)."""
    label = (body.label or "").strip() or None
    if not await roster_store.set_label(d.store, device_id, label):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such device")
    await d.carry_out(roster.shown("device", {"id": device_id}))
    return {"device_id": device_id, "label": label}
