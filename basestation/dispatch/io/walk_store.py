"""The walk-me-home requests, the block list and the hours override, in the dispatch database (walk.py).

Limits are counted from the database, not from memory, so that several replicas behind one address share them.
"""

from dataclasses import dataclass

from sqlalchemy import delete, func, select

from basestation.dispatch.core.walk import Override
from basestation.dispatch.io import schema as t
from basestation.dispatch.io.store import Store

HOUR_MS = 3_600_000


@dataclass(frozen=True, slots=True)
class WalkRequest:
    reference: str
    incident_id: str
    secret_hash: str
    phone: str
    client: str | None
    source: str
    lang: str
    created_ms: int


class WalkStore:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def add(self, req: WalkRequest) -> bool:
        """False when the reference is taken (draw another)."""
        stmt = (
            self.store._insert(t.walk_requests)
            .values(
                reference=req.reference,
                incident_id=req.incident_id,
                secret_hash=req.secret_hash,
                phone=req.phone,
                client=req.client,
                source=req.source,
                lang=req.lang,
                created_ms=req.created_ms,
            )
            .on_conflict_do_nothing()
            .returning(t.walk_requests.c.reference)
        )
        async with self.store.engine.begin() as conn:
            return (await conn.execute(stmt)).first() is not None

    async def get(self, reference: str) -> WalkRequest | None:
        q = select(t.walk_requests).where(t.walk_requests.c.reference == reference)
        async with self.store.engine.connect() as conn:
            r = (await conn.execute(q)).first()
        if r is None:
            return None
        return WalkRequest(r.reference, r.incident_id, r.secret_hash, r.phone, r.client, r.source, r.lang, r.created_ms)

    async def counts(self, phone: str, client: str | None, now_ms: int) -> tuple[int, int]:
        """Requests in the last hour from this number, and from this network address."""
        since = now_ms - HOUR_MS
        w = t.walk_requests.c
        async with self.store.engine.connect() as conn:
            by_phone = await conn.scalar(select(func.count()).where(w.phone == phone, w.created_ms >= since))
            by_client = None
            if client is not None:
                by_client = await conn.scalar(select(func.count()).where(w.client == client, w.created_ms >= since))
        return int(by_phone or 0), int(by_client or 0)

    async def open_for(self, phone: str) -> list[str]:
        """The incidents this number asked for, newest first (the caller checks which are still open)."""
        w = t.walk_requests.c
        q = select(w.incident_id).where(w.phone == phone).order_by(w.created_ms.desc()).limit(5)
        async with self.store.engine.connect() as conn:
            return [r.incident_id for r in await conn.execute(q)]

    # -- the block list ---------------------------------------------------------------------------------------

    async def blocked(self, phone: str) -> bool:
        q = select(t.blocked_numbers.c.phone).where(t.blocked_numbers.c.phone == phone)
        async with self.store.engine.connect() as conn:
            return (await conn.execute(q)).first() is not None

    async def block(self, phone: str, reason: str | None, by: str | None, now_ms: int) -> None:
        b = t.blocked_numbers
        stmt = self.store._insert(b).values(phone=phone, reason=reason, by=by, at_ms=now_ms)
        stmt = stmt.on_conflict_do_update(
            index_elements=[b.c.phone], set_={"reason": reason, "by": by, "at_ms": now_ms}
        )
        async with self.store.engine.begin() as conn:
            await conn.execute(stmt)

    async def unblock(self, phone: str) -> bool:
        async with self.store.engine.begin() as conn:
            res = await conn.execute(delete(t.blocked_numbers).where(t.blocked_numbers.c.phone == phone))
            return bool(res.rowcount)

    async def blocks(self) -> list[dict[str, object]]:
        b = t.blocked_numbers
        async with self.store.engine.connect() as conn:
            rows = await conn.execute(select(b).order_by(b.c.at_ms.desc()))
            return [{"phone": r.phone, "reason": r.reason, "by": r.by, "at_ms": r.at_ms} for r in rows]

    # -- the hours override -----------------------------------------------------------------------------------

    async def override(self) -> Override | None:
        async with self.store.engine.connect() as conn:
            r = (await conn.execute(select(t.walk_override).where(t.walk_override.c.id == 1))).first()
        return None if r is None else Override(r.state, r.until_ms, r.by)

    async def set_override(self, state: str | None, until_ms: int, by: str | None, now_ms: int) -> None:
        """``state`` "open" or "closed" until ``until_ms`` (0: until said otherwise); None: back to the hours."""
        o = t.walk_override
        async with self.store.engine.begin() as conn:
            if state is None:
                await conn.execute(delete(o))
                return
            stmt = self.store._insert(o).values(id=1, state=state, until_ms=until_ms, by=by, at_ms=now_ms)
            stmt = stmt.on_conflict_do_update(
                index_elements=[o.c.id], set_={"state": state, "until_ms": until_ms, "by": by, "at_ms": now_ms}
            )
            await conn.execute(stmt)
