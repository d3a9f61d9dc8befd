"""Operator intake: a phone call becomes an incident like any other (pure over the state), and its endpoint,
POST /api/v1/incidents, on a real SQLite database: bad input, roles, the full life, and who sees the callback."""

from pathlib import Path
from typing import Any

import httpx
import pytest

from basestation.dispatch.api.auth import Principal
from basestation.dispatch.api.views import incident_view
from basestation.dispatch.core import actions, intake, operator_actions
from basestation.dispatch.core.incidents import INTAKE_DEVICE_BASE, Event, Kind, State, from_ring
from basestation.dispatch.service import Dispatcher
from basestation.dispatch.settings import DispatchSettings
from protocol.constants import EVENT_SOS
from tests.dispatch.conftest import bearer, serve
from tests.dispatch.world import T0, World, envelope, topic

PIETERSKERK = (52.1578, 4.4855)
CALL = intake.Call("escort", "+31 6 1234 5678", "Sanne", *PIETERSKERK, "Kloksteeg 1", "student, alone")


def test_intake_ids_lie_above_every_ring_and_never_repeat() -> None:
    ids = intake.IntakeIds()
    made = [ids.next(T0) for _ in range(500)] + [ids.next(T0 - 10_000)]
    assert len(set(made)) == len(made)
    devices = [int(i.split("-", 1)[0]) for i in made]
    assert devices == sorted(devices)
    assert all(d >= INTAKE_DEVICE_BASE and not from_ring(d) for d in devices)
    assert all(i.endswith("-0") for i in made)
    assert from_ring(0xFFFFFFFF)


@pytest.mark.parametrize(
    ("request_kind", "kind"), [("escort", Kind.ESCORT), ("worried", Kind.WORRIED), ("emergency", Kind.SOS)]
)
def test_a_call_is_offered_to_the_nearest_suitable_responder(request_kind: str, kind: Kind) -> None:
    w = World()
    w.state.responders["r-pieters"].skills = ["first_aid"]  # nearest, but not of the patrol
    new_id = intake.IntakeIds().next(T0)
    call = intake.Call(request_kind, "0612345678", lat=PIETERSKERK[0], lon=PIETERSKERK[1])
    eff = intake.open_call(w.state, new_id, call, None, T0, w.pipeline)
    inc = w.state.incidents[new_id]
    assert inc.kind == kind and inc.state == State.OFFERED
    # An emergency goes to anyone, as an SOS; an escort and a welfare check to the patrol only.
    assert inc.offered_to == (["r-pieters"] if kind == Kind.SOS else ["r-hooglandse"])
    opened = next(d for d in eff.durable if isinstance(d, Event))
    assert opened.kind == "opened" and opened.data == {
        "kind": kind.value,
        "source": "phone",
        "request": request_kind,
        "by": "operator",
    }
    assert [p.topic for p in eff.pushes] == ["incident"] and not eff.downlinks


def test_no_ring_is_ever_told_anything() -> None:
    w = World()
    new_id = intake.IntakeIds().next(T0)
    assert not intake.open_call(w.state, new_id, CALL, None, T0, w.pipeline).downlinks
    rid = w.state.incidents[new_id].offered_to[0]
    for step in (
        actions.accept(w.state, new_id, rid, T0 + 1_000, 4),
        actions.on_the_way(w.state, new_id, rid, T0 + 2_000),
        actions.resolve(w.state, new_id, rid, T0 + 3_000),
    ):
        assert not step.downlinks
        assert not [d for d in step.durable if isinstance(d, Event) and d.kind == "ack_queued"]
    assert w.state.incidents[new_id].state == State.RESOLVED


def test_an_id_already_taken_is_refused_for_the_next() -> None:
    w = World()
    new_id = intake.IntakeIds().next(T0)
    intake.open_call(w.state, new_id, CALL, None, T0, w.pipeline)
    with pytest.raises(intake.IdTakenError):
        intake.open_call(w.state, new_id, CALL, None, T0 + 1, w.pipeline)
    assert w.state.incidents[new_id].opened_ms == T0


