"""Operators remove and edit responders and gateways at run time, over real HTTP to the real app on SQLite: a
removed or revoked responder is stood down from the alarms they took, the ring stops saying help is coming, a push
still owed to them is dropped, and they stay named where they took part; a removed gateway's status is refused
(counted), even after a restart; a PUT brings either back. Key rings and the refusals are test_registries_rings.py's."""

import json
import os
from pathlib import Path

import httpx

from basestation.dispatch.core.lifecycle import ring_state
from basestation.dispatch.core.outcomes import Outcome
from basestation.dispatch.io.notify import Job, Notifier
from basestation.dispatch.io.webpush import Subscription
from protocol.constants import ACK_HELP_ON_THE_WAY
from tests.dispatch.conftest import bearer
from tests.dispatch.registries import ANNA, ANNA_AT, BEN, BEN_AT, GATEWAY, OPERATOR, rows, service, town
from tests.dispatch.world import GATEWAYS

# -- a responder ----------------------------------------------------------------------------------------------


def test_a_volunteer_revoked_mid_alarm_is_stood_down_and_the_ring_no_longer_says_help_is_coming(db: Path) -> None:
    """Revoking the only sign-in of a volunteer who accepted an alarm: they can no longer see it, so it goes to the
    next who can come (or the operators), and the ring stops saying help is on the way."""
    root = os.urandom(16)
    with service(db) as s:
        for gw, (lat, lon) in GATEWAYS.items():
            assert s.http.put(f"/api/v1/gateways/{gw}", json={"lat": lat, "lon": lon}, headers=bearer(OPERATOR))
        tokens, accounts = {}, {}
        for name, (lat, lon) in (("Cas Bakker", ANNA_AT), ("Dirk Smit", BEN_AT)):
            body = {"role": "responder", "name": name, "skills": ["patrol"]}
            doc = s.http.post("/api/v1/accounts", json=body, headers=bearer(OPERATOR)).json()
            rid = doc["account"]["responder_id"]
            tokens[rid], accounts[rid] = doc["token"], doc["account"]["id"]
            duty = {"on_duty": True, "lat": lat, "lon": lon}
            assert s.http.put("/api/v1/me/duty", json=duty, headers=bearer(doc["token"])).is_success
        assert s.register(9, root).status_code == 201
        assert s.sos(9, root, 1) == Outcome.ACCEPTED
        first = s.http.get("/api/v1/incidents/9-1", headers=bearer(OPERATOR)).json()["offered_to"][0]
        other = next(r for r in tokens if r != first)
        assert s.http.post("/api/v1/incidents/9-1/accept", json={"eta_min": 4}, headers=bearer(tokens[first]))
        assert s.on_loop(lambda: ring_state(s.d.state.incidents["9-1"])) == ACK_HELP_ON_THE_WAY

        assert s.http.delete(f"/api/v1/accounts/{accounts[first]}", headers=bearer(OPERATOR)).status_code == 200

        doc = s.http.get("/api/v1/incidents/9-1", headers=bearer(OPERATOR)).json()
        assert first not in doc["accepted_by"] and first not in doc["offered_to"]
        assert doc["state"] in ("offered", "escalated") and (other in doc["offered_to"] or doc["escalation"] >= 2)
        stood = [e["data"] for e in doc["events"] if e["kind"] == "stood_down"]
        assert [(e["responder"], e["by"], e["why"]) for e in stood] == [(first, "operator", "revoked")]
        assert s.on_loop(lambda: ring_state(s.d.state.incidents["9-1"])) != ACK_HELP_ON_THE_WAY
        # The other volunteer takes it: help is on the way again, and this time it is true.
        if other in doc["offered_to"]:
            assert s.http.post("/api/v1/incidents/9-1/accept", json={}, headers=bearer(tokens[other])).is_success
            assert s.on_loop(lambda: ring_state(s.d.state.incidents["9-1"])) == ACK_HELP_ON_THE_WAY


