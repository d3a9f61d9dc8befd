"""Durable state through SQLAlchemy 2 async: SQLite (WAL) by default, PostgreSQL by URL.

The writer hands :meth:`Store.apply` a batch of durable records; they commit in one transaction, and only then
are the MQTT messages behind them acknowledged. Repeated records are idempotent (a redelivered message after a
crash rewrites the same rows), which is what makes "kill it at any instant" lose nothing and double nothing.

Everything else the service and the API read and write goes through SQLAlchemy, the same for both databases,
here. What differs by database is elsewhere, one database to a module: a batch's statements (store_rows.py makes
the rows, store_sqlite.py and store_postgres.py the statements), a SQLite file's commits on the driver's own
connection (store_sqlite.SqliteWriter), and what replicas on one PostgreSQL share (store_postgres.py). Start-up
reads the state back in store_load.py.
"""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, event, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from basestation.dispatch.core.assignment import Responder
from basestation.dispatch.core.effects import Durable, FrameSeen, NoticeRow
from basestation.dispatch.core.incidents import ACTIVE
from basestation.dispatch.core.state import DispatchState, Gateway
from basestation.dispatch.io import db, store_load, store_postgres, store_sqlite
from basestation.dispatch.io import schema as t
from basestation.dispatch.io.keystore import KeySealer
from basestation.dispatch.io.store_rows import signed64
from basestation.dispatch.io.store_sqlite import SqliteWriter


