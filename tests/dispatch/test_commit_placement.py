"""Where SQLite commits run: small ones on the event loop, large ones and any that would wait for a lock in the
commit thread, and the WAL is checkpointed by that thread although the writer's connection never does it."""

import asyncio
import sqlite3
from pathlib import Path

from basestation.dispatch.core.effects import Durable, FrameSeen
from basestation.dispatch.io.migrate import upgrade
from basestation.dispatch.io.store import Store
from basestation.dispatch.io.store_sqlite import CHECKPOINT_RECORDS, INLINE_RECORDS
from basestation.dispatch.io.writer import Writer
from tests.dispatch.world import provision


def _url(tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'd.db'}"
    upgrade(url)
    asyncio.run(provision(url, {1: bytes(16)}))
    return url


def _frames(first: int, n: int) -> list[Durable]:
    return [FrameSeen(1, c, "heartbeat", 10, None) for c in range(first, first + n)]


def test_small_commits_run_inline_and_large_ones_in_the_thread(tmp_path: Path) -> None:
    url = _url(tmp_path)

    async def go() -> tuple[int, int, int]:
        store = Store(url)
        try:
            await store.apply(_frames(1, INLINE_RECORDS))
            await store.apply(_frames(1000, INLINE_RECORDS + 1))
            return store.commits_inline, store.commits_in_thread, await store.count("frames")
        finally:
            await store.close()

    assert asyncio.run(go()) == (1, 1, 2 * INLINE_RECORDS + 1)


def test_a_locked_database_moves_the_commit_to_the_thread_and_the_loop_runs_on(tmp_path: Path) -> None:
    url = _url(tmp_path)
    other = sqlite3.connect(tmp_path / "d.db", isolation_level=None, check_same_thread=False)
    ticks = 0

    async def clock() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    async def go() -> tuple[int, int, bool]:
        store = Store(url)
        ticker = asyncio.create_task(clock())
        try:
            other.execute("BEGIN IMMEDIATE")  # the API holding the write lock, say
            commit = asyncio.create_task(store.apply(_frames(1, 3)))
            await asyncio.sleep(0.3)
            waited = not commit.done()
            other.execute("COMMIT")
            await asyncio.wait_for(commit, 10)
            return store.commits_in_thread, await store.count("frames"), waited
        finally:
            ticker.cancel()
            await store.close()

    in_thread, frames, waited = asyncio.run(go())
    other.close()
    assert (in_thread, frames, waited) == (1, 3, True)
    assert ticks >= 20  # the event loop was never held by the waiting commit


def test_the_wal_is_checkpointed_by_the_thread(tmp_path: Path) -> None:
    wal = tmp_path / "d.db-wal"
    url = _url(tmp_path)
    per_checkpoint = -(-CHECKPOINT_RECORDS // INLINE_RECORDS)  # inline commits between two checkpoints

    async def go() -> tuple[int, list[int]]:
        store = Store(url)
        sizes = []
        try:
            for i in range(8 * per_checkpoint):
                await store.apply(_frames(1 + i * INLINE_RECORDS, INLINE_RECORDS))
                if i % per_checkpoint == per_checkpoint - 1:
                    await asyncio.sleep(0.05)  # the checkpoint just handed over runs meanwhile
                    sizes.append(wal.stat().st_size)
            return store.checkpoints, sizes
        finally:
            await store.close()

    checkpoints, sizes = asyncio.run(go())
    assert checkpoints == 8
    # Checkpointed, the WAL starts again from its beginning: it stays the size of what comes between two
    # checkpoints instead of growing with everything ever written.
    assert max(sizes) <= 2 * sizes[0], sizes


def test_under_load_only_the_first_commit_after_idle_runs_inline(tmp_path: Path) -> None:
    """Back to back, a commit on the loop would keep every batch small (nothing is read while it runs): the
    writer asks for the thread once it has more waiting than one commit takes."""
    url = _url(tmp_path)

    async def go() -> tuple[int, int, int]:
        store = Store(url)
        writer = Writer(store, max_batch=2)
        writer.start()
        try:
            for counter in (1, 2, 3, 4, 5):  # arrive together: three commits of at most two records
                writer.enqueue(_frames(counter, 1), lambda _: None, urgent=True)
            await writer.stop()
            return store.commits_inline, store.commits_in_thread, await store.count("frames")
        finally:
            await store.close()

    assert asyncio.run(go()) == (1, 2, 5)
