"""The group commit: records that arrive within the commit delay share one transaction; each caller hears back
only once its records are in the database."""

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path

from basestation.dispatch.core.effects import FrameSeen
from basestation.dispatch.io.migrate import upgrade
from basestation.dispatch.io.store import Store
from basestation.dispatch.io.writer import Writer
from tests.dispatch.world import provision


def _frames(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        n: int = conn.execute("SELECT COUNT(*) FROM frames").fetchone()[0]
        return n


def _run(tmp_path: Path, delay_s: float, gap_s: float) -> tuple[int, list[int]]:
    """Three messages' records, ``gap_s`` apart; returns the commits made and the frames each caller saw
    committed when it was called back."""
    db = tmp_path / "d.db"
    url = f"sqlite+aiosqlite:///{db}"
    upgrade(url)
    asyncio.run(provision(url, {1: bytes(16)}))
    seen: list[int] = []

    async def go() -> int:
        store = Store(url)
        writer = Writer(store, delay_s=delay_s)
        writer.start()
        done = asyncio.Event()

        def committed(error: BaseException | None) -> None:
            assert error is None
            seen.append(_frames(db))
            if len(seen) == 3:
                done.set()

        try:
            for counter in (1, 2, 3):
                writer.enqueue([FrameSeen(1, counter, "sos", 10, None)], committed, urgent=True)
                await asyncio.sleep(gap_s)
            await asyncio.wait_for(done.wait(), 10)
            return writer.commits
        finally:
            await writer.stop()
            await store.close()

    return asyncio.run(go()), seen


def test_records_arriving_within_the_delay_share_one_commit(tmp_path: Path) -> None:
    commits, seen = _run(tmp_path, delay_s=0.5, gap_s=0.02)
    assert commits == 1
    assert seen == [3, 3, 3]  # nobody is told before every record of the commit is in


def test_without_a_delay_an_idle_writer_commits_at_once(tmp_path: Path) -> None:
    commits, seen = _run(tmp_path, delay_s=0.0, gap_s=0.3)
    assert commits == 3
    assert seen == [1, 2, 3]


def test_a_batch_the_database_refuses_is_split_and_only_the_refused_message_is_handed_back(tmp_path: Path) -> None:
    db = tmp_path / "d.db"
    url = f"sqlite+aiosqlite:///{db}"
    upgrade(url)
    asyncio.run(provision(url, {1: bytes(16), 2: bytes(16)}))
    with sqlite3.connect(db) as conn:
        conn.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON frames WHEN NEW.device_id = 2 "
            "BEGIN SELECT RAISE(ABORT, 'refused'); END"
        )
    heard: dict[int, BaseException | None] = {}

    async def go() -> tuple[int, int]:
        store = Store(url)
        writer = Writer(store, delay_s=0.05)
        writer.start()
        try:
            # Enqueued together, within the delay: one batch, which the database refuses as a whole.
            def told(n: int) -> Callable[[BaseException | None], None]:
                return lambda error: heard.__setitem__(n, error)

            for n, device in enumerate((1, 2, 1)):
                writer.enqueue([FrameSeen(device, 10 + n, "sos", 10, None)], told(n))
            while len(heard) < 3:
                await asyncio.sleep(0.01)
            return writer.set_aside, writer.failures
        finally:
            await writer.stop()
            await store.close()

    set_aside, failures = asyncio.run(go())
    assert heard[0] is None and heard[2] is None
    assert isinstance(heard[1], sqlite3.IntegrityError)
    assert set_aside == 1 and failures == 2  # the batch, then the refused message alone; never retried
    assert _frames(db) == 2