def test_an_address_alone_gives_an_incident_without_a_position() -> None:
    w = World()
    new_id = intake.IntakeIds().next(T0)
    intake.open_call(
        w.state, new_id, intake.Call("worried", "0612345678", address="Rapenburg 70"), None, T0, w.pipeline
    )
    doc = w.state.incidents[new_id].to_dict()
    assert doc["location"] is None and doc["address"] == "Rapenburg 70"
    # Still offered: to the patrol at an unknown distance, until an operator places it.
    assert doc["state"] == "offered" and doc["offered_to"]


def test_the_callback_number_is_for_the_accepter_and_operators_only() -> None:
    w = World()
    new_id = intake.IntakeIds().next(T0)
    intake.open_call(w.state, new_id, CALL, None, T0, w.pipeline)
    actions.accept(w.state, new_id, "r-pieters", T0 + 1_000)
    w.state.incidents[new_id].offered_to.append("r-hooglandse")
    doc = w.state.incidents[new_id].to_dict()
    name = str
    mine = incident_view(Principal("responder", "r-pieters"), doc, name)
    theirs = incident_view(Principal("responder", "r-hooglandse"), doc, name)
    ops = incident_view(Principal("operator"), doc, name)
    assert mine["callback_number"] == "+31 6 1234 5678" and mine["caller_name"] == "Sanne"
    assert "callback_number" not in theirs and "caller_name" not in theirs
    assert theirs["address"] == "Kloksteeg 1" and theirs["notes"] == "student, alone"
    assert ops["callback_number"] == "+31 6 1234 5678"


# -- the endpoint ------------------------------------------------------------------------------------------

OP, ANNA, BOB = "operator-token-0123456789", "anna-token-0123456789abc", "bob-token-0123456789abcd"
GOOD: dict[str, Any] = {
    "kind": "escort",
    "callback_number": "+31 6 1234 5678",
    "caller_name": "Sanne",
    "lat": PIETERSKERK[0],
    "lon": PIETERSKERK[1],
    "address": "Kloksteeg 1",
    "notes": "student, alone, at the church door",
}
BAD = [
    ("no kind", {"kind": None}),
    ("unknown kind", {"kind": "fire"}),
    ("no callback number", {"callback_number": None}),
    ("callback number not a string", {"callback_number": 31612345678}),
    ("letters in the number", {"callback_number": "call me maybe"}),
    ("too few digits", {"callback_number": "12345"}),
    ("too many digits", {"callback_number": "+1234567890123456"}),
    ("number over the length limit", {"callback_number": "+31 6 " + "1 " * 14}),
    ("lat as a string", {"lat": "52.1578"}),
    ("lat out of range", {"lat": 91.0}),
    ("lat without lon", {"lon": None}),
    ("nowhere", {"lat": None, "lon": None, "address": None}),
    ("name over the limit", {"caller_name": "x" * 121}),
    ("address over the limit", {"address": "x" * 201}),
    ("notes over the limit", {"notes": "x" * 2001}),
    ("notes not a string", {"notes": ["a"]}),
]


def _body(change: dict[str, Any]) -> dict[str, Any]:
    out = {**GOOD, **change}
    return {k: v for k, v in out.items() if v is not None}


def _serve(tmp_path: Path, scenario: Any) -> None:
    settings = DispatchSettings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'd.db'}",
        tokens={OP: "operator:mira", ANNA: "responder:anna", BOB: "responder:bob"},
    )

    async def run(d: Dispatcher, http: httpx.AsyncClient) -> None:
        sent: list[Any] = []
        d.publishers.append(sent.append)  # a downlink to any ring would land here
        await scenario(d, http, sent)

    serve(settings, run)


async def _crew(http: httpx.AsyncClient) -> None:
    """Anna on duty near the Pieterskerk, Bob across town: both of the patrol."""
    for rid, name in (("anna", "Anna"), ("bob", "Bob")):
        r = await http.put(f"/api/v1/responders/{rid}", json={"name": name, "skills": ["patrol"]}, headers=bearer(OP))
        assert r.status_code == 200
    assert (
        await http.put("/api/v1/me/duty", json={"on_duty": True, "lat": 52.1575, "lon": 4.4856}, headers=bearer(ANNA))
    ).status_code == 200
    assert (
        await http.put("/api/v1/me/duty", json={"on_duty": True, "lat": 52.1400, "lon": 4.5200}, headers=bearer(BOB))
    ).status_code == 200


