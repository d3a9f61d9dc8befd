"""Walk me home without a key ring (docs/walk.md), the public API on a real SQLite database: a whole request from
the page to "a patrol member is coming" and on, a cancel, and every refusal: bad input, the honeypot, a blocked
number, the limits per number and per address, outside the patrol's hours; the routes documented, a restart, and
the operators' panel."""

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from basestation.dispatch.core.incidents import INTAKE_DEVICE_BASE
from basestation.dispatch.service import Dispatcher
from basestation.dispatch.settings import DispatchSettings
from tests.dispatch.conftest import bearer, serve

OP, ANNA, BOB = "operator-token-walk-0123456789", "anna-token-walk-0123456789", "bob-token-walk-0123456789"
ZONE = ZoneInfo("Europe/Amsterdam")
GOOD: dict[str, Any] = {
    "name": "Sanne",
    "phone": "06 1234 5678",
    "lat": 52.1578,
    "lon": 4.4855,
    "destination": "Haarlemmerstraat 100",
    "lang": "en",
}


# -- the API ------------------------------------------------------------------------------------------------------


def _serve(tmp_path: Path, scenario: Any, **settings: Any) -> None:
    s = DispatchSettings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'd.db'}",
        tokens={OP: "operator:mira", ANNA: "responder:anna", BOB: "responder:bob"},
        patrol_phone="+31 71 555 0100",
        **{"walk_hours": "", **settings},
    )
    serve(s, scenario, client=("192.0.2.7", 50000))


def _s(secret: str) -> dict[str, str]:
    return {"X-Walk-Secret": secret}


async def _crew(http: httpx.AsyncClient) -> None:
    for rid, name in (("anna", "Anna de Vries"), ("bob", "Bob Jansen")):
        r = await http.put(f"/api/v1/responders/{rid}", json={"name": name, "skills": ["patrol"]}, headers=bearer(OP))
        assert r.status_code == 200
    r = await http.put("/api/v1/me/duty", json={"on_duty": True, "lat": 52.1575, "lon": 4.4856}, headers=bearer(ANNA))
    assert r.status_code == 200


BAD = [
    ("no name", {"name": None}),
    ("a blank name", {"name": "   "}),
    ("a name over the limit", {"name": "x" * 81}),
    ("no phone", {"phone": None}),
    ("a phone as a number", {"phone": 31612345678}),
    ("letters in the phone", {"phone": "call me maybe"}),
    ("too few digits", {"phone": "061234"}),
    ("no destination", {"destination": None}),
    ("a blank destination", {"destination": " "}),
    ("a destination over the limit", {"destination": "x" * 201}),
    ("lat without lon", {"lon": None}),
    ("lat as a string", {"lat": "52.1"}),
    ("lat out of range", {"lat": 91.0}),
    ("nowhere", {"lat": None, "lon": None}),
    ("where over the limit", {"lat": None, "lon": None, "where": "x" * 201}),
    ("an unknown language", {"lang": "de"}),
    ("an unknown field", {"admin": True}),
]


def _body(change: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in {**GOOD, **change}.items() if v is not None}


