"""The registries under /api/v1, changed at run time: key rings registered, listed, relabelled and removed; gateways
placed and removed; responders added, edited and removed.

A removal keeps the row (roster_store.py) and takes the entry out of the service's memory and every list; a PUT
on the same id brings it back; a removed ring's frames are refused and its history kept.
"""

import dataclasses
import logging
from typing import Any

from fastapi import APIRouter, HTTPException, Response, status
from pydantic import Field

from basestation.dispatch.api import roster_devices
from basestation.dispatch.api.auth import Operator, Provisioner
from basestation.dispatch.api.base import (
    AUTH,
    BODY,
    D,
    DeviceId,
    GatewayId,
    ResponderId,
    ResponderIn,
    StrictIn,
    act,
    refusals,
)
from basestation.dispatch.core import actions, roster
from basestation.dispatch.core.assignment import Responder
from basestation.dispatch.core.effects import Push
from basestation.dispatch.core.state import DeviceInfo
from basestation.dispatch.io import roster_store
from basestation.dispatch.service import now_ms
from protocol.constants import COUNTER_MAX, COUNTER_MIN, REPLAY_WINDOW
from protocol.keys import parse_root_key

log = logging.getLogger("nightwatch.dispatch.roster")

router = APIRouter(prefix="/api/v1")


class DeviceIn(StrictIn):
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


def window_before(counter_start: int) -> tuple[int, int]:
    """The replay window (highest, bitmap) of a ring that has sent nothing yet and starts at ``counter_start``.

    The resolver looks for a ring's frames only just above its highest counter (SPEC 7.3), so the window must sit
    just below the first counter or the ring's first alarm is never recognised. Every counter below the start is
    marked as used: the ring never sends one, and a frame that has one was recorded from the ring's life before
    it was re-provisioned with the same key.
    """
    highest = counter_start - 1
    return highest, (1 << min(highest - COUNTER_MIN + 1, REPLAY_WINDOW)) - 1


class GatewayIn(StrictIn):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


@router.post("/devices", status_code=201, tags=["devices"], responses={**BODY, **refusals(409)})
async def add_device(body: DeviceIn, d: D, _: Provisioner) -> dict[str, Any]:
    """Register a key ring from the record `nightwatch provision` prints. A removed ring's id may be registered
    again, with a counter start above every counter it used (409 says which): its incidents keep their ids, and
    no recording of its old frames is ever taken for a new one."""
    key = parse_root_key(body.root_key)
    highest, bitmap = window_before(body.counter_start)
    if not await d.store.add_device(body.device_id, key, body.label, now_ms(), highest, bitmap):
        await roster_devices.readd_device(d, body.device_id, key, body.label, highest, bitmap)
    d.state.resolver.add(body.device_id, key, highest, bitmap)
    d.state.devices.setdefault(body.device_id, DeviceInfo())  # on the board's registry (and its card) at once
    await d.registry_changed("device", {"device_id": body.device_id})
    await d.carried_out(roster.shown("device", {"id": body.device_id}))
    return {"device_id": body.device_id, "label": body.label}


@router.delete("/devices/{device_id}", status_code=204, tags=["devices"], responses={**AUTH, **refusals(404)})
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
    await d.carried_out(eff)
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
    await d.carried_out(roster.shown("responder", {"id": responder_id}))
    return r.to_dict()


@router.delete("/responders/{responder_id}", status_code=204, tags=["responders"], responses={**AUTH, **refusals(404)})
async def remove_responder(responder_id: ResponderId, d: D, who: Operator) -> Response:
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
        await act(d, roster.stand_down, incident_id, responder_id, now_ms(), d.pipeline, "removed", who.operator)
    await d.carried_out(roster.shown("responder_removed", {"id": responder_id}))
    log.info("responder %s removed", responder_id)
    return Response(status_code=204)


@router.delete("/gateways/{gateway_id}", status_code=204, tags=["gateways"], responses={**AUTH, **refusals(404)})
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
    await d.carried_out(eff)
    log.info("gateway %s removed", gateway_id)
    return Response(status_code=204)


class DeviceEdit(StrictIn):
    label: str | None = Field(max_length=120, description="what the ring is known by on the board; null for none")


@router.patch("/devices/{device_id}", tags=["devices"], responses={**BODY, **refusals(404)})
async def edit_device(device_id: DeviceId, body: DeviceEdit, d: D, _: Provisioner) -> dict[str, Any]:
    """Change a registered ring's label (its key and counters change only by registering it again)."""
    label = (body.label or "").strip() or None
    if not await roster_store.set_label(d.store, device_id, label):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such device")
    await d.carried_out(roster.shown("device", {"id": device_id}))
    return {"device_id": device_id, "label": label}
