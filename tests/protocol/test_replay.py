"""The replay window accepts each counter exactly once, and refuses what it can no longer judge."""

from hypothesis import given
from hypothesis import strategies as st

from protocol.constants import REPLAY_WINDOW
from protocol.replay import ACCEPT, ReplayWindow


@given(st.lists(st.integers(1, 300), max_size=200))
def test_each_counter_is_accepted_at_most_once(seq: list[int]) -> None:
    w = ReplayWindow()
    accepted: list[int] = []
    for c in seq:
        if w.accept(c) == ACCEPT:
            accepted.append(c)
    assert len(accepted) == len(set(accepted))


@given(st.lists(st.integers(1, 300), max_size=200))
def test_window_matches_a_simple_model(seq: list[int]) -> None:
    # The model: a set of everything accepted, plus the rule that a counter more than the window below the
    # highest can no longer be judged and is refused.
    w = ReplayWindow()
    seen: set[int] = set()
    highest = 0
    for c in seq:
        if c in seen:
            want = "replay" if highest - c < REPLAY_WINDOW else "too_old"
        elif c <= highest - REPLAY_WINDOW:
            want = "too_old"
        else:
            want = ACCEPT
        assert w.accept(c) == want
        if want == ACCEPT:
            seen.add(c)
            highest = max(highest, c)


@given(st.permutations(list(range(1, REPLAY_WINDOW + 1))))
def test_any_order_inside_the_window_accepts_every_counter_once(order: list[int]) -> None:
    w = ReplayWindow()
    assert all(w.accept(c) == ACCEPT for c in order)
    assert all(w.accept(c) == "replay" for c in order)


def test_check_does_not_change_state() -> None:
    w = ReplayWindow()
    assert w.check(5) == ACCEPT
    assert w.check(5) == ACCEPT
    assert w.accept(5) == ACCEPT
    assert w.check(5) == "replay"