@pytest.mark.parametrize(("why", "change"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_a_clear_422_and_opens_nothing(tmp_path: Path, why: str, change: dict[str, Any]) -> None:
    async def scenario(d: Dispatcher, http: httpx.AsyncClient) -> None:
        r = await http.post("/api/v1/walk", json=_body(change))
        assert r.status_code == 422, (why, r.text)
        assert r.json()["detail"]
        assert not d.state.incidents

    _serve(tmp_path, scenario)


def test_a_request_reaches_the_patrol_and_the_person_follows_it_to_the_end(tmp_path: Path) -> None:
    async def scenario(d: Dispatcher, http: httpx.AsyncClient) -> None:
        await _crew(http)
        r = await http.post("/api/v1/walk", json=GOOD)
        assert r.status_code == 201, r.text
        mine = r.json()
        ref, secret = mine["reference"], mine["secret"]
        assert mine["status"] == "looking" and mine["patrol_phone"] == "+31 71 555 0100"
        (inc,) = d.state.incidents.values()
        assert inc.kind.value == "escort" and inc.offered_to == ["anna"] and inc.device_id >= INTAKE_DEVICE_BASE

        # Anna is offered it: where and where to, not who asked; she accepts, and then sees the number.
        offered = (await http.get(f"/api/v1/incidents/{inc.id}", headers=bearer(ANNA))).json()
        assert offered["source"] == "walk" and offered["destination"] == "Haarlemmerstraat 100"
        assert "callback_number" not in offered
        r = await http.post(f"/api/v1/incidents/{inc.id}/accept", json={"eta_min": 6}, headers=bearer(ANNA))
        assert r.json()["callback_number"] == "+31612345678" and r.json()["caller_name"] == "Sanne"

        coming = (await http.get(f"/api/v1/walk/{ref}", headers=_s(secret))).json()
        assert coming["status"] == "coming" and coming["responder"] == "Anna"
        assert coming["eta_ms"] - coming["opened_ms"] >= 6 * 60_000 - 1000
        assert (await http.post(f"/api/v1/incidents/{inc.id}/arrived", headers=bearer(ANNA))).status_code == 200
        assert (await http.post(f"/api/v1/incidents/{inc.id}/arrived", headers=bearer(ANNA))).status_code == 200
        assert (await http.get(f"/api/v1/walk/{ref}", headers=_s(secret))).json()["status"] == "arrived"
        assert (await http.post(f"/api/v1/incidents/{inc.id}/arrived", headers=bearer(BOB))).status_code == 404

        r = await http.post(
            f"/api/v1/incidents/{inc.id}/resolve", json={"referral": "centrum-seksueel-geweld"}, headers=bearer(ANNA)
        )
        assert r.status_code == 200
        done = (await http.get(f"/api/v1/walk/{ref}?lang=nl", headers=_s(secret))).json()
        assert done["status"] == "done" and not done["can_cancel"]
        care = done["aftercare"]
        assert care["lang"] == "nl" and any(c["text"] == "0800 0188" for c in care["contacts"])

        events = (await http.get(f"/api/v1/incidents/{inc.id}", headers=bearer(OP))).json()["events"]
        kinds = [e["kind"] for e in events]
        assert kinds.count("arrived") == 1 and {"opened", "accepted", "resolved"} <= set(kinds)
        assert events[0]["data"] == {"kind": "escort", "source": "walk", "request": "escort", "by": "caller"}

    _serve(tmp_path, scenario)


def test_the_person_cancels_and_the_patrol_member_is_stood_down(tmp_path: Path) -> None:
    async def scenario(d: Dispatcher, http: httpx.AsyncClient) -> None:
        await _crew(http)
        mine = (await http.post("/api/v1/walk", json=GOOD)).json()
        ref, secret = mine["reference"], mine["secret"]
        (inc,) = d.state.incidents.values()
        await http.post(f"/api/v1/incidents/{inc.id}/accept", json={"eta_min": 3}, headers=bearer(ANNA))

        assert (await http.post(f"/api/v1/walk/{ref}/cancel", headers=_s("x" * 32))).status_code == 404
        r = await http.post(f"/api/v1/walk/{ref}/cancel", headers=_s(secret))
        assert r.status_code == 200 and r.json()["status"] == "cancelled"
        assert (await http.get(f"/api/v1/incidents/{inc.id}", headers=bearer(ANNA))).json()["state"] == "cancelled"
        again = await http.post(f"/api/v1/walk/{ref}/cancel", headers=_s(secret))
        assert again.status_code == 200 and again.json()["status"] == "cancelled"
        # Anna can no longer act on it.
        assert (await http.post(f"/api/v1/incidents/{inc.id}/on-the-way", headers=bearer(ANNA))).status_code == 409

        # Changed their mind: a new request is taken (the old one is over).
        assert (await http.post("/api/v1/walk", json=GOOD)).status_code == 201

    _serve(tmp_path, scenario)


def test_the_reference_alone_shows_nothing(tmp_path: Path) -> None:
    async def scenario(d: Dispatcher, http: httpx.AsyncClient) -> None:
        ref = (await http.post("/api/v1/walk", json=GOOD)).json()["reference"]
        assert (await http.get(f"/api/v1/walk/{ref}")).status_code == 422  # no secret at all
        assert (await http.get(f"/api/v1/walk/{ref}", headers=_s("y" * 32))).status_code == 404
        assert (await http.get("/api/v1/walk/AAA-AAA", headers=_s("y" * 32))).status_code == 404
        assert (await http.get("/api/v1/walk/not-a-ref", headers=_s("y" * 32))).status_code == 422

    _serve(tmp_path, scenario)


def test_the_honeypot_refuses_a_bot_and_opens_nothing(tmp_path: Path) -> None:
    async def scenario(d: Dispatcher, http: httpx.AsyncClient) -> None:
        r = await http.post("/api/v1/walk", json={**GOOD, "website": "http://spam.example"})
        assert r.status_code == 400 and not d.state.incidents
        metrics = (await http.get("/metrics")).text
        assert 'nightwatch_walk_refused_total{why="honeypot"} 1.0\n' in metrics

    _serve(tmp_path, scenario)


def test_a_blocked_number_is_refused_however_it_is_written_until_unblocked(tmp_path: Path) -> None:
    async def scenario(d: Dispatcher, http: httpx.AsyncClient) -> None:
        assert (await http.put("/api/v1/blocked-numbers/0612345678", json={}, headers=bearer(ANNA))).status_code == 403
        assert (await http.put("/api/v1/blocked-numbers/0612345678", json={})).status_code == 401
        assert (await http.put("/api/v1/blocked-numbers/not-a-number", json={}, headers=bearer(OP))).status_code == 422
        r = await http.put("/api/v1/blocked-numbers/0612345678", json={"reason": "prank calls"}, headers=bearer(OP))
        assert r.status_code == 200 and r.json()["phone"] == "+31612345678"
        listed = (await http.get("/api/v1/blocked-numbers", headers=bearer(OP))).json()
        assert listed[0]["phone"] == "+31612345678" and listed[0]["by"] == "mira"
        for spelling in ("+31 6 12345678", "0031612345678"):
            r = await http.post("/api/v1/walk", json={**GOOD, "phone": spelling})
            assert r.status_code == 403 and "112" in r.json()["detail"]
        assert not d.state.incidents
        assert (await http.delete("/api/v1/blocked-numbers/%2B31612345678", headers=bearer(OP))).status_code == 200
        assert (await http.delete("/api/v1/blocked-numbers/%2B31612345678", headers=bearer(OP))).status_code == 404
        assert (await http.post("/api/v1/walk", json=GOOD)).status_code == 201

    _serve(tmp_path, scenario)


def test_requests_are_limited_per_number_and_per_address(tmp_path: Path) -> None:
    async def scenario(d: Dispatcher, http: httpx.AsyncClient) -> None:
        # Per number: each request cancelled, so only the limit stands in the way.
        for _ in range(2):
            mine = (await http.post("/api/v1/walk", json=GOOD)).json()
            await http.post(f"/api/v1/walk/{mine['reference']}/cancel", headers=_s(mine["secret"]))
        r = await http.post("/api/v1/walk", json=GOOD)
        assert r.status_code == 429 and "+31 71 555 0100" in r.json()["detail"] and r.headers["retry-after"]
        # Per address: a third number from the same address is one too many.
        assert (await http.post("/api/v1/walk", json={**GOOD, "phone": "0687654321"})).status_code == 201
        r = await http.post("/api/v1/walk", json={**GOOD, "phone": "0611111111"})
        assert r.status_code == 429
        assert len(d.state.incidents) == 3

    _serve(tmp_path, scenario, walk_per_phone_hour=2, walk_per_address_hour=3)


def test_one_open_request_per_number(tmp_path: Path) -> None:
    async def scenario(d: Dispatcher, http: httpx.AsyncClient) -> None:
        assert (await http.post("/api/v1/walk", json=GOOD)).status_code == 201
        r = await http.post("/api/v1/walk", json={**GOOD, "phone": "+31 6 1234 5678"})
        assert r.status_code == 409 and r.json()["detail"].startswith("open")
        assert len(d.state.incidents) == 1

    _serve(tmp_path, scenario)


def _hours_not_now() -> str:
    """A one-hour window that starts two hours from now, on Amsterdam's wall clock."""
    start = datetime.now(UTC).astimezone(ZONE) + timedelta(hours=2)
    return f"{start:%H}:00-{(start + timedelta(hours=1)):%H}:00"


def test_outside_the_hours_the_page_says_who_to_call_until_an_operator_opens_it(tmp_path: Path) -> None:
    async def scenario(d: Dispatcher, http: httpx.AsyncClient) -> None:
        state = (await http.get("/api/v1/walk")).json()
        assert state["open"] is False and state["why"] == "hours" and state["patrol_phone"] == "+31 71 555 0100"
        r = await http.post("/api/v1/walk", json=GOOD)
        assert r.status_code == 409 and r.json()["detail"].startswith("closed")
        assert "+31 71 555 0100" in r.json()["detail"] and "112" in r.json()["detail"]
        assert not d.state.incidents

        assert (
            await http.put("/api/v1/walk/override", json={"state": "open"}, headers=bearer(ANNA))
        ).status_code == 403
        bad = await http.put("/api/v1/walk/override", json={"state": "ajar"}, headers=bearer(OP))
        assert bad.status_code == 422
        # A time past the year 9999 would overflow the database's BIGINT: refused, never a 500 (schemathesis).
        for until in (2**63, 253_402_300_800_000):
            late = await http.put(
                "/api/v1/walk/override", json={"state": "open", "until_ms": until}, headers=bearer(OP)
            )
            assert late.status_code == 422, until
        r = await http.put("/api/v1/walk/override", json={"state": "open"}, headers=bearer(OP))
        assert r.json() == {**state, "open": True, "why": "operator", "until_ms": None}
        assert (await http.post("/api/v1/walk", json=GOOD)).status_code == 201
        await http.put("/api/v1/walk/override", json={"state": "hours"}, headers=bearer(OP))
        assert (await http.get("/api/v1/walk")).json()["open"] is False

    _serve(tmp_path, scenario, walk_hours=_hours_not_now())


def test_the_routes_are_in_the_openapi_document(tmp_path: Path) -> None:
    async def scenario(d: Dispatcher, http: httpx.AsyncClient) -> None:
        paths = (await http.get("/openapi.json")).json()["paths"]
        assert {"get", "post"} <= set(paths["/api/v1/walk"])
        assert "get" in paths["/api/v1/walk/{reference}"] and "post" in paths["/api/v1/walk/{reference}/cancel"]
        assert "put" in paths["/api/v1/walk/override"] and "put" in paths["/api/v1/blocked-numbers/{phone}"]
        assert "post" in paths["/api/v1/incidents/{incident_id}/arrived"]

    _serve(tmp_path, scenario)


def test_a_restart_keeps_the_request_and_retention_forgets_the_number(tmp_path: Path) -> None:
    made: list[tuple[str, str]] = []

    async def first(d: Dispatcher, http: httpx.AsyncClient) -> None:
        mine = (await http.post("/api/v1/walk", json=GOOD)).json()
        made.append((mine["reference"], mine["secret"]))

    async def second(d: Dispatcher, http: httpx.AsyncClient) -> None:
        ref, secret = made[0]
        assert (await http.get(f"/api/v1/walk/{ref}", headers=_s(secret))).json()["status"] == "nobody"
        counts = await d.store.purge(2**62)
        assert counts["walk_requests"] == 1
        assert (await http.get(f"/api/v1/walk/{ref}", headers=_s(secret))).status_code == 404

    _serve(tmp_path, first)
    _serve(tmp_path, second)


def test_the_operators_panel_shows_the_switch_and_the_block_list(tmp_path: Path) -> None:
    async def scenario(d: Dispatcher, http: httpx.AsyncClient) -> None:
        assert (await http.get("/ui/partials/walk", headers=bearer(ANNA))).status_code == 403
        await http.put("/api/v1/blocked-numbers/0612345678", json={"reason": "prank calls"}, headers=bearer(OP))
        html = (await http.get("/ui/partials/walk", headers={**bearer(OP), "Accept-Language": "en"})).text
        assert 'data-walk-now="open"' in html and "always open" in html and 'data-walk-set="closed"' in html
        assert 'data-unblock="+31612345678"' in html and "prank calls" in html
        await http.put("/api/v1/walk/override", json={"state": "closed"}, headers=bearer(OP))
        html = (await http.get("/ui/partials/walk", headers={**bearer(OP), "Accept-Language": "nl"})).text
        assert 'data-walk-now="closed"' in html and "met de hand gezet" in html
        assert 'data-walk-set="open"' in html and 'data-walk-set="hours"' in html

    _serve(tmp_path, scenario)
