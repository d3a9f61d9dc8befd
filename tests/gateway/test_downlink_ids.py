"""RecentIds: which downlink ids a gateway has carried out lately, so a copy from a second broker is not sent
again. Table-driven edges, then hypothesis against a plain model of the rule."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from basestation.gateway.downlink import RecentIds

MEMORY_S = 10.0
MAX = 3


@pytest.mark.parametrize(
    ("steps", "comment"),
    [
        ([("a", 0.0, True), ("a", 0.0, False)], "a copy at the same instant"),
        ([("a", 0.0, True), ("a", 9.999, False)], "a copy just inside the memory"),
        ([("a", 0.0, True), ("a", 10.0, True)], "memory_s after the first copy it is forgotten"),
        ([("a", 0.0, True), ("a", 5.0, False), ("a", 10.0, True)], "a copy does not extend the memory"),
        ([("a", 0.0, True), ("b", 1.0, True), ("a", 2.0, False), ("b", 3.0, False)], "ids are independent"),
        (
            [("a", 0.0, True), ("b", 0.0, True), ("c", 0.0, True), ("d", 0.0, True), ("a", 0.0, True)],
            "past max_entries the oldest is forgotten first",
        ),
        (
            [("a", 0.0, True), ("b", 0.0, True), ("c", 0.0, True), ("d", 0.0, True), ("b", 0.0, False)],
            "the newer ones are still known",
        ),
        ([("a", 0.0, True), ("b", 20.0, True), ("a", 20.0, True)], "expired entries go as time passes"),
    ],
)
def test_table(steps: list[tuple[str, float, bool]], comment: str) -> None:
    ids = RecentIds(memory_s=MEMORY_S, max_entries=MAX)
    assert [ids.first(ident, now) for ident, now, _ in steps] == [want for _, _, want in steps], comment
    assert len(ids) <= MAX


@pytest.mark.parametrize(("memory_s", "max_entries"), [(0.0, 1), (-1.0, 1), (1.0, 0)])
def test_refused_bounds(memory_s: float, max_entries: int) -> None:
    with pytest.raises(ValueError):
        RecentIds(memory_s, max_entries)


def model(history: list[tuple[str, float]], ident: str, now: float, memory_s: float, max_entries: int) -> bool:
    """The rule written plainly: ``ident`` is a copy if it is among the last ``max_entries`` first copies and
    its first copy was less than ``memory_s`` ago. ``history`` holds the first copies, in order."""
    return not any(i == ident and now - t < memory_s for i, t in history[-max_entries:])


steps = st.lists(st.tuples(st.sampled_from("abcdefgh"), st.floats(0, 8, allow_nan=False)), max_size=200)


@given(steps, st.floats(0.5, 20), st.integers(1, 6))
def test_agrees_with_the_model(items: list[tuple[str, float]], memory_s: float, max_entries: int) -> None:
    ids = RecentIds(memory_s, max_entries)
    history: list[tuple[str, float]] = []
    now = 0.0
    for ident, gap in items:  # a monotonic clock: gaps are never negative
        now += gap
        want = model(history, ident, now, memory_s, max_entries)
        assert ids.first(ident, now) is want
        if want:
            history.append((ident, now))
        assert len(ids) <= max_entries


@given(steps)
def test_each_id_is_carried_out_once_while_remembered(items: list[tuple[str, float]]) -> None:
    # Two brokers deliver every request twice, the second copy up to a few seconds late: with room enough and
    # a memory longer than the whole run, each id is carried out exactly once.
    ids = RecentIds(memory_s=10_000.0, max_entries=100)
    now, carried = 0.0, []
    for ident, gap in items:
        now += gap
        for _ in range(2):
            if ids.first(ident, now):
                carried.append(ident)
    assert sorted(carried) == sorted(set(i for i, _ in items))
