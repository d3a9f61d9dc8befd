"""Patrol zones over the API, on the real service and a real SQLite database: operators put, list and remove
zones; bad input is a 422 and changes nothing; responders carry a team; an alarm in a zone is offered to the
responder bound to it before a nearer one; and the zones and teams survive a restart."""

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from basestation.dispatch.service import Dispatcher
from basestation.dispatch.settings import DispatchSettings
from tests.dispatch.conftest import bearer, serve

OP = "operator-token-zones-0123456789"
ANNA = "anna-token-zones-0123456789"
BEN = "ben-token-zones-0123456789"

CENTRE = [[52.157, 4.484], [52.157, 4.496], [52.162, 4.496], [52.162, 4.484]]
HERE = (52.1589, 4.4894)  # inside CENTRE
GOOD = {"name": "Centrum", "polygon": CENTRE, "responders": ["anna"], "teams": ["noord"]}

Scenario = Callable[[Dispatcher, httpx.AsyncClient], Awaitable[None]]


def _serve(tmp_path: Path, scenario: Scenario) -> None:
    s = DispatchSettings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'd.db'}",
        tokens={OP: "operator:mira", ANNA: "responder:anna", BEN: "responder:ben"},
    )
    serve(s, scenario, client=("192.0.2.7", 50000))


async def _crew(http: httpx.AsyncClient) -> None:
    for rid, name, team in (("anna", "Anna de Vries", None), ("ben", "Ben Bakker", "zuid")):
        body: dict[str, Any] = {"name": name, "skills": ["patrol"]}
        if team:
            body["team"] = team
        r = await http.put(f"/api/v1/responders/{rid}", json=body, headers=bearer(OP))
        assert r.status_code == 200, r.text


def _with(change: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in {**GOOD, **change}.items() if v is not None}


BAD = [
    ("no name", {"name": None}),
    ("a blank name", {"name": "  "}),
    ("a name over the limit", {"name": "x" * 121}),
    ("no polygon", {"polygon": None}),
    ("two points", {"polygon": CENTRE[:2]}),
    ("201 points", {"polygon": [[52.0 + i / 1000, 4.4 + (i % 2) / 100] for i in range(201)]}),
    ("a point with three numbers", {"polygon": [[52.157, 4.484, 1.0], *CENTRE[1:]]}),
    ("a latitude as a string", {"polygon": [["52.157", 4.484], *CENTRE[1:]]}),
    ("a latitude past the pole", {"polygon": [[90.5, 4.484], *CENTRE[1:]]}),
    ("a longitude out of range", {"polygon": [[52.157, 181.0], *CENTRE[1:]]}),
    ("a point as an object", {"polygon": [{"lat": 52.157, "lon": 4.484}, *CENTRE[1:]]}),
    ("points on one line", {"polygon": [[52.0, 4.0], [52.1, 4.1], [52.2, 4.2]]}),
    ("the same point thrice", {"polygon": [[52.0, 4.0]] * 3}),
    ("a responder who does not exist", {"responders": ["nobody"]}),
    ("a responder id as a number", {"responders": [7]}),
    ("a blank team", {"teams": [""]}),
    ("a team over the limit", {"teams": ["x" * 65]}),
    ("an unknown field", {"colour": "red"}),
]


