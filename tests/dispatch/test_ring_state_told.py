"""What the key ring is told about its alarm (lifecycle.py), rule by rule: whether it still listens, which ACK
state tells the wearer the truth, which copies are answered, and when nobody can come (docs/lifecycle.md)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from basestation.dispatch.core.incidents import Incident, State
from basestation.dispatch.core.lifecycle import (
    PLANNED,
    copy_state,
    nobody_can_come,
    ring_listening,
    ring_state,
)
from protocol.constants import (
    ACK_CANCELLED,
    ACK_CLOSED,
    ACK_HELP_ON_THE_WAY,
    ACK_RECEIVED,
    ACK_UNAVAILABLE,
)
from tests.dispatch.ring_cases import incident

# -- listening -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ring", "quiet", "listening"),
    [
        (1, 0, True),  # pressed, never cancelled
        (5, 4, True),  # pressed again after a cancel
        (5, 5, False),  # the cancel named the latest press
        (5, 6, False),  # a cancel sent after it
        (0, 0, False),
    ],
)
def test_the_ring_listens_only_when_its_latest_press_came_after_its_latest_cancel(
    ring: int, quiet: int, listening: bool
) -> None:
    assert ring_listening(incident(ring=ring, quiet=quiet)) is listening


# -- the state the wearer is told ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("inc", "want"),
    [
        # A quiet ring hears "cancelled" whatever happens: after a duress a coercer must see nothing more.
        (incident(State.ACCEPTED, ring=3, quiet=4, accepted_by=("anna",)), ACK_CANCELLED),
        (incident(State.RESOLVED, ring=3, quiet=3), ACK_CANCELLED),
        (incident(State.ESCALATED, ring=3, quiet=3, unavailable=True), ACK_CANCELLED),
        (incident(State.OPEN, ring=3, quiet=3), ACK_CANCELLED),
        # A listening ring.
        (incident(State.CANCELLED), ACK_CANCELLED),
        (incident(State.CANCELLED, accepted_by=("anna",)), ACK_CANCELLED),
        (incident(State.RESOLVED, accepted_by=("anna",)), ACK_CLOSED),
        (incident(State.RESOLVED, unavailable=True), ACK_CLOSED),
        (incident(State.RESOLVED), ACK_CLOSED),
        (incident(State.ACCEPTED, accepted_by=("anna",)), ACK_HELP_ON_THE_WAY),
        (incident(State.ON_THE_WAY, accepted_by=("anna",)), ACK_HELP_ON_THE_WAY),
        # Someone accepted after nobody could: help wins.
        (incident(State.ACCEPTED, accepted_by=("anna",), unavailable=True), ACK_HELP_ON_THE_WAY),
        (incident(State.ESCALATED, unavailable=True), ACK_UNAVAILABLE),
        (incident(State.OFFERED, unavailable=True, offered_to=("anna",)), ACK_UNAVAILABLE),
        (incident(State.OPEN), ACK_RECEIVED),
        (incident(State.OFFERED, offered_to=("anna",)), ACK_RECEIVED),
        (incident(State.ESCALATED), ACK_RECEIVED),
    ],
)
def test_the_state_the_ring_is_told(inc: Incident, want: int) -> None:
    assert ring_state(inc) == want


incidents = st.builds(
    incident,
    state=st.sampled_from(State),
    ring=st.integers(0, 10),
    quiet=st.integers(0, 10),
    accepted_by=st.lists(st.sampled_from(["anna", "bram"]), max_size=2, unique=True).map(tuple),
    unavailable=st.booleans(),
    offered_to=st.lists(st.sampled_from(["anna", "bram", "cas"]), max_size=3, unique=True).map(tuple),
    declined_by=st.lists(st.sampled_from(["anna", "bram", "cas"]), max_size=3, unique=True).map(tuple),
)


@given(inc=incidents)
def test_what_the_ring_is_told_is_true(inc: Incident) -> None:
    told = ring_state(inc)
    assert told in (ACK_RECEIVED, ACK_HELP_ON_THE_WAY, ACK_CANCELLED, ACK_CLOSED, ACK_UNAVAILABLE)
    if not ring_listening(inc):
        assert told == ACK_CANCELLED
    if told == ACK_HELP_ON_THE_WAY:
        # Invariant b: "help on the way" only if a responder accepted, and only while it lasts.
        assert inc.accepted_by and inc.active
    if told == ACK_CLOSED:
        assert inc.state is State.RESOLVED
    if told == ACK_UNAVAILABLE:
        assert inc.unavailable and not inc.accepted_by and inc.active
    if told == ACK_RECEIVED:
        assert inc.active and not inc.accepted_by and not inc.unavailable


# -- copies ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("inc", "counter", "want"),
    [
        (incident(State.ACCEPTED, ring=3, accepted_by=("anna",)), 3, ACK_HELP_ON_THE_WAY),  # the press it listens for
        (incident(State.RESOLVED, ring=3), 3, ACK_CLOSED),
        (incident(State.ACCEPTED, ring=3, accepted_by=("anna",)), 2, None),  # an older press: its newer one answers
        (incident(State.OPEN, ring=5), 1, None),
        (incident(State.ACCEPTED, ring=3, quiet=4, accepted_by=("anna",)), 3, ACK_CANCELLED),  # quiet: cancelled
        (incident(State.ACCEPTED, ring=3, quiet=4, accepted_by=("anna",)), 2, ACK_CANCELLED),
        (incident(State.OPEN, ring=3, quiet=3), 1, ACK_CANCELLED),
    ],
)
def test_a_retried_copy_is_answered_only_while_the_ring_listens_for_it(
    inc: Incident, counter: int, want: int | None
) -> None:
    assert copy_state(inc, counter) == want


@given(inc=incidents, counter=st.integers(0, 10))
def test_a_copy_is_answered_as_the_ring_would_be_told_or_not_at_all(inc: Incident, counter: int) -> None:
    got = copy_state(inc, counter)
    assert got is None or got == ring_state(inc)
    assert (got is None) == (counter != inc.ring_counter and ring_listening(inc))


# -- nobody can come -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("inc", "want"),
    [
        (incident(State.OPEN), True),  # offered to nobody: nobody on shift, or all busy
        (incident(State.OFFERED, offered_to=("anna", "bram"), declined_by=("anna", "bram")), True),
        (incident(State.ESCALATED, offered_to=("anna",), declined_by=("anna",)), True),
        (incident(State.OFFERED, offered_to=("anna",), declined_by=("anna", "cas")), True),
        # One offer unanswered: not a "no", that responder may still accept.
        (incident(State.OFFERED, offered_to=("anna", "bram"), declined_by=("anna",)), False),
        (incident(State.OFFERED, offered_to=("anna",)), False),
        # Someone accepted, even with nobody else left: help is coming.
        (incident(State.ESCALATED, accepted_by=("op-assigned",)), False),
        (incident(State.OFFERED, offered_to=("anna",), declined_by=("anna",), accepted_by=("bram",)), False),
        # Not waiting for anyone any more.
        (incident(State.ACCEPTED), False),
        (incident(State.ON_THE_WAY), False),
        (incident(State.RESOLVED), False),
        (incident(State.CANCELLED), False),
    ],
)
def test_nobody_can_come_when_everyone_offered_said_no(inc: Incident, want: bool) -> None:
    assert nobody_can_come(inc) is want


def test_the_waiting_states_are_the_ones_the_plan_acts_in() -> None:
    assert {State.OPEN, State.OFFERED, State.ESCALATED} == PLANNED
