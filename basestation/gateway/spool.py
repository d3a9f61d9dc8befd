"""The on-disk spool: every forwarded frame stays here until the broker acknowledges it.

SQLite in WAL mode. A row is written (and committed) before the frame is handed to MQTT, and deleted only
on PUBACK, so a frame survives a broker outage and a gateway restart. ``seq`` is AUTOINCREMENT: it never
goes back, even after rows are deleted, so replay order is receive order across restarts.

Bounds (docs/gateway.md, "Spool bounds"): past ``max_frames`` rows the spool evicts, oldest first, only
frames whose pseudonym was heard once and that are older than ``young_s``. Frames a device repeated (alarm
bursts and retries share the pseudonym) are never evicted; their growth is bounded by the disk alone.
"""

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS spool (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    frame BLOB NOT NULL,
    pseudonym BLOB NOT NULL,
    payload BLOB NOT NULL,
    rx_time REAL NOT NULL,
    repeated INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS spool_pseudonym ON spool (pseudonym);
CREATE INDEX IF NOT EXISTS spool_evictable ON spool (repeated, seq);
"""


class Spool:
    def __init__(
        self,
        path: Path | str,
        max_frames: int = 100_000,
        young_s: float = 120.0,
        synchronous: str = "NORMAL",
    ) -> None:
        if max_frames < 1:
            raise ValueError("max_frames must be at least 1")
        if synchronous.upper() not in ("NORMAL", "FULL", "EXTRA"):
            # OFF would lose committed rows on a power cut; never allow it for the spool.
            raise ValueError("synchronous must be NORMAL, FULL or EXTRA")
        self.max_frames = max_frames
        self.young_s = young_s
        self.evicted = 0
        self._db = sqlite3.connect(str(path), isolation_level=None)
        # WAL with synchronous=NORMAL: a commit survives the process being killed (the WAL is in the OS page
        # cache); only a power cut can lose the last commits. FULL also covers that, at one fsync per frame.
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={synchronous.upper()}")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)
        self._depth: int = self._db.execute("SELECT COUNT(*) FROM spool").fetchone()[0]

    @property
    def depth(self) -> int:
        return self._depth

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Group several adds in one commit (the frames of one datagram): one WAL write, not one each."""
        if self._db.in_transaction:
            yield
            return
        self._db.execute("BEGIN")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            self._depth = self._db.execute("SELECT COUNT(*) FROM spool").fetchone()[0]
            raise
        self._db.execute("COMMIT")

    def add(self, frame: bytes, pseudonym: bytes, payload: bytes, rx_time: float, repeated: bool) -> int:
        """Store one frame to forward; returns its sequence number. Evicts first when the spool is full."""
        if self._depth >= self.max_frames:
            self._evict(rx_time - self.young_s)
        cur = self._db.execute(
            "INSERT INTO spool (frame, pseudonym, payload, rx_time, repeated) VALUES (?, ?, ?, ?, ?)",
            (frame, pseudonym, payload, rx_time, int(repeated)),
        )
        self._depth += 1
        assert cur.lastrowid is not None
        return cur.lastrowid

    def _evict(self, older_than: float) -> None:
        # Only frames heard once and no longer young: a young one may be the first copy of an alarm whose
        # retry (2 s later, its LoRa copy up to ~20 s later under the duty cycle) has not been heard yet.
        cur = self._db.execute(
            "DELETE FROM spool WHERE seq IN (SELECT seq FROM spool WHERE repeated = 0 AND rx_time < ? "
            "ORDER BY seq LIMIT ?)",
            (older_than, self._depth - self.max_frames + 1),
        )
        self._depth -= cur.rowcount
        self.evicted += cur.rowcount

    def mark_repeated(self, pseudonym: bytes) -> int:
        """The device sent this counter more than once: protect every spooled frame of it from eviction."""
        cur = self._db.execute("UPDATE spool SET repeated = 1 WHERE pseudonym = ? AND repeated = 0", (pseudonym,))
        return cur.rowcount

    def after(self, seq: int, limit: int) -> list[tuple[int, bytes]]:
        """Up to ``limit`` rows with a sequence number above ``seq``, in order."""
        rows = self._db.execute(
            "SELECT seq, payload FROM spool WHERE seq > ? ORDER BY seq LIMIT ?", (seq, limit)
        ).fetchall()
        return [(int(s), bytes(p)) for s, p in rows]

    def remove(self, seqs: list[int]) -> None:
        """Delete acknowledged rows (one transaction for the batch)."""
        if not seqs:
            return
        self._db.execute("BEGIN")
        removed = 0
        for seq in seqs:
            removed += self._db.execute("DELETE FROM spool WHERE seq = ?", (seq,)).rowcount
        self._db.execute("COMMIT")
        self._depth -= removed

    def oldest_rx_time(self) -> float | None:
        row = self._db.execute("SELECT rx_time FROM spool ORDER BY seq LIMIT 1").fetchone()
        return None if row is None else float(row[0])

    def protected(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM spool WHERE repeated = 1").fetchone()[0])

    def close(self) -> None:
        self._db.close()
