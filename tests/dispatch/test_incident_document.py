"""The incident's document as the store keeps it and reads it back (incidents.py's to_dict, store_load.py): every
field named, a copy later changes do not reach, defaults for the fields an older document lacks; a request's
document without a ring (intake.py) naming its caller key by key; and any incident, drawn by Hypothesis, back from
its document unchanged."""

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from basestation.dispatch.core.incidents import INTAKE_DEVICE_BASE, Incident, Kind, State, incident_id
from basestation.dispatch.io.store_load import incident_from_doc
from tests.dispatch.incident_cases import incident


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
    doc = incident().to_dict()
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
    assert set(doc) - set(CALLER_KEYS) == set(incident().to_dict())


def test_a_rings_document_has_no_caller_keys() -> None:
    # The API and the incident log tell a ring's incident from a request by the callback number's key.
    doc = incident().to_dict()
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