@pytest.mark.parametrize(("why", "change"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_a_422_and_stores_nothing(tmp_path: Path, why: str, change: dict[str, Any]) -> None:
    async def scenario(d: Dispatcher, http: httpx.AsyncClient) -> None:
        await _crew(http)
        r = await http.put("/api/v1/zones/centrum", json=_with(change), headers=bearer(OP))
        assert r.status_code == 422, (why, r.text)
        assert r.json()["detail"]
        assert not d.state.zones
        assert (await http.get("/api/v1/zones", headers=bearer(OP))).json() == []

    _serve(tmp_path, scenario)


def test_only_an_operator_reads_or_changes_zones(tmp_path: Path) -> None:
    async def scenario(d: Dispatcher, http: httpx.AsyncClient) -> None:
        await _crew(http)
        assert (await http.get("/api/v1/zones")).status_code == 401
        assert (await http.get("/api/v1/zones", headers=bearer(ANNA))).status_code == 403
        assert (await http.put("/api/v1/zones/centrum", json=GOOD, headers=bearer(ANNA))).status_code == 403
        assert (await http.delete("/api/v1/zones/centrum", headers=bearer(ANNA))).status_code == 403
        assert (await http.put("/api/v1/zones/bad%20id", json=GOOD, headers=bearer(OP))).status_code == 422
        assert not d.state.zones

    _serve(tmp_path, scenario)


def test_put_list_replace_and_remove(tmp_path: Path) -> None:
    async def scenario(d: Dispatcher, http: httpx.AsyncClient) -> None:
        await _crew(http)
        r = await http.put("/api/v1/zones/centrum", json=GOOD, headers=bearer(OP))
        assert r.status_code == 200, r.text
        doc = r.json()
        assert doc["polygon"] == CENTRE and doc["responders"] == ["anna"] and doc["teams"] == ["noord"]
        assert doc["updated_ms"] > 0
        other = {"name": "Station", "polygon": [[52.165, 4.48], [52.165, 4.484], [52.168, 4.484]]}
        assert (await http.put("/api/v1/zones/station", json=other, headers=bearer(OP))).status_code == 200
        listed = (await http.get("/api/v1/zones", headers=bearer(OP))).json()
        assert [z["id"] for z in listed] == ["centrum", "station"]
        assert listed[1]["responders"] == [] and listed[1]["teams"] == []
        # Replacing the binding keeps one zone under its id.
        r = await http.put(
            "/api/v1/zones/centrum", json={**GOOD, "responders": ["ben"], "teams": []}, headers=bearer(OP)
        )
        assert r.json()["responders"] == ["ben"]
        assert d.state.zones["centrum"].responders == frozenset({"ben"})
        assert (await http.delete("/api/v1/zones/station", headers=bearer(OP))).status_code == 204
        assert (await http.delete("/api/v1/zones/station", headers=bearer(OP))).status_code == 404
        assert [z["id"] for z in (await http.get("/api/v1/zones", headers=bearer(OP))).json()] == ["centrum"]

    _serve(tmp_path, scenario)


def test_a_responders_team_is_kept_and_validated(tmp_path: Path) -> None:
    async def scenario(d: Dispatcher, http: httpx.AsyncClient) -> None:
        await _crew(http)
        ben = next(r for r in (await http.get("/api/v1/responders", headers=bearer(OP))).json() if r["id"] == "ben")
        assert ben["team"] == "zuid"
        for bad in ("x" * 65, "", 7):
            r = await http.put("/api/v1/responders/ben", json={"name": "Ben", "team": bad}, headers=bearer(OP))
            assert r.status_code == 422, bad
        assert d.state.responders["ben"].team == "zuid"

    _serve(tmp_path, scenario)


def test_an_alarm_in_the_zone_goes_to_the_bound_responder_first(tmp_path: Path) -> None:
    async def scenario(d: Dispatcher, http: httpx.AsyncClient) -> None:
        await _crew(http)
        # Ben is by the alarm, Anna ~450 m away; the centre is Anna's (and team noord's).
        for token, at in ((BEN, (52.1592, 4.4900)), (ANNA, (52.1610, 4.4950))):
            r = await http.put(
                "/api/v1/me/duty", json={"on_duty": True, "lat": at[0], "lon": at[1]}, headers=bearer(token)
            )
            assert r.status_code == 200, r.text
        call = {"kind": "emergency", "callback_number": "+31 6 1111 2222", "lat": HERE[0], "lon": HERE[1]}
        r = await http.post("/api/v1/incidents", json=call, headers=bearer(OP))
        assert r.status_code == 201, r.text
        assert r.json()["offered_to"] == ["ben"]  # no zones yet: the nearest
        assert (await http.put("/api/v1/zones/centrum", json=GOOD, headers=bearer(OP))).status_code == 200
        call["callback_number"] = "+31 6 1111 3333"
        r = await http.post("/api/v1/incidents", json=call, headers=bearer(OP))
        assert r.status_code == 201, r.text
        assert r.json()["offered_to"] == ["anna"]
        # Outside the zone, the nearest again.
        outside = {**call, "callback_number": "+31 6 1111 4444", "lat": 52.1664, "lon": 4.4817}
        r = await http.post("/api/v1/incidents", json=outside, headers=bearer(OP))
        assert r.json()["offered_to"] == ["ben"]

    _serve(tmp_path, scenario)


def test_zones_and_teams_survive_a_restart(tmp_path: Path) -> None:
    async def first(d: Dispatcher, http: httpx.AsyncClient) -> None:
        await _crew(http)
        assert (await http.put("/api/v1/zones/centrum", json=GOOD, headers=bearer(OP))).status_code == 200

    async def second(d: Dispatcher, http: httpx.AsyncClient) -> None:
        listed = (await http.get("/api/v1/zones", headers=bearer(OP))).json()
        assert len(listed) == 1 and listed[0]["polygon"] == CENTRE and listed[0]["responders"] == ["anna"]
        assert d.state.zones["centrum"].contains(*HERE)
        assert d.state.responders["ben"].team == "zuid"
        assert (await http.delete("/api/v1/zones/centrum", headers=bearer(OP))).status_code == 204

    async def third(d: Dispatcher, http: httpx.AsyncClient) -> None:
        assert (await http.get("/api/v1/zones", headers=bearer(OP))).json() == []
        assert not d.state.zones

    _serve(tmp_path, first)
    _serve(tmp_path, second)
    _serve(tmp_path, third)