class Store:
    def __init__(self, url: str, sealer: KeySealer | None = None, writer_nice: int = 0) -> None:
        self.url = url
        self.sealer = sealer or KeySealer(None)
        self.engine: AsyncEngine = create_async_engine(url, pool_pre_ping=not url.startswith("sqlite"))
        self.dialect = self.engine.dialect.name
        # SQLite on a file: the writer commits on a connection of its own, opened on its first commit.
        self._sqlite: SqliteWriter | None = None
        if self.dialect == "sqlite":
            event.listen(self.engine.sync_engine, "connect", store_sqlite.sqlite_pragmas)
            database = self.engine.url.database
            if database and database != ":memory:":
                self._sqlite = SqliteWriter(database, writer_nice)
        self._statements = store_sqlite.statements if self.dialect == "sqlite" else store_postgres.statements

    # SQLite commits by where they ran, and checkpoints done (the service's /healthz shows them); 0 without a file.

    @property
    def commits_inline(self) -> int:
        return 0 if self._sqlite is None else self._sqlite.commits_inline

    @property
    def commits_in_thread(self) -> int:
        return 0 if self._sqlite is None else self._sqlite.commits_in_thread

    @property
    def checkpoints(self) -> int:
        return 0 if self._sqlite is None else self._sqlite.checkpoints

    async def close(self) -> None:
        await self.engine.dispose()
        if self._sqlite is not None:
            await self._sqlite.close()

    def _insert(self, table: Any) -> Any:
        return db.insert(self.dialect, table)

    # -- the writer's one call -----------------------------------------------------------------------------

    async def apply(self, batch: Sequence[Durable], inline: bool = True) -> None:
        """Commit ``batch``. On a SQLite file a small one runs on the event loop unless ``inline`` is False
        (store_sqlite.SqliteWriter)."""
        if self._sqlite is not None:
            await self._sqlite.apply(batch, inline)
            return
        async with self.engine.begin() as conn:
            await self.apply_in(conn, batch)

    async def apply_in(self, conn: AsyncConnection, batch: Sequence[Durable]) -> None:
        """Write a batch inside the caller's transaction."""
        for raw, stmt, params in self._statements(batch):
            if raw:
                await conn.exec_driver_sql(stmt, params)
            else:
                await conn.execute(stmt, params)

    # -- keys and frames -----------------------------------------------------------------------------------

    async def device_key(self, device_id: int) -> bytes | None:
        found = await self.device_window(device_id)
        return None if found is None else found[0]

    async def device_window(self, device_id: int) -> tuple[bytes, int, int] | None:
        """A device's key and replay window (highest counter, bitmap): a replica that learns of a new ring starts
        where provisioning put it (its ``counter_start``), not at counter 0."""
        async with self.engine.connect() as conn:
            q = select(t.devices.c.root_key, t.devices.c.highest, t.devices.c.bitmap).where(
                t.devices.c.device_id == device_id, t.devices.c.removed_ms.is_(None)
            )
            row = (await conn.execute(q)).first()
            if row is None:
                return None
            return self.sealer.open(device_id, row.root_key), row.highest, row.bitmap & ((1 << 64) - 1)

    async def claim(self, f: FrameSeen) -> bool:
        """Record an accepted frame; True only for the one caller that recorded it first. Atomic on both
        databases (INSERT .. ON CONFLICT DO NOTHING RETURNING), so copies racing through two replicas cannot
        both win."""
        async with self.engine.begin() as conn:
            return await self.claim_in(conn, f)

    async def claim_in(self, conn: AsyncConnection, f: FrameSeen) -> bool:
        """:meth:`claim` inside the caller's transaction (a replica's, holding the device's lock: cluster.py)."""
        stmt = self._insert(t.frames).values(
            device_id=f.device_id,
            counter=f.counter,
            event=f.event,
            rx_ms=f.rx_ms,
            incident_id=f.incident_id,
            frame=f.frame,
            press_rx_ms=f.press_rx_ms,
        )
        return (await conn.execute(stmt.on_conflict_do_nothing().returning(t.frames.c.counter))).first() is not None

    # -- registries ----------------------------------------------------------------------------------------

    async def add_device(
        self, device_id: int, root_key: bytes, label: str | None, now_ms: int, highest: int = 0, bitmap: int = 0
    ) -> bool:
        """Provision a key ring; False if the id exists (a key is never silently replaced). ``highest`` and
        ``bitmap`` are its replay window before its first frame: a ring provisioned with a counter start above 1
        starts its window just below it, or its first alarm would be far outside the resolver's window."""
        async with self.engine.begin() as conn:
            res = await conn.execute(
                self._insert(t.devices)
                .values(
                    device_id=device_id,
                    root_key=self.sealer.seal(device_id, root_key),
                    label=label,
                    highest=highest,
                    bitmap=signed64(bitmap),
                    created_ms=now_ms,
                )
                .on_conflict_do_nothing()
                .returning(t.devices.c.device_id)
            )
            # RETURNING, not rowcount: drivers disagree on rowcount for a skipped upsert.
            return res.first() is not None

    async def device(self, device_id: int) -> dict[str, Any] | None:
        """A registered ring's id, label and registration time (never its key); None when there is no such ring."""
        async with self.engine.connect() as conn:
            q = select(t.devices.c.device_id, t.devices.c.label, t.devices.c.created_ms).where(
                t.devices.c.device_id == device_id, t.devices.c.removed_ms.is_(None)
            )
            row = (await conn.execute(q)).first()
            return None if row is None else dict(row._mapping)

    async def save_responder(self, r: Responder) -> None:
        row = {
            "id": r.id,
            "name": r.name,
            "language": r.language,
            "skills": r.skills,
            "on_duty": r.on_duty,
            "shift": r.shift,
            "lat": r.lat,
            "lon": r.lon,
            "position_ms": r.position_ms,
            "team": r.team,
        }
        stmt = self._insert(t.responders).values(**row)
        stmt = stmt.on_conflict_do_update(index_elements=[t.responders.c.id], set_={k: stmt.excluded[k] for k in row})
        async with self.engine.begin() as conn:
            await conn.execute(stmt)

    async def save_gateway(self, gw: Gateway) -> None:
        row = {"id": gw.id, "lat": gw.lat, "lon": gw.lon, "online": gw.online, "changed_ms": gw.changed_ms}
        stmt = self._insert(t.gateways).values(**row)
        stmt = stmt.on_conflict_do_update(index_elements=[t.gateways.c.id], set_={k: stmt.excluded[k] for k in row})
        async with self.engine.begin() as conn:
            await conn.execute(stmt)

    async def save_subscription(self, responder_id: str, endpoint: str, p256dh: str, auth: str) -> None:
        row = {"endpoint": endpoint, "responder_id": responder_id, "p256dh": p256dh, "auth": auth}
        stmt = self._insert(t.push_subscriptions).values(**row)
        stmt = stmt.on_conflict_do_update(
            index_elements=[t.push_subscriptions.c.endpoint], set_={k: stmt.excluded[k] for k in row}
        )
        async with self.engine.begin() as conn:
            await conn.execute(stmt)

    async def subscriptions(self) -> list[tuple[str, str, str, str]]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(t.push_subscriptions))
            return [(r.responder_id, r.endpoint, r.p256dh, r.auth) for r in rows]

    # -- reads ---------------------------------------------------------------------------------------------

    async def incidents(self, limit: int = 200, active_only: bool = False) -> list[dict[str, Any]]:
        q = select(t.incidents.c.doc).order_by(t.incidents.c.opened_ms.desc()).limit(limit)
        if active_only:
            q = q.where(t.incidents.c.state.in_([s.value for s in ACTIVE]))
        async with self.engine.connect() as conn:
            return [r.doc for r in await conn.execute(q)]

    async def incident_events(self, incident_id: str) -> list[dict[str, Any]]:
        q = (
            select(t.incident_events)
            .where(t.incident_events.c.incident_id == incident_id)
            .order_by(t.incident_events.c.id)
        )
        async with self.engine.connect() as conn:
            return [{"at_ms": r.at_ms, "kind": r.kind, "data": r.data} for r in await conn.execute(q)]

    async def incident(self, incident_id: str) -> dict[str, Any] | None:
        """One incident's last snapshot, ended ones included (memory holds only the active ones after a restart)."""
        q = select(t.incidents.c.doc).where(t.incidents.c.id == incident_id)
        async with self.engine.connect() as conn:
            row = (await conn.execute(q)).first()
            return None if row is None else dict(row.doc)

    async def count(self, table: str) -> int:

        async with self.engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(t.metadata.tables[table]))).scalar_one())

    async def set_aside(self, topic: str, payload: bytes, error: str, notice: NoticeRow) -> int:
        """Keep a message that cannot be handled, and its operator notice, in one transaction; its id."""
        async with self.engine.begin() as conn:
            res = await conn.execute(
                t.dead_letters.insert().values(topic=topic, payload=payload, error=error, at_ms=notice.at_ms)
            )
            await conn.execute(
                t.notices.insert().values(
                    kind=notice.kind, subject=notice.subject, at_ms=notice.at_ms, data=notice.data
                )
            )
        assert res.inserted_primary_key is not None
        return int(res.inserted_primary_key[0])

    async def dead_letters(self, limit: int = 100, before_id: int | None = None) -> list[dict[str, Any]]:
        """Messages set aside, newest first; ``before_id`` pages back. The payload as text where it is UTF-8
        (envelopes are JSON), else as hex."""
        q = select(t.dead_letters).order_by(t.dead_letters.c.id.desc()).limit(limit)
        if before_id is not None:
            q = q.where(t.dead_letters.c.id < before_id)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(q)).all()
        out = []
        for r in rows:
            try:
                body: dict[str, str] = {"payload": bytes(r.payload).decode("utf-8")}
            except UnicodeDecodeError:
                body = {"payload_hex": bytes(r.payload).hex()}
            out.append({"id": r.id, "topic": r.topic, "error": r.error, "at_ms": r.at_ms, **body})
        return out

    async def notices(self, limit: int = 100) -> list[dict[str, Any]]:
        q = select(t.notices).order_by(t.notices.c.id.desc()).limit(limit)
        async with self.engine.connect() as conn:
            return [{"kind": r.kind, "subject": r.subject, "at_ms": r.at_ms, **r.data} for r in await conn.execute(q)]

    # -- start-up ------------------------------------------------------------------------------------------

    async def load(self, state: DispatchState, now_ms: int) -> None:
        """Rebuild the in-memory state: keys and replay windows, registries, open incidents, recent frames."""
        async with self.engine.connect() as conn:
            await store_load.load(conn, self.sealer, state, now_ms)

    # -- the clock and retention ---------------------------------------------------------------------------

    async def overdue_devices(self, now_ms: int) -> list[tuple[int, int, int]]:
        """(device, last seen, period) of rings past two heartbeat periods and a margin (see actions.tick)."""
        limit = now_ms - (2 * t.devices.c.heartbeat_min + 5) * 60_000
        q = select(t.devices.c.device_id, t.devices.c.last_seen_ms, t.devices.c.heartbeat_min).where(
            t.devices.c.heartbeat_min.is_not(None), t.devices.c.last_seen_ms < limit, t.devices.c.removed_ms.is_(None)
        )
        async with self.engine.connect() as conn:
            return [(r.device_id, r.last_seen_ms, r.heartbeat_min) for r in await conn.execute(q)]

    async def purge(self, before_ms: int) -> dict[str, int]:
        """Privacy retention: forget where people were once their incident ended before ``before_ms``.

        An incident has ended when it has not changed since ``before_ms``, whatever its state: resolved and
        cancelled ones, and those left escalated, handed to 112 or open and never touched again (docs/privacy.md).
        They keep what happened (state, times, who helped) but lose their location, address and destination, the
        receptions they came from and the log entries that carried a position. Frames, notices, dead letters,
        walk-me-home requests and hook deliveries older than that go entirely; the replay window (highest counter
        per device) still refuses the frames' counters.
        """
        c = t.incidents.c
        ended = c.updated_ms < before_ms
        placed = or_(*(c.doc[k].as_string().is_not(None) for k in ("location", "address", "destination")))
        ended_ids = select(c.id).where(ended).scalar_subquery()
        counts: dict[str, int] = {}
        async with self.engine.begin() as conn:
            rows = (await conn.execute(select(c.id, c.doc).where(ended, placed))).all()
            for r in rows:
                doc = {**r.doc, "location": None}
                doc.update(dict.fromkeys((k for k in ("address", "destination") if k in doc), None))
                await conn.execute(update(t.incidents).where(c.id == r.id).values(doc=doc))
            counts["incidents"] = len(rows)
            res = await conn.execute(delete(t.receptions).where(t.receptions.c.incident_id.in_(ended_ids)))
            counts["receptions"] = res.rowcount
            res = await conn.execute(
                delete(t.incident_events).where(
                    t.incident_events.c.incident_id.in_(ended_ids), t.incident_events.c.kind == "located"
                )
            )
            counts["located_events"] = res.rowcount
            res = await conn.execute(delete(t.frames).where(t.frames.c.rx_ms < before_ms))
            counts["frames"] = res.rowcount
            res = await conn.execute(delete(t.notices).where(t.notices.c.at_ms < before_ms))
            counts["notices"] = res.rowcount
            # A dead letter may hold a frame and where it was heard: kept no longer than the frames are.
            res = await conn.execute(delete(t.dead_letters).where(t.dead_letters.c.at_ms < before_ms))
            counts["dead_letters"] = res.rowcount
            # A walk-me-home request's number and network address (walk.py): the incident keeps what happened.
            res = await conn.execute(delete(t.walk_requests).where(t.walk_requests.c.created_ms < before_ms))
            counts["walk_requests"] = res.rowcount
            # A provider's message id to the request it opened: kept as long as the request is.
            res = await conn.execute(delete(t.hook_deliveries).where(t.hook_deliveries.c.created_ms < before_ms))
            counts["hook_deliveries"] = res.rowcount
        return counts
