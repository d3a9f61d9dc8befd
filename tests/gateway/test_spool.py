import sqlite3
from pathlib import Path

import pytest

from basestation.gateway.core import pseudonym
from basestation.gateway.spool import Spool
from harness.gateway import frames


def fill(spool: Spool, items: list[bytes], t0: float, repeated: bool = False) -> list[int]:
    return [spool.add(f, pseudonym(f), b"payload-" + f, t0 + i, repeated) for i, f in enumerate(items)]


def test_order_and_removal(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.db")
    items = frames(10)
    seqs = fill(spool, items, 1000.0)
    assert seqs == sorted(seqs) and spool.depth == 10
    assert [p for _, p in spool.after(0, 100)] == [b"payload-" + f for f in items]
    assert [s for s, _ in spool.after(seqs[3], 2)] == seqs[4:6]
    spool.remove(seqs[:4])
    assert spool.depth == 6 and spool.oldest_rx_time() == 1004.0
    spool.remove([seqs[0]])  # already gone: depth must not drift
    assert spool.depth == 6


def test_survives_reopen_and_sequence_never_goes_back(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    spool = Spool(path)
    seqs = fill(spool, frames(5), 0.0)
    spool.remove(seqs)  # empty again: a plain rowid would restart at 1
    fill(spool, frames(3, first_counter=100), 10.0)
    spool.close()
    again = Spool(path)
    assert again.depth == 3
    later = again.add(b"x", b"p", b"y", 20.0, False)
    assert later > max(s for s, _ in again.after(0, 2)) > seqs[-1]


def test_bound_evicts_oldest_heard_once_only(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.db", max_frames=10, young_s=5.0)
    alarms = fill(spool, frames(4, first_counter=1), 0.0, repeated=True)
    beats = fill(spool, frames(6, first_counter=100), 10.0)
    assert spool.depth == 10
    newcomers = fill(spool, frames(3, first_counter=200), 100.0)
    assert spool.depth == 10 and spool.evicted == 3
    left = [s for s, _ in spool.after(0, 100)]
    assert left == alarms + beats[3:] + newcomers  # the three oldest heartbeats went, every alarm stayed


def test_repeated_frames_are_never_evicted_even_past_the_bound(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.db", max_frames=5, young_s=5.0)
    alarms = fill(spool, frames(8), 0.0, repeated=True)
    assert spool.depth == 8 and spool.evicted == 0
    assert [s for s, _ in spool.after(0, 100)] == alarms


def test_young_frames_are_not_evicted(tmp_path: Path) -> None:
    # A frame heard once a moment ago may be the first copy of a burst whose repeats are still coming.
    spool = Spool(tmp_path / "s.db", max_frames=3, young_s=5.0)
    fill(spool, frames(5), 100.0)
    assert spool.evicted == 0 and spool.depth == 5


def test_mark_repeated_protects_every_spooled_frame_of_the_counter(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.db", max_frames=3, young_s=0.0)
    first, *rest = frames(3)
    seqs = fill(spool, [first, *rest], 0.0)
    assert spool.mark_repeated(pseudonym(first)) == 1 and spool.mark_repeated(pseudonym(first)) == 0
    assert spool.protected() == 1
    fill(spool, frames(2, first_counter=50), 10.0)
    assert seqs[0] in [s for s, _ in spool.after(0, 100)]
    assert spool.evicted == 2


def test_committed_rows_visible_to_another_connection(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    spool = Spool(path)
    fill(spool, frames(3), 0.0)
    other = sqlite3.connect(path)
    assert other.execute("SELECT COUNT(*) FROM spool").fetchone()[0] == 3
    other.close()


def test_refuses_unsafe_settings(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        Spool(tmp_path / "s.db", synchronous="OFF")
    with pytest.raises(ValueError):
        Spool(tmp_path / "t.db", max_frames=0)
