"""Durable state through SQLAlchemy 2 async: SQLite (WAL) by default, PostgreSQL by URL. One code path for both.

The writer hands :meth:`Store.apply` a batch of durable records; they commit in one transaction, and only then
are the MQTT messages behind them acknowledged. Repeated records are idempotent (a redelivered message after a
crash rewrites the same rows), which is what makes "kill it at any instant" lose nothing and double nothing.
"""

import json
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import delete, event, func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from basestation.dispatch.core.assignment import Responder
from basestation.dispatch.core.effects import (
    AckSent,
    DeviceState,
    Durable,
    FrameSeen,
    IncidentSnapshot,
    NoticeRow,
    ReceptionRow,
)
from basestation.dispatch.core.incidents import ACTIVE, Event, Incident, Kind, State
from basestation.dispatch.core.state import DeviceInfo, DispatchState, Gateway, Recent
from basestation.dispatch.io import bulk_sql, db, roster_store, zones_store
from basestation.dispatch.io import schema as t
from basestation.dispatch.io.keystore import KeySealer
from basestation.dispatch.io.write_thread import WriteThread
from protocol.constants import ACK_CANCELLED, ACK_RECEIVED

log = logging.getLogger("nightwatch.dispatch.store")

JOURNAL_MODE_TRIES = 100  # 20 ms apart: connections opening together wait up to two seconds for each other
BUSY_TIMEOUT_MS = 5000
# A commit of up to this many records runs on the event loop itself, not in the commit thread (see apply).
INLINE_RECORDS = 64
# The writer's connection never checkpoints by itself (a checkpoint inside an inline commit would hold the event
# loop for milliseconds): the commit thread does, on a connection of its own, after this many records.
CHECKPOINT_RECORDS = 2000


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # First: setting the journal mode takes a lock too, and connections opening together (replicas' claims
    # racing, the writer's own connection) were refused "database is locked" at once without it.
    cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    # WAL lets readers run beside the writer; NORMAL syncs at checkpoints, which WAL makes crash-safe. Even with
    # the busy timeout set, SQLite sometimes refuses the journal mode at once while another connection opens the
    # same file (one clean-clone run in about ten, four stores opening together): asked again after a pause.
    for attempt in range(JOURNAL_MODE_TRIES):
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            break
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or attempt == JOURNAL_MODE_TRIES - 1:
                raise
            time.sleep(0.02)
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


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


