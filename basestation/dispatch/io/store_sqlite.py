"""SQLite: the pragmas every connection gets, the writer's statements, and its commits on the driver's own
connection, small ones on the event loop and large ones and the WAL's checkpoints in the commit thread
(write_thread.py). The Store (store.py) hands a file database's batches to :class:`SqliteWriter`."""

import logging
import sqlite3
import time
from collections.abc import Sequence
from typing import Any

from basestation.dispatch.core.effects import Durable
from basestation.dispatch.io import bulk_sql, store_rows
from basestation.dispatch.io.write_thread import WriteThread

log = logging.getLogger("nightwatch.dispatch.store")

JOURNAL_MODE_TRIES = 100  # 20 ms apart: connections opening together wait up to two seconds for each other
BUSY_TIMEOUT_MS = 5000
# A commit of up to this many records runs on the event loop itself, not in the commit thread (see apply).
INLINE_RECORDS = 64
# The writer's connection never checkpoints by itself (a checkpoint inside an inline commit would hold the event
# loop for milliseconds): the commit thread does, on a connection of its own, after this many records.
CHECKPOINT_RECORDS = 2000

UPDATE_ACKS = store_rows.update_acks("?")


def sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
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


def statements(batch: Sequence[Durable]) -> list[tuple[bool, Any, Any]]:
    """The statements that write ``batch``: (plain SQL for the driver?, statement, parameters), all plain SQL.

    The two statements every heartbeat makes go to the driver with rows as tuples: bound by SQLAlchemy they cost
    2.7 times as much (10.9 against 4.1 us a frame), in the writer's thread and under the GIL the event loop needs;
    and many rows to a statement (bulk_sql.py). An alarm's incident, log and receptions too: as SQLAlchemy
    statements these cost 0.3 of the 0.5 ms a one-alarm commit took, all of it holding the GIL."""
    r = store_rows.rows(batch)
    out: list[tuple[bool, Any, Any]] = []
    for n, params in bulk_sql.chunks(r.devices, len(bulk_sql.DEVICE_COLUMNS)):
        out.append((True, bulk_sql.update_devices(n), params))
    for n, params in bulk_sql.chunks(r.frames, len(bulk_sql.FRAME_COLUMNS)):
        out.append((True, bulk_sql.insert_frames(n), params))
    if r.acks:
        # After the frames: an alarm's first ACK is numbered in the same batch that records its frame.
        out.append((True, UPDATE_ACKS, r.acks))
    out.extend(bulk_sql.incident_statements(r.receptions, r.snapshots, r.events, r.notices))
    return out


class SqliteWriter:
    """The writer's commits to a SQLite file, on a connection of its own, opened on its first commit."""

    def __init__(self, path: str, nice: int = 0) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._waits = True  # the connection's busy timeout is BUSY_TIMEOUT_MS, not 0
        self._checkpoint_conn: sqlite3.Connection | None = None
        self._checkpointing = False
        self._since_checkpoint = 0
        self._thread = WriteThread("nightwatch-writer", nice)
        # Commits by where they ran, and checkpoints done (the service's /healthz shows them).
        self.commits_inline = 0
        self.commits_in_thread = 0
        self.checkpoints = 0

    async def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._checkpointing:
            await self._thread.run(self._close_checkpoint_conn, None)  # closed where it is used
        self._thread.close()

    async def apply(self, batch: Sequence[Durable], inline: bool) -> None:
        """The whole transaction on the driver's own connection, without a round trip through the event loop per
        statement. Through aiosqlite every statement, BEGIN and COMMIT waited for a busy loop: under a flood a 3 ms
        commit took 17 ms on average and up to 95 ms, and every uplink in it waited that long for its
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
                await self._thread.run(self._apply_sync, batch)
                self.commits_in_thread += 1
        else:
            await self._thread.run(self._apply_sync, batch)
            self.commits_in_thread += 1
        self._since_checkpoint += len(batch)
        if self._since_checkpoint >= CHECKPOINT_RECORDS:
            self._since_checkpoint = 0
            self._checkpointing = True
            # Not awaited: nothing waits for a checkpoint. The thread runs it between commits, and in WAL mode
            # a passive checkpoint and a commit on another connection do not wait for each other.
            self._thread.run(self._checkpoint, None)

    def _apply_sync(self, batch: Sequence[Durable], wait: bool = True) -> None:
        # The driver itself, without SQLAlchemy's connection and transaction layers: every statement here is plain
        # SQL already, and what SQLAlchemy added per commit ran holding the GIL.
        conn = self._conn
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            sqlite_pragmas(conn, None)
            conn.execute("PRAGMA wal_autocheckpoint=0")
            self._conn = conn
            self._waits = True
        if wait != self._waits:
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS if wait else 0}")
            self._waits = wait
        conn.execute("BEGIN IMMEDIATE")
        try:
            for _, stmt, params in statements(batch):
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
                self._checkpoint_conn = sqlite3.connect(self.path, isolation_level=None)
                sqlite_pragmas(self._checkpoint_conn, None)
            self._checkpoint_conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            self.checkpoints += 1
        except sqlite3.Error as e:  # the next one will try again; until then the WAL grows
            log.warning("WAL checkpoint failed: %s", e)

    def _close_checkpoint_conn(self, _: None) -> None:
        if self._checkpoint_conn is not None:
            self._checkpoint_conn.close()
            self._checkpoint_conn = None
