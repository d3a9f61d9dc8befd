"""The incident's state machine (incidents.py): every move between two states, allowed or refused, the log entry
each change writes, which states end an incident, and an incident's id. The document the store keeps of it is
test_incident_document.py's.

The table below is written out by hand from docs/lifecycle.md and docs/dispatch.md, not read from
``TRANSITIONS``: a change to the lifecycle must change both."""

import pytest

from basestation.dispatch.core.incidents import (
    ACTIVE,
    INTAKE_DEVICE_BASE,
    TERMINAL,
    Event,
    State,
    TransitionError,
    from_ring,
    incident_id,
    note,
    transition,
)
from tests.dispatch.incident_cases import incident

# Rows: the state an incident is in; columns: the state asked for. "x" allowed, "." refused. Staying is allowed
# where a second responder may do the same (a second accept, a second "on the way", offering to more people),
# never for "open": nothing goes back to it, not even itself. Nothing leaves "resolved" or "cancelled".
TABLE = """
                open   offered   accepted   on_the_way   resolved   cancelled   escalated
open             .        x         x           .            x          x           x
offered          .        x         x           .            x          x           x
escalated        .        x         x           .            x          x           x
accepted         .        .         x           x            x          x           .
on_the_way       .        .         .           x            x          x           .
resolved         .        .         .           .            .          .           .
cancelled        .        .         .           .            .          .           .
"""


def _table() -> dict[tuple[State, State], bool]:
    header, *rows = TABLE.strip().splitlines()
    columns = [State(name) for name in header.split()]
    out: dict[tuple[State, State], bool] = {}
    for row in rows:
        name, *marks = row.split()
        assert len(marks) == len(columns), row
        for to, mark in zip(columns, marks, strict=True):
            assert mark in ("x", "."), row
            out[State(name), to] = mark == "x"
    return out


ALLOWED = _table()
PAIRS = [(a, b) for a in State for b in State]


def test_the_table_covers_every_pair_of_states() -> None:
    # A state added to the lifecycle must be given a row and a column here.
    assert set(ALLOWED) == set(PAIRS)
    assert len(PAIRS) == 49


@pytest.mark.parametrize(("frm", "to"), PAIRS, ids=[f"{a.value}->{b.value}" for a, b in PAIRS])
def test_every_move_is_allowed_or_refused_as_the_table_says(frm: State, to: State) -> None:
    inc = incident(frm, updated_ms=1_500)
    if ALLOWED[frm, to]:
        ev = transition(inc, to, 2_000, "moved", by="anna")
        assert inc.state is to
        assert inc.updated_ms == 2_000
        assert ev == Event("7-1", 2_000, "moved", {"state": to.value, "by": "anna"})
    else:
        with pytest.raises(TransitionError, match=f"^7-1: {frm.value} -> {to.value} is not allowed$"):
            transition(inc, to, 2_000, "moved", by="anna")
        # A refused move leaves no trace: neither the state nor the time of the last change moves.
        assert inc.state is frm
        assert inc.updated_ms == 1_500


@pytest.mark.parametrize(
    ("state", "active"),
    [
        (State.OPEN, True),
        (State.OFFERED, True),
        (State.ACCEPTED, True),
        (State.ON_THE_WAY, True),
        (State.ESCALATED, True),
        (State.RESOLVED, False),
        (State.CANCELLED, False),
    ],
)
def test_only_resolved_and_cancelled_end_an_incident(state: State, active: bool) -> None:
    assert incident(state).active is active
    assert (state in ACTIVE) is active
    assert (state in TERMINAL) is not active


def test_a_refusal_is_a_value_error() -> None:
    # The API turns ValueErrors from the lifecycle into 409 answers.
    assert issubclass(TransitionError, ValueError)


def test_a_log_entry_of_a_move_carries_the_new_state_first_and_what_the_caller_adds() -> None:
    inc = incident(State.OFFERED)
    ev = transition(inc, State.ACCEPTED, 5_000, "accepted", responder="anna", eta_min=4)
    assert ev.incident_id == "7-1"
    assert ev.at_ms == 5_000
    assert ev.kind == "accepted"
    assert ev.data == {"state": "accepted", "responder": "anna", "eta_min": 4}
    assert list(ev.data) == ["state", "responder", "eta_min"]


def test_a_move_with_nothing_added_logs_the_state_alone() -> None:
    ev = transition(incident(), State.ESCALATED, 3_000, "escalated")
    assert ev.data == {"state": "escalated"}


def test_a_note_logs_without_changing_the_state() -> None:
    inc = incident(State.ACCEPTED, updated_ms=1_000)
    ev = note(inc, 4_000, "copy_heard", gateway="gw-centraal", rssi=-97.5)
    assert inc.state is State.ACCEPTED
    assert inc.updated_ms == 4_000
    assert ev == Event("7-1", 4_000, "copy_heard", {"gateway": "gw-centraal", "rssi": -97.5})


def test_a_note_on_an_ended_incident_is_still_written() -> None:
    # The log goes on after the end (a late copy, a push delivered): only moves are refused.
    inc = incident(State.RESOLVED)
    assert note(inc, 9_000, "push_delivered") == Event("7-1", 9_000, "push_delivered", {})
    assert inc.state is State.RESOLVED


def test_an_event_made_without_data_has_its_own_empty_dict() -> None:
    a, b = Event("1-1", 0, "x"), Event("1-2", 0, "y")
    assert a.data == {} and a.data is not b.data


@pytest.mark.parametrize(
    ("device", "counter", "want"), [(7, 1, "7-1"), (0, 0, "0-0"), (4_294_967_295, 65_535, "4294967295-65535")]
)
def test_an_incident_id_is_the_device_and_the_counter(device: int, counter: int, want: str) -> None:
    # The same uplink redelivered after a crash maps to the same id, so to the same incident.
    assert incident_id(device, counter) == want


@pytest.mark.parametrize(
    ("device", "ring"),
    [
        (0, True),
        (7, True),
        (INTAKE_DEVICE_BASE - 1, True),  # the highest id a key ring can have: 32 bits (SPEC 4)
        (INTAKE_DEVICE_BASE, False),  # intakes' ids start here
        (INTAKE_DEVICE_BASE + 1, False),
        (INTAKE_DEVICE_BASE + 1_800_000_000_000 * 1024, False),  # as IntakeIds makes them
    ],
)
def test_an_incident_is_a_rings_only_below_the_intakes_ids(device: int, ring: bool) -> None:
    # Nothing is ever sent for an incident that is not a ring's: no ring has its id.
    assert from_ring(device) is ring
