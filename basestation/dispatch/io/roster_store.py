"""Removing key rings, responders and gateways in the dispatch database, and reading back what was removed.

A removal sets ``removed_ms`` and keeps the row (migration 0008): incidents, their log and the export name rings,
responders and gateways by id, and a record of the night that lost its names would no longer say who came. A ring
also loses its key at once, so that a copy of the database read later cannot open its frames.

Functions over the Store rather than methods on it, as zones_store.py: the Store stays about incidents and frames.
"""

from typing import TYPE_CHECKING

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from basestation.dispatch.io import schema as t
from basestation.dispatch.io.db import Database

if TYPE_CHECKING:
    from basestation.dispatch.core.state import DispatchState


async def remove_device(store: Database, device_id: int, now_ms: int) -> bool:
    """Mark a registered ring removed and wipe its key; False when there is no such ring, or it is gone already.
    Its replay window (``highest``) stays: a ring registered again under this id must start above it."""
    d = t.devices.c
    async with store.engine.begin() as conn:
        res = await conn.execute(
            update(t.devices)
            .where(d.device_id == device_id, d.removed_ms.is_(None))
            .values(removed_ms=now_ms, root_key=b"")
            .returning(d.device_id)
        )
        return res.first() is not None


async def removed_device_highest(store: Database, device_id: int) -> int | None:
    """The highest counter a removed ring used, or None when ``device_id`` is not a removed ring."""
    d = t.devices.c
    async with store.engine.connect() as conn:
        q = select(d.highest).where(d.device_id == device_id, d.removed_ms.is_not(None))
        row = (await conn.execute(q)).first()
        return None if row is None else int(row.highest)


async def readd_device(
    store: Database, device_id: int, root_key: bytes, label: str | None, now_ms: int, highest: int, bitmap: int
) -> bool:
    """Register a removed ring's id again with a new key and window; False unless the row was a removed ring whose
    window lies below ``highest`` (checked in the same statement, so two requests cannot both win)."""
    d = t.devices.c
    signed = bitmap - (1 << 64) if bitmap >= 1 << 63 else bitmap  # as store_rows.signed64
    async with store.engine.begin() as conn:
        res = await conn.execute(
            update(t.devices)
            .where(d.device_id == device_id, d.removed_ms.is_not(None), d.highest <= highest)
            .values(
                root_key=store.sealer.seal(device_id, root_key),
                label=label,
                highest=highest,
                bitmap=signed,
                created_ms=now_ms,
                removed_ms=None,
                last_seen_ms=None,
                battery=None,
                heartbeat_min=None,
            )
            .returning(d.device_id)
        )
        return res.first() is not None


async def remove_responder(store: Database, responder_id: str, now_ms: int) -> bool:
    """Mark a responder removed, off duty and without a position; False when there is no such responder on the
    patrol. Saving the responder again (``Store.save_responder``) brings them back."""
    r = t.responders.c
    async with store.engine.begin() as conn:
        res = await conn.execute(
            update(t.responders)
            .where(r.id == responder_id, r.removed_ms.is_(None))
            .values(removed_ms=now_ms, on_duty=False, lat=None, lon=None, position_ms=None)
            .returning(r.id)
        )
        return res.first() is not None


async def restore_responder(store: Database, responder_id: str) -> None:
    """Clear a responder's removal (the PUT that brings them back has saved the rest)."""
    async with store.engine.begin() as conn:
        await conn.execute(update(t.responders).where(t.responders.c.id == responder_id).values(removed_ms=None))


async def remove_gateway(store: Database, gateway_id: str, now_ms: int) -> bool:
    """Mark a gateway removed; False when there is no such gateway in use."""
    g = t.gateways.c
    async with store.engine.begin() as conn:
        res = await conn.execute(
            update(t.gateways)
            .where(g.id == gateway_id, g.removed_ms.is_(None))
            .values(removed_ms=now_ms, online=False)
            .returning(g.id)
        )
        return res.first() is not None


async def restore_gateway(store: Database, gateway_id: str) -> None:
    """Clear a gateway's removal (the PUT that brings it back has saved its position)."""
    async with store.engine.begin() as conn:
        await conn.execute(update(t.gateways).where(t.gateways.c.id == gateway_id).values(removed_ms=None))


async def load_removed(conn: AsyncConnection, state: "DispatchState") -> None:
    """What start-up needs of the removed: responders' names (the incidents that name them still show who came)
    and gateways' ids (a status one of them sends again is refused, not taken as a new gateway)."""
    r, g = t.responders.c, t.gateways.c
    for row in await conn.execute(select(r.id, r.name).where(r.removed_ms.is_not(None))):
        state.former[row.id] = row.name
    for row in await conn.execute(select(g.id).where(g.removed_ms.is_not(None))):
        state.removed_gateways.add(row.id)


async def removed(store: Database) -> tuple[list[int], dict[str, str], list[str]]:
    """Every removed ring's id, responder's id and name, and gateway's id: a replica that missed notifications
    drops them from its memory (cluster.py)."""
    d, r, g = t.devices.c, t.responders.c, t.gateways.c
    async with store.engine.connect() as conn:
        devices = [row.device_id for row in await conn.execute(select(d.device_id).where(d.removed_ms.is_not(None)))]
        responders = {
            row.id: row.name for row in await conn.execute(select(r.id, r.name).where(r.removed_ms.is_not(None)))
        }
        gateways = [row.id for row in await conn.execute(select(g.id).where(g.removed_ms.is_not(None)))]
    return devices, responders, gateways


async def labels(store: Database) -> dict[int, str]:
    """The labels of the registered rings that have one (the board's registry shows them)."""
    d = t.devices.c
    q = select(d.device_id, d.label).where(d.removed_ms.is_(None), d.label.is_not(None))
    async with store.engine.connect() as conn:
        return {row.device_id: row.label for row in await conn.execute(q)}


async def set_label(store: Database, device_id: int, label: str | None) -> bool:
    """Change a registered ring's label; False when there is no such ring."""
    d = t.devices.c
    async with store.engine.begin() as conn:
        res = await conn.execute(
            update(t.devices)
            .where(d.device_id == device_id, d.removed_ms.is_(None))
            .values(label=label)
            .returning(d.device_id)
        )
        return res.first() is not None
