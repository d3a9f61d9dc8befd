"""Start-up: the in-memory state rebuilt from the database (``Store.load``), and an incident from its stored
document (the replicas read those too: cluster.py)."""

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from basestation.dispatch.core.assignment import Responder
from basestation.dispatch.core.incidents import ACTIVE, Incident, Kind, State
from basestation.dispatch.core.state import DeviceInfo, DispatchState, Gateway, Recent
from basestation.dispatch.io import roster_store, zones_store
from basestation.dispatch.io import schema as t
from basestation.dispatch.io.keystore import KeySealer
from protocol.constants import ACK_CANCELLED, ACK_RECEIVED


def incident_from_doc(doc: dict[str, Any]) -> Incident:
    loc = doc.get("location") or {}
    return Incident(
        id=doc["id"],
        device_id=doc["device_id"],
        counter=doc["counter"],
        kind=Kind(doc["kind"]),
        state=State(doc["state"]),
        opened_ms=doc["opened_ms"],
        press_ms=doc["press_ms"],
        forced=doc["forced"],
        lat=loc.get("lat"),
        lon=loc.get("lon"),
        radius_m=loc.get("radius_m"),
        battery=doc.get("battery"),
        updated_ms=doc["updated_ms"],
        offered_to=list(doc["offered_to"]),
        accepted_by=list(doc["accepted_by"]),
        declined_by=list(doc["declined_by"]),
        # Every way into "escalated" sets level 2 and logs it; a document that says escalated at a lower level (an
        # older service wrote some) is read as level 2, or the clock would raise it and log it again after every
        # restart, and an incident touched at each restart never reaches retention's cut-off (docs/privacy.md).
        escalation=max(doc["escalation"], 2) if doc["state"] == State.ESCALATED.value else doc["escalation"],
        referral=doc.get("referral"),
        ring_counter=doc.get("ring_counter", doc["counter"]),
        quiet_counter=doc.get("quiet_counter", 0),
        unavailable=doc.get("unavailable", False),
        presses=doc.get("presses", 1),
        eta_min=doc.get("eta_min", 0),
        callback_number=doc.get("callback_number"),
        caller_name=doc.get("caller_name"),
        address=doc.get("address"),
        notes=doc.get("notes"),
        source=doc.get("source"),
        destination=doc.get("destination"),
        arrived_ms=doc.get("arrived_ms", 0),
    )


async def load(conn: AsyncConnection, sealer: KeySealer, state: DispatchState, now_ms: int) -> None:
    """Rebuild the in-memory state: keys and replay windows, registries, open incidents, recent frames."""
    # The removed stay in their tables for the incidents that name them (roster_store.py), not in memory.
    for r in await conn.execute(select(t.devices).where(t.devices.c.removed_ms.is_(None))):
        root = sealer.open(r.device_id, r.root_key)
        state.resolver.add(r.device_id, root, r.highest, r.bitmap & ((1 << 64) - 1))
        state.devices[r.device_id] = DeviceInfo(r.last_seen_ms or 0, r.battery, r.heartbeat_min)
    for r in await conn.execute(select(t.gateways).where(t.gateways.c.removed_ms.is_(None))):
        state.gateways[r.id] = Gateway(r.id, r.lat, r.lon, r.online, r.changed_ms)
    for r in await conn.execute(select(t.responders).where(t.responders.c.removed_ms.is_(None))):
        state.responders[r.id] = Responder(
            r.id,
            r.name,
            r.language,
            list(r.skills),
            r.on_duty,
            r.lat,
            r.lon,
            r.shift,
            r.position_ms or 0,
            r.team,
        )
    state.zones.update(await zones_store.load_zones(conn))
    await roster_store.load_removed(conn, state)
    q = select(t.incidents.c.doc).where(t.incidents.c.state.in_([s.value for s in ACTIVE]))
    for r in await conn.execute(q):
        inc = incident_from_doc(r.doc)
        state.track(inc)
        state.open_by_device[inc.device_id] = inc.id
        state.last_offer_ms[inc.id] = inc.updated_ms
    await _load_recent(conn, state, now_ms)


async def _load_recent(conn: AsyncConnection, state: DispatchState, now_ms: int) -> None:
    since = now_ms - state.timing.recent_ms
    # The last minutes' frames, and the frames of every incident still open however old (see remember()).
    open_ids = [i.id for i in state.incidents.values() if i.active]
    q = (
        select(t.frames)
        .where((t.frames.c.rx_ms >= since) | t.frames.c.incident_id.in_(open_ids))
        .order_by(t.frames.c.rx_ms)
    )
    for row in await conn.execute(q):
        recent = Recent(row.event, row.incident_id, row.rx_ms, {}, row.frame or b"")
        recent.acks, recent.press_rx_ms = row.acks, row.press_rx_ms or 0
        if row.acks and row.frame and not row.incident_id:
            # It was answered before the restart, so its retries are answered after it (an incident's are
            # answered with the incident's state).
            recent.ack_state = ACK_CANCELLED if row.event in ("cancel", "duress") else ACK_RECEIVED
        # remember() also indexes its pseudonym: a copy after the restart is known as a copy.
        state.remember((row.device_id, row.counter), recent, now_ms)
    by_incident: dict[str, list[Recent]] = {}
    for recent in state.recent.values():
        if recent.incident_id:
            by_incident.setdefault(recent.incident_id, []).append(recent)
    if not by_incident:
        return
    q2 = select(t.receptions).where(t.receptions.c.incident_id.in_(list(by_incident)))
    for row in await conn.execute(q2):
        for recent in by_incident[row.incident_id]:
            best = recent.heard.get(row.gateway_id)
            if best is None or (row.rssi is not None and (best[1] is None or row.rssi > best[1])):
                recent.heard[row.gateway_id] = (row.radio, row.rssi)