def test_a_removed_responder_is_stood_down_and_an_accepted_alarm_goes_to_someone_else(db: Path) -> None:
    with service(db) as s:
        town(s)
        s.alarm(9)
        inc = s.http.get("/api/v1/incidents/9-1", headers=bearer(OPERATOR)).json()
        first = inc["offered_to"][0]
        token = {"anna": ANNA, "ben": BEN}[first]
        other = "ben" if first == "anna" else "anna"
        assert s.http.post("/api/v1/incidents/9-1/accept", json={}, headers=bearer(token)).is_success

        assert s.http.delete(f"/api/v1/responders/{first}", headers=bearer(OPERATOR)).status_code == 204

        doc = s.http.get("/api/v1/incidents/9-1", headers=bearer(OPERATOR)).json()
        assert first not in doc["accepted_by"] and first not in doc["offered_to"]
        # Somebody is asked now, or the operators have it: never nobody coming.
        assert doc["state"] in ("offered", "escalated") and (other in doc["offered_to"] or doc["escalation"] >= 2)
        assert any(e["kind"] == "stood_down" and e["data"]["responder"] == first for e in doc["events"])
        # The removed responder sees and does nothing more, and is in no list.
        assert s.http.get("/api/v1/incidents/9-1", headers=bearer(token)).status_code == 404
        assert s.http.put("/api/v1/me/duty", json={"on_duty": True}, headers=bearer(token)).status_code == 404
        assert first not in {r["id"] for r in s.http.get("/api/v1/responders", headers=bearer(OPERATOR)).json()}
        assert f'data-responder="{first}"' not in s.http.get("/ui/partials/registries", headers=bearer(OPERATOR)).text
        assert rows(db, "SELECT on_duty, lat, lon, removed_ms IS NOT NULL FROM responders WHERE id = ?", first) == [
            (0, None, None, 1)
        ]

        # The other one takes it and closes it; the closed incident on the board still names them both by name.
        if other in doc["offered_to"]:
            other_token = {"anna": ANNA, "ben": BEN}[other]
            assert s.http.post("/api/v1/incidents/9-1/accept", json={}, headers=bearer(other_token)).is_success
        assert s.http.post("/api/v1/incidents/9-1/resolve", json={}, headers=bearer(OPERATOR)).is_success

    name = {"anna": "Anna Visser", "ben": "Ben de Wit"}[first]
    with service(db) as s:  # a restart: still removed, still named where they took part
        assert first not in s.d.state.responders and s.d.state.former[first] == name
        assert first not in {r["id"] for r in s.http.get("/api/v1/responders", headers=bearer(OPERATOR)).json()}
        events = s.http.get("/api/v1/incidents/9-1", headers=bearer(OPERATOR)).json()["events"]
        assert any(e["kind"] == "accepted" and e["data"]["responder"] == first for e in events)
        from basestation.dispatch.api.base import responder_names

        assert responder_names(s.d)(first) == name
        # A PUT brings them back, off duty as anyone new.
        r = s.http.put(f"/api/v1/responders/{first}", json={"name": name}, headers=bearer(OPERATOR))
        assert r.is_success and r.json()["on_duty"] is False
        assert first in {r["id"] for r in s.http.get("/api/v1/responders", headers=bearer(OPERATOR)).json()}
    with service(db) as s:
        assert first in s.d.state.responders and first not in s.d.state.former


def test_a_push_still_owed_to_a_removed_responder_is_dropped(db: Path) -> None:
    with service(db) as s:
        town(s)
        s.alarm(10)
        offered = s.http.get("/api/v1/incidents/10-1", headers=bearer(OPERATOR)).json()["offered_to"][0]
        notifier = Notifier(s.d, httpx.AsyncClient())
        job = Job(
            0.0, 0, "webpush", "10-1", Subscription("http://127.0.0.1:9/push", "p", "a"), {"type": "offer"}, offered
        )
        assert not notifier.moot(job)  # the control: owed while the offer stands
        assert s.http.delete(f"/api/v1/responders/{offered}", headers=bearer(OPERATOR)).status_code == 204
        assert notifier.moot(job)


def test_a_responders_name_is_edited(db: Path) -> None:
    with service(db) as s:
        town(s)
        body = {"name": "Anna de Vries", "language": "en", "skills": ["patrol"], "shift": "22:00-06:00"}
        r = s.http.put("/api/v1/responders/anna", json=body, headers=bearer(OPERATOR))
        assert r.json()["name"] == "Anna de Vries" and r.json()["on_duty"] is True  # an edit keeps them on duty
        assert "Anna de Vries" in s.http.get("/ui/partials/registries", headers=bearer(OPERATOR)).text


# -- a gateway ------------------------------------------------------------------------------------------------


def test_a_removed_gateway_is_not_added_again_by_its_status_only_by_a_put(db: Path) -> None:
    online = json.dumps({"state": "online", "position": {"lat": 52.1589, "lon": 4.4894}}).encode()
    with service(db) as s:
        town(s)
        assert s.http.delete(f"/api/v1/gateways/{GATEWAY}", headers=bearer(OPERATOR)).status_code == 204
        assert GATEWAY not in {g["id"] for g in s.http.get("/api/v1/gateways", headers=bearer(OPERATOR)).json()}
        assert f'data-gateway="{GATEWAY}"' not in s.http.get("/ui/partials/registries", headers=bearer(OPERATOR)).text

        s.on_loop(lambda: s.d.on_gateway_status(GATEWAY, online))
        assert GATEWAY not in s.d.state.gateways
        assert s.metric("nightwatch_gateway_status_refused_total") == 1
    with service(db) as s:  # a restart: still removed, its status still refused
        assert GATEWAY not in s.d.state.gateways
        s.on_loop(lambda: s.d.on_gateway_status(GATEWAY, online))
        assert GATEWAY not in s.d.state.gateways and s.metric("nightwatch_gateway_status_refused_total") == 1
        lat, lon = GATEWAYS[GATEWAY]
        assert s.http.put(
            f"/api/v1/gateways/{GATEWAY}", json={"lat": lat, "lon": lon}, headers=bearer(OPERATOR)
        ).is_success
        s.on_loop(lambda: s.d.on_gateway_status(GATEWAY, online))
        assert s.d.state.gateways[GATEWAY].online
    with service(db) as s:
        assert GATEWAY in s.d.state.gateways