@pytest.mark.parametrize(("why", "change"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_a_clear_422(tmp_path: Path, why: str, change: dict[str, Any]) -> None:
    async def scenario(d: Dispatcher, http: httpx.AsyncClient, sent: list[Any]) -> None:
        r = await http.post("/api/v1/incidents", json=_body(change), headers=bearer(OP))
        assert r.status_code == 422, (why, r.text)
        assert r.json()["detail"]
        assert not d.state.incidents

    _serve(tmp_path, scenario)


def test_only_operators_log_a_call(tmp_path: Path) -> None:
    async def scenario(d: Dispatcher, http: httpx.AsyncClient, sent: list[Any]) -> None:
        assert (await http.post("/api/v1/incidents", json=GOOD, headers=bearer(ANNA))).status_code == 403
        assert (await http.post("/api/v1/incidents", json=GOOD)).status_code == 401
        assert not d.state.incidents
        spec = (await http.get("/openapi.json")).json()
        op = spec["paths"]["/api/v1/incidents"]["post"]
        assert {"201", "401", "403", "422"} <= set(op["responses"])
        props = spec["components"]["schemas"]["IncidentIn"]["properties"]
        assert {"kind", "callback_number", "caller_name", "lat", "lon", "address", "notes"} <= set(props)

    _serve(tmp_path, scenario)


def test_a_call_lives_as_any_incident_and_only_the_accepter_sees_the_callback(tmp_path: Path) -> None:
    async def scenario(d: Dispatcher, http: httpx.AsyncClient, sent: list[Any]) -> None:
        await _crew(http)
        r = await http.post("/api/v1/incidents", json=GOOD, headers=bearer(OP))
        assert r.status_code == 201, r.text
        doc = r.json()
        iid = doc["id"]
        assert doc["state"] == "offered" and doc["offered_to"] == ["anna"] and doc["kind"] == "escort"
        assert doc["callback_number"] == "+31 6 1234 5678" and doc["caller_name"] == "Sanne"
        assert doc["address"] == "Kloksteeg 1" and doc["source"] == "phone"
        assert int(iid.split("-")[0]) >= INTAKE_DEVICE_BASE

        # Offered: Anna sees where and what, not who called; Bob sees nothing of it.
        seen = (await http.get(f"/api/v1/incidents/{iid}", headers=bearer(ANNA))).json()
        assert seen["address"] == "Kloksteeg 1" and seen["notes"] == GOOD["notes"]
        assert "callback_number" not in seen and "caller_name" not in seen
        assert (await http.get("/api/v1/incidents", headers=bearer(BOB))).json() == []

        r = await http.post(f"/api/v1/incidents/{iid}/accept", json={"eta_min": 4}, headers=bearer(ANNA))
        assert r.status_code == 200 and r.json()["callback_number"] == "+31 6 1234 5678"
        assert r.json()["caller_name"] == "Sanne"

        # Bob, offered it afterwards by the operator, still does not see the callback number.
        assert (
            await http.post(f"/api/v1/incidents/{iid}/assign", json={"responder": "bob"}, headers=bearer(OP))
        ).status_code == 200
        bobs = (await http.get(f"/api/v1/incidents/{iid}", headers=bearer(BOB))).json()
        assert "callback_number" not in bobs and bobs["address"] == "Kloksteeg 1"
        assert [
            i.get("callback_number") for i in (await http.get("/api/v1/incidents", headers=bearer(BOB))).json()
        ] == [None]

        assert (await http.post(f"/api/v1/incidents/{iid}/on-the-way", headers=bearer(ANNA))).status_code == 200
        r = await http.post(f"/api/v1/incidents/{iid}/resolve", json={}, headers=bearer(ANNA))
        assert r.status_code == 200 and r.json()["state"] == "resolved"

        full = (await http.get(f"/api/v1/incidents/{iid}", headers=bearer(OP))).json()
        kinds = [e["kind"] for e in full["events"]]
        for k in ("opened", "offered", "accepted", "on_the_way", "resolved"):
            assert k in kinds, kinds
        assert "ack_queued" not in kinds
        opened = full["events"][0]["data"]
        assert opened["by"] == "operator" and opened["operator"] == "mira" and opened["request"] == "escort"
        assert not sent  # no key ring was sent anything

    _serve(tmp_path, scenario)


def test_an_address_only_call_and_a_restart_keep_the_caller(tmp_path: Path) -> None:
    body = {"kind": "worried", "callback_number": "071-5123456", "address": "Rapenburg 70"}
    made: list[str] = []

    async def first(d: Dispatcher, http: httpx.AsyncClient, sent: list[Any]) -> None:
        r = await http.post("/api/v1/incidents", json=body, headers=bearer(OP))
        assert r.status_code == 201, r.text
        assert r.json()["location"] is None and r.json()["kind"] == "worried"
        made.append(r.json()["id"])

    async def second(d: Dispatcher, http: httpx.AsyncClient, sent: list[Any]) -> None:
        doc = (await http.get(f"/api/v1/incidents/{made[0]}", headers=bearer(OP))).json()
        assert doc["callback_number"] == "071-5123456" and doc["address"] == "Rapenburg 70"
        assert d.state.incidents[made[0]].callback_number == "071-5123456"

    _serve(tmp_path, first)
    _serve(tmp_path, second)


def test_an_operator_places_an_address_only_call_and_the_nearest_is_offered_it(tmp_path: Path) -> None:
    body = {"kind": "escort", "callback_number": "071-5123456", "address": "Rapenburg 70"}

    async def scenario(d: Dispatcher, http: httpx.AsyncClient, sent: list[Any]) -> None:
        await _crew(http)
        iid = (await http.post("/api/v1/incidents", json=body, headers=bearer(OP))).json()["id"]
        before = list(d.state.incidents[iid].offered_to)
        # Where Bob stands, across town from Anna.
        where = {"lat": 52.1401, "lon": 4.5199}
        assert (await http.post(f"/api/v1/incidents/{iid}/place", json=where, headers=bearer(ANNA))).status_code == 403
        for bad in ({"lat": 91.0, "lon": 4.5}, {"lat": "52.1", "lon": 4.5}, {"lat": 52.1}):
            r = await http.post(f"/api/v1/incidents/{iid}/place", json=bad, headers=bearer(OP))
            assert r.status_code == 422, bad
        r = await http.post(f"/api/v1/incidents/{iid}/place", json=where, headers=bearer(OP))
        assert r.status_code == 200, r.text
        doc = r.json()
        assert doc["location"] == {**where, "radius_m": intake.CLICK_RADIUS_M}
        assert "bob" in doc["offered_to"] and set(before) <= set(doc["offered_to"])
        events = (await http.get(f"/api/v1/incidents/{iid}", headers=bearer(OP))).json()["events"]
        located = [e["data"] for e in events if e["kind"] == "located"]
        assert located == [{**where, "radius_m": intake.CLICK_RADIUS_M, "by": "operator", "operator": "mira"}]
        # Over: nothing more to place.
        await http.post(f"/api/v1/incidents/{iid}/resolve", json={}, headers=bearer(OP))
        assert (await http.post(f"/api/v1/incidents/{iid}/place", json=where, headers=bearer(OP))).status_code == 409

    _serve(tmp_path, scenario)


def test_a_key_rings_alarm_is_placed_by_its_gateways_never_by_hand() -> None:
    w = World()
    frame, c = w.frame(7, EVENT_SOS)
    w.pipeline.handle(topic("gw-breestraat"), envelope(frame, "gw-breestraat", T0, "lora", -80.0), T0)
    with pytest.raises(actions.ActionError, match="gateways"):
        operator_actions.place(w.state, f"7-{c}", 52.0, 4.0, T0 + 1000, w.pipeline)