class Store:
    def __init__(self, url: str, sealer: KeySealer | None = None, writer_nice: int = 0) -> None:
        self.url = url
        self.sealer = sealer or KeySealer(None)
        self.engine: AsyncEngine = create_async_engine(url, pool_pre_ping=not url.startswith("sqlite"))
        self.dialect = self.engine.dialect.name
        # SQLite on a file: the writer's own connection (see _apply_sqlite), opened on its first commit.
        self._sqlite_file: str | None = None
        self._writer_conn: sqlite3.Connection | None = None
        self._writer_waits = True  # the writer's connection's busy timeout is BUSY_TIMEOUT_MS, not 0
        self._checkpoint_conn: sqlite3.Connection | None = None
        self._checkpointing = False
        self._since_checkpoint = 0
        # SQLite commits by where they ran, and checkpoints done (the service's /healthz shows them).
        self.commits_inline = 0
        self.commits_in_thread = 0
        self.checkpoints = 0
        if self.dialect == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
            if self.engine.url.database not in (None, "", ":memory:"):
                self._sqlite_file = self.engine.url.database
        self._write_thread = WriteThread("nightwatch-writer", writer_nice)
        p = "?" if self.dialect == "sqlite" else "%s"  # the driver's own parameter style
        # Replicas may write one device's state out of order: the higher counter wins.
        self._sql_device_state = (
            f"UPDATE devices SET highest = CASE WHEN highest > {p} THEN highest ELSE {p} END, "
            f"bitmap = CASE WHEN highest > {p} THEN bitmap ELSE {p} END, "
            f"last_seen_ms = {p}, battery = {p}, heartbeat_min = {p} WHERE device_id = {p}"
        )
        # The claim may have written the frame before the act named its incident: fill that in.
        self._sql_frames = (
            f"INSERT INTO frames (device_id, counter, event, rx_ms, incident_id, frame, press_rx_ms) "
            f"VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}) ON CONFLICT (device_id, counter) DO UPDATE SET "
            "incident_id = coalesce(excluded.incident_id, frames.incident_id), "
            "frame = coalesce(excluded.frame, frames.frame), "
            f"press_rx_ms = {bulk_sql.EARLIER_PRESS}"
        )

        # ACK numbers only grow (SPEC 6): a replica that numbered fewer cannot take one back.
        self._sql_acks = (
            f"UPDATE frames SET acks = CASE WHEN acks > {p} THEN acks ELSE {p} END "
            f"WHERE device_id = {p} AND counter = {p}"
        )

    async def close(self) -> None:
        await self.engine.dispose()
        if self._writer_conn is not None:
            self._writer_conn.close()
            self._writer_conn = None
        if self._checkpointing:
            await self._write_thread.run(self._close_checkpoint_conn, None)  # closed where it is used
        self._write_thread.close()

    def _insert(self, table: Any) -> Any:
        return db.insert(self.dialect, table)

    # -- the writer's one call -----------------------------------------------------------------------------

    async def apply(self, batch: Sequence[Durable], inline: bool = True) -> None:
        """Commit ``batch``. On SQLite a small one runs on the event loop unless ``inline`` is False."""
        if self._sqlite_file is not None:
            await self._apply_sqlite(batch, inline)
            return
        async with self.engine.begin() as conn:
            await self.apply_in(conn, batch)

    async def _apply_sqlite(self, batch: Sequence[Durable], inline: bool) -> None:
        """SQLite: the whole transaction on the driver's own connection, without a round trip through the event
        loop per statement. Through aiosqlite every statement, BEGIN and COMMIT waited for a busy loop: under a
        flood a 3 ms commit took 17 ms on average and up to 95 ms, and every uplink in it waited that long for its
        acknowledgement (bench/dispatch_bench.py).

        A small commit (an alarm's records, ~0.1 ms) runs right here on the event loop; a large one (a flood's,
        milliseconds) in the commit thread, so that deciding the next uplinks goes on meanwhile. Handed to the
        thread, a small commit woke it, and its end woke the loop again: two more threads to schedule on two
        shared cores at every alarm, one of them while the alarm's push was still on its way. Inline, the commit
        never waits for a lock: if another connection holds it (the API saving a responder), the commit thread
        takes this batch and waits there.

        Under load the writer asks for none inline (writer.py): in a flood, commits on the loop kept every batch
        small, as nothing was read while one ran, and made twice the commits."""
        if inline and len(batch) <= INLINE_RECORDS:
            try:
                self._apply_sync(batch, wait=False)
                self.commits_inline += 1
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) and "busy" not in str(e):
                    raise
                await self._write_thread.run(self._apply_sync, batch)
                self.commits_in_thread += 1
        else:
            await self._write_thread.run(self._apply_sync, batch)
            self.commits_in_thread += 1
        self._since_checkpoint += len(batch)
        if self._since_checkpoint >= CHECKPOINT_RECORDS:
            self._since_checkpoint = 0
            self._checkpointing = True
            # Not awaited: nothing waits for a checkpoint. The thread runs it between commits, and in WAL mode
            # a passive checkpoint and a commit on another connection do not wait for each other.
            self._write_thread.run(self._checkpoint, None)

    def _apply_sync(self, batch: Sequence[Durable], wait: bool = True) -> None:
        # The driver itself, without SQLAlchemy's connection and transaction layers: every statement here is plain
        # SQL already, and what SQLAlchemy added per commit ran holding the GIL.
        conn = self._writer_conn
        if conn is None:
            assert self._sqlite_file is not None
            conn = sqlite3.connect(self._sqlite_file, isolation_level=None, check_same_thread=False)
            _sqlite_pragmas(conn, None)
            conn.execute("PRAGMA wal_autocheckpoint=0")
            self._writer_conn = conn
            self._writer_waits = True
        if wait != self._writer_waits:
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS if wait else 0}")
            self._writer_waits = wait
        conn.execute("BEGIN IMMEDIATE")
        try:
            for _, stmt, params in self._statements(batch):
                if isinstance(params, list):
                    conn.executemany(stmt, params)
                else:
                    conn.execute(stmt, params)
            conn.execute("COMMIT")
        except BaseException:
            # A failed COMMIT (a full disk, say) can leave the transaction open: the writer's retry starts clean.
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _checkpoint(self, _: None) -> None:
        try:
            if self._checkpoint_conn is None:
                assert self._sqlite_file is not None
                self._checkpoint_conn = sqlite3.connect(self._sqlite_file, isolation_level=None)
                _sqlite_pragmas(self._checkpoint_conn, None)
            self._checkpoint_conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            self.checkpoints += 1
        except sqlite3.Error as e:  # the next one will try again; until then the WAL grows
            log.warning("WAL checkpoint failed: %s", e)

    def _close_checkpoint_conn(self, _: None) -> None:
        if self._checkpoint_conn is not None:
            self._checkpoint_conn.close()
            self._checkpoint_conn = None

    async def apply_in(self, conn: AsyncConnection, batch: Sequence[Durable]) -> None:
        """Write a batch inside the caller's transaction."""
        for raw, stmt, params in self._statements(batch):
            if raw:
                await conn.exec_driver_sql(stmt, params)
            else:
                await conn.execute(stmt, params)

    def _statements(self, batch: Sequence[Durable]) -> list[tuple[bool, Any, Any]]:
        """The statements that write ``batch``: (plain SQL for the driver?, statement, parameters)."""
        out: list[tuple[bool, Any, Any]] = []
        devices: dict[int, DeviceState] = {}
        frames: list[tuple[Any, ...]] = []
        receptions: list[ReceptionRow] = []
        snapshots: dict[str, dict[str, Any]] = {}
        events: list[Event] = []
        notices: list[NoticeRow] = []
        acks: dict[tuple[int, int], int] = {}
        for r in batch:
            if isinstance(r, DeviceState):
                prev = devices.get(r.device_id)
                if prev is None or r.highest >= prev.highest:
                    devices[r.device_id] = r
            elif isinstance(r, FrameSeen):
                frames.append((r.device_id, r.counter, r.event, r.rx_ms, r.incident_id, r.frame, r.press_rx_ms))
            elif isinstance(r, ReceptionRow):
                receptions.append(r)
            elif isinstance(r, IncidentSnapshot):
                snapshots[r.incident["id"]] = r.incident
            elif isinstance(r, Event):
                events.append(r)
            elif isinstance(r, AckSent):
                key = (r.device_id, r.counter)
                acks[key] = max(acks.get(key, 0), r.seq + 1)
            else:
                notices.append(r)
        # The two statements every heartbeat makes go to the driver as plain SQL with rows as tuples: bound by
        # SQLAlchemy they cost 2.7 times as much (10.9 against 4.1 us a frame on SQLite), in the writer's thread
        # and under the GIL the event loop needs. On SQLite, many rows to a statement (bulk_sql.py).
        sqlite_ = self.dialect == "sqlite"
        if devices:
            device_rows = [
                (d.device_id, d.highest, _signed64(d.bitmap), d.last_seen_ms, d.battery, d.heartbeat_min)
                for d in devices.values()
            ]
            if sqlite_:
                for n, params in bulk_sql.chunks(device_rows, len(bulk_sql.DEVICE_COLUMNS)):
                    out.append((True, bulk_sql.update_devices(n), params))
            else:
                out.append(
                    (
                        True,
                        self._sql_device_state,
                        [(h, h, h, b, seen, bat, hb, i) for i, h, b, seen, bat, hb in device_rows],
                    )
                )
        if frames:
            if sqlite_:
                for n, params in bulk_sql.chunks(frames, len(bulk_sql.FRAME_COLUMNS)):
                    out.append((True, bulk_sql.insert_frames(n), params))
            else:
                out.append((True, self._sql_frames, frames))
        if acks:
            # After the frames: an alarm's first ACK is numbered in the same batch that records its frame.
            out.append((True, self._sql_acks, [(n, n, d, c) for (d, c), n in acks.items()]))
        # On SQLite an alarm's commit also writes its incident, log and receptions as plain SQL: as SQLAlchemy
        # statements these cost 0.3 of the 0.5 ms a one-alarm commit took, all of it holding the GIL the event
        # loop waits for.
        incident = bulk_sql.incident_statements if sqlite_ else self._incident_statements
        out.extend(incident(receptions, list(snapshots.values()), events, notices))
        return out

    def _incident_statements(
        self,
        receptions: list[ReceptionRow],
        snapshots: list[dict[str, Any]],
        events: list[Event],
        notices: list[NoticeRow],
    ) -> list[tuple[bool, Any, Any]]:
        """PostgreSQL: an alarm's incident, log, receptions and notices, as SQLAlchemy statements."""
        out: list[tuple[bool, Any, Any]] = []
        if receptions:
            rows = [
                {
                    "incident_id": r.incident_id,
                    "gateway_id": r.gateway_id,
                    "rx_time_ms": r.rx_time_ms,
                    "radio": r.radio,
                    "rssi": r.rssi,
                    "snr": r.snr,
                }
                for r in receptions
            ]
            out.append((False, self._insert(t.receptions).on_conflict_do_nothing(), rows))
        if snapshots:
            rows = [_incident_row(d) for d in snapshots]
            stmt = self._insert(t.incidents)
            stmt = stmt.on_conflict_do_update(
                index_elements=[t.incidents.c.id],
                set_={c: stmt.excluded[c] for c in ("state", "forced", "updated_ms", "doc")},
            )
            out.append((False, stmt, rows))
        if events:
            logged = [{"incident_id": e.incident_id, "at_ms": e.at_ms, "kind": e.kind, "data": e.data} for e in events]
            out.append((False, t.incident_events.insert(), logged))
        if notices:
            told = [{"kind": n.kind, "subject": n.subject, "at_ms": n.at_ms, "data": n.data} for n in notices]
            out.append((False, t.notices.insert(), told))
        return out

    # -- what replicas on one PostgreSQL share ----------------------------------------------------------

    @asynccontextmanager
    async def device_lock(self, device_id: int) -> AsyncIterator[AsyncConnection]:
        """A transaction holding the device's lock: replicas change one person's incidents one at a time."""
        async with self.engine.begin() as conn:
            if self.dialect == "postgresql":
                await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": device_id})
            yield conn

    async def claim_in(self, conn: AsyncConnection, f: FrameSeen) -> bool:
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

    async def frame_incident(self, conn: AsyncConnection, device_id: int, counter: int) -> str | None:
        q = select(t.frames.c.incident_id).where(t.frames.c.device_id == device_id, t.frames.c.counter == counter)
        return (await conn.execute(q)).scalar()

    async def incident_docs(
        self, conn: AsyncConnection, device_id: int, ids: Sequence[str] = ()
    ) -> list[dict[str, Any]]:
        """The device's active incidents, and any named ones."""
        cond = (t.incidents.c.device_id == device_id) & t.incidents.c.state.in_([s.value for s in ACTIVE])
        if ids:
            cond = cond | t.incidents.c.id.in_(list(ids))
        return [r.doc for r in await conn.execute(select(t.incidents.c.doc).where(cond))]

    async def heard(self, conn: AsyncConnection, incident_id: str) -> dict[str, tuple[str, float | None]]:
        """Per gateway, the strongest copy of the incident's frames that any replica stored."""
        out: dict[str, tuple[str, float | None]] = {}
        q = select(t.receptions).where(t.receptions.c.incident_id == incident_id)
        for row in await conn.execute(q):
            best = out.get(row.gateway_id)
            if best is None or (row.rssi is not None and (best[1] is None or row.rssi > best[1])):
                out[row.gateway_id] = (row.radio, row.rssi)
        return out

    async def notify(self, conn: AsyncConnection | None, message: dict[str, Any]) -> None:
        """Tell every replica (this one included). Inside a transaction it is delivered at commit."""
        payload = json.dumps(message, separators=(",", ":"))
        if conn is not None:
            await conn.execute(text("SELECT pg_notify('nightwatch', :p)"), {"p": payload})
            return
        async with self.engine.begin() as c:
            await c.execute(text("SELECT pg_notify('nightwatch', :p)"), {"p": payload})

    async def frame_recent(self, conn: AsyncConnection, device_id: int, counter: int, incident_id: str) -> Recent:
        """What a replica remembers of an incident's frame: its bytes, its first copy's time, its ACK numbers."""
        q = select(t.frames).where(t.frames.c.device_id == device_id, t.frames.c.counter == counter)
        row = (await conn.execute(q)).first()
        if row is None:
            return Recent("", incident_id, 0, {}, b"")
        recent = Recent(row.event, incident_id, row.rx_ms, {}, row.frame or b"")
        recent.acks, recent.press_rx_ms = row.acks, row.press_rx_ms or 0
        return recent

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

    def conninfo(self) -> str:
        u = self.engine.url
        return u.set(drivername="postgresql").render_as_string(hide_password=False)

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
        row = {
            "device_id": f.device_id,
            "counter": f.counter,
            "event": f.event,
            "rx_ms": f.rx_ms,
            "incident_id": f.incident_id,
            "frame": f.frame,
            "press_rx_ms": f.press_rx_ms,
        }
        stmt = self._insert(t.frames).values(**row).on_conflict_do_nothing().returning(t.frames.c.counter)
        async with self.engine.begin() as conn:
            return (await conn.execute(stmt)).first() is not None

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
                    bitmap=_signed64(bitmap),
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
            # The removed stay in their tables for the incidents that name them (roster_store.py), not in memory.
            for r in await conn.execute(select(t.devices).where(t.devices.c.removed_ms.is_(None))):
                root = self.sealer.open(r.device_id, r.root_key)
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
            await self._load_recent(conn, state, now_ms)

    async def _load_recent(self, conn: AsyncConnection, state: DispatchState, now_ms: int) -> None:
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


def _signed64(v: int) -> int:
    # The replay bitmap is 32 bits today; storing it signed keeps a future 64-bit window inside BIGINT.
    return v - (1 << 64) if v >= 1 << 63 else v


def _incident_row(d: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": d["id"],
        "device_id": d["device_id"],
        "counter": d["counter"],
        "kind": d["kind"],
        "state": d["state"],
        "forced": d["forced"],
        "opened_ms": d["opened_ms"],
        "updated_ms": d["updated_ms"],
        "doc": d,
    }
