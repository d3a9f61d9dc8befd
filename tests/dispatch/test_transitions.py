"""The incident's state machine (incidents.py): every move between two states, allowed or refused, the log entry
each change writes, and the incident's document as the store keeps it and reads it back (store_load.py).

The table below is written out by hand from docs/lifecycle.md and docs/dispatch.md, not read from
``TRANSITIONS``: a change to the lifecycle must change both."""

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from basestation.dispatch.core.incidents import (
    ACTIVE,
    INTAKE_DEVICE_BASE,
    TERMINAL,
    Event,
    Incident,
    Kind,
    State,
    TransitionError,
    from_ring,
    incident_id,
    note,
    transition,
)
from basestation.dispatch.io.store_load import incident_from_doc

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


def _incident(state: State = State.OPEN, **fields: Any) -> Incident:
    return Incident("7-1", 7, 1, Kind.SOS, state, 1_000, 900, **fields)


def test_the_table_covers_every_pair_of_states() -> None:
    # A state added to the lifecycle must be given a row and a column here.
    assert set(ALLOWED) == set(PAIRS)
    assert len(PAIRS) == 49


@pytest.mark.parametrize(("frm", "to"), PAIRS, ids=[f"{a.value}->{b.value}" for a, b in PAIRS])
def test_every_move_is_allowed_or_refused_as_the_table_says(frm: State, to: State) -> None:
    inc = _incident(frm, updated_ms=1_500)
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
    assert _incident(state).active is active
    assert (state in ACTIVE) is active
    assert (state in TERMINAL) is not active


def test_a_refusal_is_a_value_error() -> None:
    # The API turns ValueErrors from the lifecycle into 409 answers.
    assert issubclass(TransitionError, ValueError)


def test_a_log_entry_of_a_move_carries_the_new_state_first_and_what_the_caller_adds() -> None:
    inc = _incident(State.OFFERED)
    ev = transition(inc, State.ACCEPTED, 5_000, "accepted", responder="anna", eta_min=4)
    assert ev.incident_id == "7-1"
    assert ev.at_ms == 5_000
    assert ev.kind == "accepted"
    assert ev.data == {"state": "accepted", "responder": "anna", "eta_min": 4}
    assert list(ev.data) == ["state", "responder", "eta_min"]


def test_a_move_with_nothing_added_logs_the_state_alone() -> None:
    ev = transition(_incident(), State.ESCALATED, 3_000, "escalated")
    assert ev.data == {"state": "escalated"}


def test_a_note_logs_without_changing_the_state() -> None:
    inc = _incident(State.ACCEPTED, updated_ms=1_000)
    ev = note(inc, 4_000, "copy_heard", gateway="gw-centraal", rssi=-97.5)
    assert inc.state is State.ACCEPTED
    assert inc.updated_ms == 4_000
    assert ev == Event("7-1", 4_000, "copy_heard", {"gateway": "gw-centraal", "rssi": -97.5})


def test_a_note_on_an_ended_incident_is_still_written() -> None:
    # The log goes on after the end (a late copy, a push delivered): only moves are refused.
    inc = _incident(State.RESOLVED)
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


# -- the document ----------------------------------------------------------------------------------------------


def _everything_set() -> Incident:
    """An incident with every field away from its default, each to a value no other field has."""
    return Incident(
        id="12-40",
        device_id=12,
        counter=40,
        kind=Kind.ESCORT,
        state=State.ON_THE_WAY,
        opened_ms=1_000_001,
        press_ms=1_000_002,
        forced=True,
        lat=52.1589,
        lon=4.4894,
        radius_m=85.5,
        battery=61,
        updated_ms=1_000_003,
        offered_to=["anna", "bram"],
        accepted_by=["bram"],
        declined_by=["anna"],
        escalation=2,
        referral="huisarts",
        ring_counter=44,
        quiet_counter=43,
        unavailable=True,
        presses=3,
        eta_min=6,
        arrived_ms=1_000_004,
    )


