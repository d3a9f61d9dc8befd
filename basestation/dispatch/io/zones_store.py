"""The patrol zones in the dispatch database (zones.py): saved and removed by the API, read once at start.

Functions over the Store rather than methods on it: the zones are one small table, and the Store stays about
incidents and frames.
"""

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from basestation.dispatch.core.zones import Zone
from basestation.dispatch.io import db
from basestation.dispatch.io import schema as t
from basestation.dispatch.io.db import Database


def _row(z: Zone) -> dict[str, Any]:
    doc = z.to_dict()
    return {k: doc[k] for k in ("id", "name", "polygon", "responders", "teams", "updated_ms")}


async def save_zone(store: Database, zone: Zone) -> None:
    """Insert or replace the zone."""
    row = _row(zone)
    stmt = db.insert(store.dialect, t.zones).values(**row)
    stmt = stmt.on_conflict_do_update(index_elements=[t.zones.c.id], set_={k: stmt.excluded[k] for k in row})
    async with store.engine.begin() as conn:
        await conn.execute(stmt)


async def remove_zone(store: Database, zone_id: str) -> bool:
    """False when there was no such zone."""
    async with store.engine.begin() as conn:
        result = await conn.execute(delete(t.zones).where(t.zones.c.id == zone_id))
        return bool(result.rowcount)


async def zone(store: Database, zone_id: str) -> Zone | None:
    async with store.engine.connect() as conn:
        r = (await conn.execute(select(t.zones).where(t.zones.c.id == zone_id))).first()
    return None if r is None else Zone.from_dict(dict(r._mapping))


async def load_zones(conn: AsyncConnection) -> dict[str, Zone]:
    """Every zone, by id."""
    out: dict[str, Zone] = {}
    for r in await conn.execute(select(t.zones)):
        z = Zone.from_dict(dict(r._mapping))
        out[z.id] = z
    return out
