"""PostgreSQL: the writer's statements, and what replicas on one database share (cluster.py): a person's lock,
what the other replicas wrote, and NOTIFY. Functions over the Store, as zones_store.py: the Store (store.py)
takes its statements from here when its URL names PostgreSQL."""

import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from basestation.dispatch.core.effects import Durable
from basestation.dispatch.core.incidents import ACTIVE
from basestation.dispatch.core.state import Recent
from basestation.dispatch.io import bulk_sql, store_rows
from basestation.dispatch.io import schema as t
from basestation.dispatch.io.db import Database

# Replicas may write one device's state out of order: the higher counter wins.
UPDATE_DEVICE = (
    "UPDATE devices SET highest = CASE WHEN highest > %s THEN highest ELSE %s END, "
    "bitmap = CASE WHEN highest > %s THEN bitmap ELSE %s END, "
    "last_seen_ms = %s, battery = %s, heartbeat_min = %s WHERE device_id = %s"
)
# The claim may have written the frame before the act named its incident: fill that in.
INSERT_FRAME = (
    "INSERT INTO frames (device_id, counter, event, rx_ms, incident_id, frame, press_rx_ms) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (device_id, counter) DO UPDATE SET "
    "incident_id = coalesce(excluded.incident_id, frames.incident_id), "
    "frame = coalesce(excluded.frame, frames.frame), "
    f"press_rx_ms = {bulk_sql.EARLIER_PRESS}"
)
UPDATE_ACKS = store_rows.update_acks("%s")


def statements(batch: Sequence[Durable]) -> list[tuple[bool, Any, Any]]:
    """The statements that write ``batch``: (plain SQL for the driver?, statement, parameters). The two every
    heartbeat makes as plain SQL with rows as tuples (see store_sqlite.statements); an alarm's incident, log,
    receptions and notices as SQLAlchemy statements."""
    r = store_rows.rows(batch)
    out: list[tuple[bool, Any, Any]] = []
    if r.devices:
        out.append((True, UPDATE_DEVICE, [(h, h, h, b, seen, bat, hb, i) for i, h, b, seen, bat, hb in r.devices]))
    if r.frames:
        out.append((True, INSERT_FRAME, r.frames))
    if r.acks:
        # After the frames: an alarm's first ACK is numbered in the same batch that records its frame.
        out.append((True, UPDATE_ACKS, r.acks))
    if r.receptions:
        rows = [
            {
                "incident_id": h.incident_id,
                "gateway_id": h.gateway_id,
                "rx_time_ms": h.rx_time_ms,
                "radio": h.radio,
                "rssi": h.rssi,
                "snr": h.snr,
            }
            for h in r.receptions
        ]
        out.append((False, insert(t.receptions).on_conflict_do_nothing(), rows))
    if r.snapshots:
        stmt = insert(t.incidents)
        stmt = stmt.on_conflict_do_update(
            index_elements=[t.incidents.c.id],
            set_={c: stmt.excluded[c] for c in ("state", "forced", "updated_ms", "doc")},
        )
        out.append((False, stmt, [store_rows.incident_row(d) for d in r.snapshots]))
    if r.events:
        logged = [{"incident_id": e.incident_id, "at_ms": e.at_ms, "kind": e.kind, "data": e.data} for e in r.events]
        out.append((False, t.incident_events.insert(), logged))
    if r.notices:
        told = [{"kind": n.kind, "subject": n.subject, "at_ms": n.at_ms, "data": n.data} for n in r.notices]
        out.append((False, t.notices.insert(), told))
    return out


# -- what replicas on one PostgreSQL share ----------------------------------------------------------------------


def conninfo(store: Database) -> str:
    """The database's address for psycopg itself (the cluster's LISTEN connection)."""
    return store.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


@asynccontextmanager
async def device_lock(store: Database, device_id: int) -> AsyncIterator[AsyncConnection]:
    """A transaction holding the device's lock: replicas change one person's incidents one at a time."""
    async with store.engine.begin() as conn:
        await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": device_id})
        yield conn


async def notify(store: Database, conn: AsyncConnection | None, message: dict[str, Any]) -> None:
    """Tell every replica (this one included). Inside a transaction it is delivered at commit."""
    payload = json.dumps(message, separators=(",", ":"))
    if conn is not None:
        await conn.execute(text("SELECT pg_notify('nightwatch', :p)"), {"p": payload})
        return
    async with store.engine.begin() as c:
        await c.execute(text("SELECT pg_notify('nightwatch', :p)"), {"p": payload})


async def frame_incident(conn: AsyncConnection, device_id: int, counter: int) -> str | None:
    q = select(t.frames.c.incident_id).where(t.frames.c.device_id == device_id, t.frames.c.counter == counter)
    return (await conn.execute(q)).scalar()


async def incident_docs(conn: AsyncConnection, device_id: int, ids: Sequence[str] = ()) -> list[dict[str, Any]]:
    """The device's active incidents, and any named ones."""
    cond = (t.incidents.c.device_id == device_id) & t.incidents.c.state.in_([s.value for s in ACTIVE])
    if ids:
        cond = cond | t.incidents.c.id.in_(list(ids))
    return [r.doc for r in await conn.execute(select(t.incidents.c.doc).where(cond))]


async def heard(conn: AsyncConnection, incident_id: str) -> dict[str, tuple[str, float | None]]:
    """Per gateway, the strongest copy of the incident's frames that any replica stored."""
    out: dict[str, tuple[str, float | None]] = {}
    q = select(t.receptions).where(t.receptions.c.incident_id == incident_id)
    for row in await conn.execute(q):
        best = out.get(row.gateway_id)
        if best is None or (row.rssi is not None and (best[1] is None or row.rssi > best[1])):
            out[row.gateway_id] = (row.radio, row.rssi)
    return out


async def frame_recent(conn: AsyncConnection, device_id: int, counter: int, incident_id: str) -> Recent:
    """What a replica remembers of an incident's frame: its bytes, its first copy's time, its ACK numbers."""
    q = select(t.frames).where(t.frames.c.device_id == device_id, t.frames.c.counter == counter)
    row = (await conn.execute(q)).first()
    if row is None:
        return Recent("", incident_id, 0, {}, b"")
    recent = Recent(row.event, incident_id, row.rx_ms, {}, row.frame or b"")
    recent.acks, recent.press_rx_ms = row.acks, row.press_rx_ms or 0
    return recent