def test_the_document_names_every_field() -> None:
    assert _everything_set().to_dict() == {
        "id": "12-40",
        "device_id": 12,
        "counter": 40,
        "kind": "escort",
        "state": "on_the_way",
        "forced": True,
        "opened_ms": 1_000_001,
        "press_ms": 1_000_002,
        "updated_ms": 1_000_003,
        "location": {"lat": 52.1589, "lon": 4.4894, "radius_m": 85.5},
        "battery": 61,
        "offered_to": ["anna", "bram"],
        "accepted_by": ["bram"],
        "declined_by": ["anna"],
        "escalation": 2,
        "referral": "huisarts",
        "ring_counter": 44,
        "quiet_counter": 43,
        "unavailable": True,
        "presses": 3,
        "eta_min": 6,
        "arrived_ms": 1_000_004,
    }


def test_an_incident_not_yet_located_has_no_location() -> None:
    doc = _incident().to_dict()
    assert doc["location"] is None
    back = incident_from_doc(doc)
    assert (back.lat, back.lon, back.radius_m) == (None, None, None)


def test_every_field_comes_back_from_the_store() -> None:
    inc = _everything_set()
    # As the store keeps it: JSON text.
    back = incident_from_doc(json.loads(json.dumps(inc.to_dict())))
    assert back == inc
    assert back.kind is Kind.ESCORT and back.state is State.ON_THE_WAY


def test_the_document_is_a_copy_that_later_changes_do_not_reach() -> None:
    inc = _everything_set()
    doc = inc.to_dict()
    inc.offered_to.append("cas")
    inc.accepted_by.append("cas")
    inc.declined_by.clear()
    assert (doc["offered_to"], doc["accepted_by"], doc["declined_by"]) == (["anna", "bram"], ["bram"], ["anna"])
    back = incident_from_doc(doc)
    back.offered_to.append("dirk")
    assert doc["offered_to"] == ["anna", "bram"]


def test_a_document_written_before_the_ring_fields_existed_reads_with_their_defaults() -> None:
    doc = _everything_set().to_dict()
    for key in (
        "ring_counter",
        "quiet_counter",
        "unavailable",
        "presses",
        "eta_min",
        "battery",
        "referral",
        "arrived_ms",
    ):
        del doc[key]
    back = incident_from_doc(doc)
    assert back.ring_counter == 40  # its own press is the one the ring listens for
    assert (back.quiet_counter, back.unavailable, back.presses, back.eta_min) == (0, False, 1, 0)
    assert (back.battery, back.referral, back.arrived_ms) == (None, None, 0)


# -- the document of a request without a ring (intake.py) ------------------------------------------------------

CALLER_KEYS = ("source", "callback_number", "caller_name", "address", "notes", "destination")


def _call(**fields: Any) -> Incident:
    """A walk-me-home request's incident with every caller field set, each to a value no other field has."""
    device = INTAKE_DEVICE_BASE + 5
    given: dict[str, Any] = {
        "callback_number": "+31612345678",
        "caller_name": "Els",
        "address": "Breestraat 1",
        "notes": "komt van de trein",
        "source": "walk",
        "destination": "Stationsplein 3",
        **fields,
    }
    return Incident(incident_id(device, 0), device, 0, Kind.ESCORT, State.OPEN, 1_000, 1_000, **given)


def test_a_requests_document_names_the_caller_key_by_key() -> None:
    doc = _call().to_dict()
    assert {k: doc[k] for k in CALLER_KEYS} == {
        "source": "walk",
        "callback_number": "+31612345678",
        "caller_name": "Els",
        "address": "Breestraat 1",
        "notes": "komt van de trein",
        "destination": "Stationsplein 3",
    }
    # The rest is what a ring's incident's document holds.
    assert set(doc) - set(CALLER_KEYS) == set(_incident().to_dict())


def test_a_rings_document_has_no_caller_keys() -> None:
    # The API and the incident log tell a ring's incident from a request by the callback number's key.
    doc = _incident().to_dict()
    assert not set(CALLER_KEYS) & set(doc)


