"""The pseudonym multimap against a dict-of-lists model, through inserts, removals and rebuilds."""

from collections import defaultdict

from hypothesis import given
from hypothesis import strategies as st

from basestation.pseudonyms.table import PseudonymTable

ops = st.lists(
    st.tuples(st.sampled_from(["insert", "remove"]), st.integers(0, 40), st.integers(0, 3)),
    max_size=400,
)


@given(ops)
def test_table_matches_a_model(steps: list[tuple[str, int, int]]) -> None:
    t = PseudonymTable(expected=1)
    model: dict[int, list[int]] = defaultdict(list)
    for op, pid, val in steps:
        # Spread the small pids over the whole 48-bit range but keep them colliding in the low bits.
        key = (pid << 40) | (pid & 3)
        if op == "insert":
            t.insert(key, val)
            model[key].append(val)
        else:
            assert t.remove(key, val) == (val in model[key])
            if val in model[key]:
                model[key].remove(val)
        assert sorted(t.find(key)) == sorted(model[key])
    assert len(t) == sum(len(v) for v in model.values())
    assert sorted(t.items()) == sorted((k, v) for k, vs in model.items() for v in vs)


def test_many_removals_do_not_grow_the_table() -> None:
    t = PseudonymTable(expected=100)
    cap = t.capacity
    for round_ in range(50):
        for i in range(100):
            t.insert((round_ << 20) | i, i)
        for i in range(100):
            assert t.remove((round_ << 20) | i, i)
    assert len(t) == 0
    assert t.capacity == cap
