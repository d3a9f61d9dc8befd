"""Many rows to a statement on SQLite: the same rows in the database as one statement per row would leave."""

import asyncio
import sqlite3
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from basestation.dispatch.core.effects import DeviceState, FrameSeen
from basestation.dispatch.io import bulk_sql
from basestation.dispatch.io.migrate import upgrade
from basestation.dispatch.io.store import Store
from tests.dispatch.world import provision
from tests.fuzz import examples


@given(st.integers(0, 20_000), st.sampled_from([len(bulk_sql.FRAME_COLUMNS), len(bulk_sql.DEVICE_COLUMNS), 7]))
def test_chunks_keep_every_value_in_order_within_the_limit(n: int, columns: int) -> None:
    rows = [tuple(range(i * columns, (i + 1) * columns)) for i in range(n)]
    got = list(bulk_sql.chunks(rows, columns))
    assert sum(k for k, _ in got) == n
    assert all(len(params) == k * columns <= bulk_sql.MAX_VARIABLES for k, params in got)
    assert [v for _, params in got for v in params] == list(range(n * columns))


DEVICES = 5
states = st.lists(
    st.lists(
        st.tuples(st.integers(1, DEVICES), st.integers(0, 50), st.integers(0, (1 << 64) - 1), st.integers(0, 10**6)),
        max_size=12,
    ),
    max_size=6,
)


@settings(max_examples=examples(25), deadline=None)
@given(batches=states)
def test_device_state_batches_keep_the_highest_counter_and_its_bitmap(tmp_path_factory, batches) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path_factory.mktemp("bulk") / "d.db"
    url = f"sqlite+aiosqlite:///{db}"
    upgrade(url)
    asyncio.run(provision(url, {i: bytes(16) for i in range(1, DEVICES + 1)}))
    model: dict[int, tuple[int, int, int]] = {i: (0, 0, 0) for i in range(1, DEVICES + 1)}

    async def run() -> None:
        store = Store(url)
        try:
            for batch in batches:
                records = [DeviceState(d, h, b, seen, 50, 60) for d, h, b, seen in batch]
                await store.apply(records)
                # The store keeps one record per device per batch: the one with the highest counter, the last
                # of equals.
                latest: dict[int, tuple[int, int, int]] = {}
                for d, h, b, seen in batch:
                    if d not in latest or h >= latest[d][0]:
                        latest[d] = (h, b, seen)
                for d, (h, b, seen) in latest.items():
                    old_h, old_b, _ = model[d]
                    model[d] = (h, b, seen) if h >= old_h else (old_h, old_b, seen)
        finally:
            await store.close()

    asyncio.run(run())
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT device_id, highest, bitmap, last_seen_ms FROM devices").fetchall()
    for d, h, b, seen in rows:
        want_h, want_b, want_seen = model[d]
        assert (h, b & ((1 << 64) - 1)) == (want_h, want_b), d
        if want_seen:
            assert seen == want_seen


def test_frames_fill_in_their_incident_and_keep_it(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'd.db'}"
    upgrade(url)
    asyncio.run(provision(url, {1: bytes(16)}))

    async def run() -> None:
        store = Store(url)
        try:
            await store.apply([FrameSeen(1, c, "sos", 10, None) for c in range(1, 6001)])  # two statements' worth
            await store.apply([FrameSeen(1, 3, "sos", 10, "1-3", b"\x10" * 24)])
            await store.apply([FrameSeen(1, 3, "sos", 10, None)])  # a late copy must not erase it
        finally:
            await store.close()

    asyncio.run(run())
    with sqlite3.connect(tmp_path / "d.db") as conn:
        assert conn.execute("SELECT COUNT(*) FROM frames").fetchone() == (6000,)
        assert conn.execute("SELECT incident_id, frame FROM frames WHERE counter = 3").fetchone() == (
            "1-3",
            b"\x10" * 24,
        )