def test_a_requests_document_names_the_callers_fields_it_lacks_too() -> None:
    doc = _call(caller_name=None, address=None, notes=None, destination=None).to_dict()
    assert {k: doc[k] for k in CALLER_KEYS} == {
        "source": "walk",
        "callback_number": "+31612345678",
        "caller_name": None,
        "address": None,
        "notes": None,
        "destination": None,
    }


@pytest.mark.parametrize(
    ("source", "written"),
    [
        ("phone", "phone"),
        ("walk", "walk"),
        ("telephony", "telephony"),
        ("sms", "sms"),
        # Read back from a document written before requests came in any other way than an operator's call.
        (None, "phone"),
    ],
)
def test_a_requests_document_says_how_it_came_in(source: str | None, written: str) -> None:
    doc = _call(source=source).to_dict()
    assert doc["source"] == written
    assert incident_from_doc(json.loads(json.dumps(doc))).source == written


def test_every_field_of_a_request_comes_back_from_the_store() -> None:
    inc = _call(lat=52.1589, lon=4.4894, radius_m=25.0, arrived_ms=9_000, referral="huisarts")
    assert incident_from_doc(json.loads(json.dumps(inc.to_dict()))) == inc


names = st.lists(st.sampled_from(["anna", "bram", "cas", "dirk", "eva"]), unique=True, max_size=5)
small = st.integers(0, 2**31 - 1)
located = st.one_of(
    st.just((None, None, None)),
    st.tuples(
        st.floats(-90, 90, allow_nan=False),
        st.floats(-180, 180, allow_nan=False),
        st.one_of(st.none(), st.floats(0, 50_000, allow_nan=False)),
    ),
)

maybe_text = st.one_of(st.none(), st.text(max_size=20))
# A request without a ring: every way in gives a callback number and says where it came from.
calls = st.fixed_dictionaries(
    {
        "callback_number": st.text(min_size=1, max_size=16),
        "source": st.sampled_from(["phone", "walk", "telephony", "sms"]),
        "caller_name": maybe_text,
        "address": maybe_text,
        "notes": maybe_text,
        "destination": maybe_text,
    }
)


@given(
    device=small,
    counter=small,
    kind=st.sampled_from(Kind),
    state=st.sampled_from(State),
    times=st.tuples(small, small, small),
    forced=st.booleans(),
    where=located,
    battery=st.one_of(st.none(), st.integers(0, 100)),
    people=st.tuples(names, names, names),
    escalation=st.integers(0, 2),
    referral=st.one_of(st.none(), st.text(max_size=20)),
    counters=st.tuples(small, small),
    unavailable=st.booleans(),
    presses=st.integers(1, 1_000),
    eta_min=st.integers(0, 255),
    arrived_ms=small,
    call=st.one_of(st.none(), calls),
)
def test_any_incident_comes_back_from_its_document_unchanged(
    device: int,
    counter: int,
    kind: Kind,
    state: State,
    times: tuple[int, int, int],
    forced: bool,
    where: tuple[float | None, float | None, float | None],
    battery: int | None,
    people: tuple[list[str], list[str], list[str]],
    escalation: int,
    referral: str | None,
    counters: tuple[int, int],
    unavailable: bool,
    presses: int,
    eta_min: int,
    arrived_ms: int,
    call: dict[str, str | None] | None,
) -> None:
    inc = Incident(
        incident_id(device, counter),
        device,
        counter,
        kind,
        state,
        times[0],
        times[1],
        forced=forced,
        lat=where[0],
        lon=where[1],
        radius_m=where[2],
        battery=battery,
        updated_ms=times[2],
        offered_to=people[0],
        accepted_by=people[1],
        declined_by=people[2],
        # Every way into "escalated" sets level 2: a stored escalated incident below it is read back at 2
        # (store_load.incident_from_doc), so the round trip holds for the incidents the service makes.
        escalation=max(escalation, 2) if state == State.ESCALATED else escalation,
        referral=referral,
        ring_counter=counters[0],
        quiet_counter=counters[1],
        unavailable=unavailable,
        presses=presses,
        eta_min=eta_min,
        arrived_ms=arrived_ms,
        **(call or {}),
    )
    assert incident_from_doc(json.loads(json.dumps(inc.to_dict()))) == inc
