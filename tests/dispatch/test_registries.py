"""Operators edit and remove responders, gateways and key rings at run time, over real HTTP to the real app on
SQLite: a removal keeps history, leaves every list at once and after a restart, refuses a removed ring's frames
(counted) and a removed gateway's status (counted); a removed responder is stood down from what they were part
of; a PUT brings a removed responder or gateway back, and a removed ring's id can be registered again above the
counters it used."""

import asyncio
import json
import logging
import os
import re
import sqlite3
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from basestation.dispatch.api.app import create_app
from basestation.dispatch.core.lifecycle import ring_state
from basestation.dispatch.core.outcomes import Outcome
from basestation.dispatch.io.cluster import Cluster
from basestation.dispatch.io.notify import Job, Notifier
from basestation.dispatch.io.webpush import Subscription
from basestation.dispatch.service import Dispatcher
from basestation.dispatch.settings import DispatchSettings
from harness.dispatch import served
from protocol import uplink
from protocol.constants import ACK_HELP_ON_THE_WAY, EVENT_SOS, FLAG_ACK_REQUESTED
from protocol.keys import DeviceKeys
from tests.dispatch.conftest import bearer
from tests.dispatch.world import GATEWAYS, envelope, topic

OPERATOR = "registries-operator-token-0"
PROVISION = "registries-provision-token"
ANNA = "registries-anna-token-0000"
BEN = "registries-ben-token-00000"
GATEWAY = "gw-breestraat"
ANNA_AT, BEN_AT = (52.1589, 4.4894), (52.1664, 4.4817)

T = TypeVar("T")


@dataclass
class Service:
    base: str
    d: Dispatcher
    loop: asyncio.AbstractEventLoop
    http: httpx.Client

    def on_loop(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` (a coroutine function or a plain one) on the service's own event loop: its state is not
        shared with this thread."""

        async def call() -> Any:
            out = fn()
            return await out if asyncio.iscoroutine(out) else out

        fut: Future[Any] = asyncio.run_coroutine_threadsafe(call(), self.loop)
        return fut.result(10)

    def sos(self, device_id: int, root: bytes, counter: int) -> Outcome:
        frame = uplink.encode(
            DeviceKeys(root), uplink.Uplink(counter, device_id, EVENT_SOS, 90, flags=FLAG_ACK_REQUESTED)
        )
        payload = envelope(frame, GATEWAY, int(time.time() * 1000))
        outcome: Outcome = self.on_loop(lambda: self.d.on_uplink(topic(GATEWAY), payload))
        return outcome

    def register(self, device_id: int, root: bytes, counter_start: int = 1) -> httpx.Response:
        body = {"device_id": device_id, "root_key": root.hex(), "counter_start": counter_start, "label": "test ring"}
        return self.http.post("/api/v1/devices", json=body, headers=bearer(PROVISION))

    def alarm(self, device_id: int) -> bytes:
        """A new ring ``device_id``, registered, and its first SOS, which opens an incident: the ring's root key."""
        root = os.urandom(16)
        assert self.register(device_id, root).status_code == 201
        assert self.sos(device_id, root, 1) == Outcome.ACCEPTED
        return root

    def metric(self, line: str) -> int:
        text = self.http.get("/metrics").text
        # prometheus-client writes every value as a float: a count as "3.0".
        found = re.search(rf"^{re.escape(line)} (\d+)\.0$", text, re.M)
        return int(found.group(1)) if found else 0


@contextmanager
def service(db: Path) -> Iterator[Service]:
    """The real app on a real SQLite file, with three gateways and two responders; a second one on the same file
    is a restart."""
    tokens = {OPERATOR: "operator", PROVISION: "provisioning", ANNA: "responder:anna", BEN: "responder:ben"}
    d = Dispatcher(DispatchSettings(database_url=f"sqlite+aiosqlite:///{db}", tokens=tokens))
    with served(create_app(d)) as (base, loop), httpx.Client(base_url=base, timeout=10) as http:
        yield Service(base, d, loop, http)


def _town(s: Service) -> None:
    for gw, (lat, lon) in GATEWAYS.items():
        assert s.http.put(f"/api/v1/gateways/{gw}", json={"lat": lat, "lon": lon}, headers=bearer(OPERATOR)).is_success
    for rid, name, token, (lat, lon) in (("anna", "Anna Visser", ANNA, ANNA_AT), ("ben", "Ben de Wit", BEN, BEN_AT)):
        body = {"name": name, "skills": ["patrol", "first_aid"]}
        assert s.http.put(f"/api/v1/responders/{rid}", json=body, headers=bearer(OPERATOR)).is_success
        duty = {"on_duty": True, "lat": lat, "lon": lon}
        assert s.http.put("/api/v1/me/duty", json=duty, headers=bearer(token)).is_success


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "d.db"


def _rows(db: Path, sql: str, *args: object) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, args).fetchall()


# -- refusals --------------------------------------------------------------------------------------------------

REFUSALS = [
    # (method, path, token, body, status)
    ("DELETE", "/api/v1/responders/nobody", OPERATOR, None, 404),
    ("DELETE", "/api/v1/gateways/gw-nowhere", OPERATOR, None, 404),
    ("DELETE", "/api/v1/devices/424242", OPERATOR, None, 404),
    ("DELETE", "/api/v1/devices/424242", PROVISION, None, 404),
    ("PATCH", "/api/v1/devices/424242", OPERATOR, {"label": "x"}, 404),
    ("DELETE", "/api/v1/responders/anna", ANNA, None, 403),
    ("DELETE", "/api/v1/responders/anna", PROVISION, None, 403),
    ("DELETE", f"/api/v1/gateways/{GATEWAY}", BEN, None, 403),
    ("DELETE", f"/api/v1/gateways/{GATEWAY}", PROVISION, None, 403),
    ("DELETE", "/api/v1/devices/7", ANNA, None, 403),
    ("PATCH", "/api/v1/devices/7", ANNA, {"label": "x"}, 403),
    ("PUT", "/api/v1/responders/anna", PROVISION, {"name": "Anna"}, 403),
    ("PUT", f"/api/v1/gateways/{GATEWAY}", ANNA, {"lat": 52.1, "lon": 4.4}, 403),
    ("DELETE", "/api/v1/gateways/bad id with spaces", OPERATOR, None, 422),
    ("DELETE", "/api/v1/devices/4294967296", OPERATOR, None, 422),
    ("PATCH", "/api/v1/devices/7", OPERATOR, {"label": 7}, 422),
    ("DELETE", "/api/v1/responders/anna", None, None, 401),
]


def test_unknown_ids_wrong_roles_and_bad_input_are_refused(db: Path) -> None:
    with service(db) as s:
        _town(s)
        assert s.register(7, os.urandom(16)).status_code == 201
        for method, path, token, body, code in REFUSALS:
            headers = bearer(token) if token else {}
            r = s.http.request(method, path, json=body, headers=headers)
            assert r.status_code == code, (method, path, token, r.status_code, r.text)
        # Nothing was removed by any of them.
        assert {r["id"] for r in s.http.get("/api/v1/responders", headers=bearer(OPERATOR)).json()} == {"anna", "ben"}
        assert 7 in s.d.state.resolver and GATEWAY in s.d.state.gateways


def test_a_removal_twice_is_a_404_the_second_time(db: Path) -> None:
    with service(db) as s:
        _town(s)
        assert s.register(8, os.urandom(16)).status_code == 201
        for path in ("/api/v1/responders/ben", f"/api/v1/gateways/{GATEWAY}", "/api/v1/devices/8"):
            assert s.http.delete(path, headers=bearer(OPERATOR)).status_code == 204, path
            assert s.http.delete(path, headers=bearer(OPERATOR)).status_code == 404, path


# -- a key ring -----------------------------------------------------------------------------------------------


def test_a_removed_ring_leaves_every_list_its_key_is_wiped_its_frames_are_counted_its_history_stays(
    db: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with service(db) as s:
        _town(s)
        root = s.alarm(4242)
        incident = "4242-1"
        assert s.http.get(f"/api/v1/incidents/{incident}", headers=bearer(OPERATOR)).json()["state"] != "resolved"
        assert "4242" in s.http.get("/ui/partials/registries", headers=bearer(OPERATOR)).text

        assert s.http.delete("/api/v1/devices/4242", headers=bearer(OPERATOR)).status_code == 204

        # Off every list at once: the API's, the board's registry, the wearer's card, memory.
        assert all(d["device_id"] != 4242 for d in s.http.get("/api/v1/devices", headers=bearer(OPERATOR)).json())
        assert 'data-device="4242"' not in s.http.get("/ui/partials/registries", headers=bearer(OPERATOR)).text
        assert s.http.get("/api/v1/devices/4242/card.pdf", headers=bearer(OPERATOR)).status_code == 404
        assert 4242 not in s.d.state.resolver and 4242 not in s.d.state.devices
        # Its key is gone from the row, which stays for its incidents.
        assert _rows(db, "SELECT root_key, removed_ms IS NOT NULL FROM devices WHERE device_id = 4242") == [(b"", 1)]

        # Its next frame is refused and counted, as a frame of no ring; the sweep gives it up, counted too.
        unknown = s.metric('nightwatch_uplinks_total{outcome="unknown_device"}')
        given_up = s.metric("nightwatch_unresolved_given_up_total")
        assert s.sos(4242, root, 2) == Outcome.UNKNOWN_DEVICE
        assert s.metric('nightwatch_uplinks_total{outcome="unknown_device"}') == unknown + 1
        with caplog.at_level(logging.WARNING, logger="nightwatch.dispatch.pipeline"):
            s.on_loop(lambda: s.d.pipeline.sweep(int(time.time() * 1000)))
        assert s.metric("nightwatch_unresolved_given_up_total") == given_up + 1
        assert any("match no device" in r.getMessage() for r in caplog.records)  # and said in the log
        assert not any(i.startswith("4242-2") for i in s.d.state.incidents)

        # Its history stays: the incident, still open for the responders, its log and its frame.
        doc = s.http.get(f"/api/v1/incidents/{incident}", headers=bearer(OPERATOR)).json()
        assert doc["state"] not in ("resolved", "cancelled") and doc["events"]
        found = s.http.get("/api/v1/incidents", params={"device_id": 4242}, headers=bearer(OPERATOR)).json()
        assert [i["id"] for i in found] == [incident]
        assert _rows(db, "SELECT counter FROM frames WHERE device_id = 4242") == [(1,)]
        assert s.d.state.incidents[incident].active
        # A replica's clock reads silent rings from the database into its list: a removed ring is not one.
        with sqlite3.connect(db) as conn:
            conn.execute("UPDATE devices SET heartbeat_min = 1, last_seen_ms = 1 WHERE device_id = 4242")
        assert s.on_loop(lambda: s.d.store.overdue_devices(int(time.time() * 1000))) == []

    with service(db) as s:  # a restart
        assert 4242 not in s.d.state.resolver and 4242 not in s.d.state.devices
        assert all(d["device_id"] != 4242 for d in s.http.get("/api/v1/devices", headers=bearer(OPERATOR)).json())
        assert 'data-device="4242"' not in s.http.get("/ui/partials/registries", headers=bearer(OPERATOR)).text
        assert s.d.state.incidents[incident].active  # still open for the responders, not closed silently
        assert s.sos(4242, root, 3) == Outcome.UNKNOWN_DEVICE


def test_a_removed_rings_id_is_registered_again_above_the_counters_it_used(db: Path) -> None:
    old, new = os.urandom(16), os.urandom(16)
    with service(db) as s:
        _town(s)
        assert s.register(77, old, counter_start=10).status_code == 201
        for counter in (10, 11, 12):
            assert s.sos(77, old, counter) in (Outcome.ACCEPTED, Outcome.DUPLICATE), counter
        assert s.http.delete("/api/v1/devices/77", headers=bearer(PROVISION)).status_code == 204
    with service(db) as s:  # a restart reads its open incident's frames back: recordings of them are no copies
        # Below or at the counters it used: its incidents are named by them, and old frames could be replayed.
        for start in (1, 12):
            r = s.register(77, new, counter_start=start)
            assert r.status_code == 409 and "--counter-start 13" in r.json()["detail"], r.text
        assert s.register(77, new, counter_start=13).status_code == 201
        assert s.register(77, new, counter_start=500).status_code == 409  # registered now: not twice
        assert s.d.state.resolver.replay_state(77)[0] == 12
        # Recordings of its old frames open nothing; the new key's first press does.
        for counter in (10, 12, 13):
            assert s.sos(77, old, counter) not in (Outcome.ACCEPTED, Outcome.DUPLICATE), counter
        assert s.sos(77, new, 13) == Outcome.ACCEPTED
        # An incident of its own: the ring may be someone else's now. The old one is still there, still open.
        assert s.http.get("/api/v1/incidents/77-13", headers=bearer(OPERATOR)).status_code == 200
        assert s.d.state.incidents["77-10"].active
    with service(db) as s:
        assert 77 in s.d.state.resolver and s.d.state.resolver.replay_state(77)[0] == 13
        assert s.sos(77, new, 14) == Outcome.ACCEPTED


def test_a_rings_label_is_edited(db: Path) -> None:
    with service(db) as s:
        assert s.register(5, os.urandom(16)).status_code == 201
        r = s.http.patch("/api/v1/devices/5", json={"label": "  Oude Singel  "}, headers=bearer(OPERATOR))
        assert r.json() == {"device_id": 5, "label": "Oude Singel"}
        assert "Oude Singel" in s.http.get("/ui/partials/registries", headers=bearer(OPERATOR)).text


def test_another_replica_drops_a_removed_ring_it_never_resolved(db: Path) -> None:
    """A replica may list a ring its resolver does not hold (one it learnt of from a heartbeat's device state):
    the removal it is told of takes it off its lists all the same."""
    from basestation.dispatch.core.state import DeviceInfo

    with service(db) as s:
        cluster = Cluster(s.d)  # only its handling of what other replicas announce: no PostgreSQL needed
        s.on_loop(lambda: s.d.state.devices.setdefault(31, DeviceInfo()))
        s.on_loop(
            lambda: cluster.apply({"origin": "elsewhere", "registry": "device_removed", "data": {"device_id": 31}})
        )
        assert 31 not in s.d.state.devices
        assert 'data-device="31"' not in s.http.get("/ui/partials/registries", headers=bearer(OPERATOR)).text
        s.on_loop(
            lambda: cluster.apply(
                {"origin": "elsewhere", "registry": "responder_removed", "data": {"id": "ben", "name": "Ben"}}
            )
        )
        assert "ben" not in s.d.state.responders and s.d.state.former["ben"] == "Ben"


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
        _town(s)
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
        assert _rows(db, "SELECT on_duty, lat, lon, removed_ms IS NOT NULL FROM responders WHERE id = ?", first) == [
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
        _town(s)
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
        _town(s)
        body = {"name": "Anna de Vries", "language": "en", "skills": ["patrol"], "shift": "22:00-06:00"}
        r = s.http.put("/api/v1/responders/anna", json=body, headers=bearer(OPERATOR))
        assert r.json()["name"] == "Anna de Vries" and r.json()["on_duty"] is True  # an edit keeps them on duty
        assert "Anna de Vries" in s.http.get("/ui/partials/registries", headers=bearer(OPERATOR)).text


# -- a gateway ------------------------------------------------------------------------------------------------


def test_a_removed_gateway_is_not_added_again_by_its_status_only_by_a_put(db: Path) -> None:
    online = json.dumps({"state": "online", "position": {"lat": 52.1589, "lon": 4.4894}}).encode()
    with service(db) as s:
        _town(s)
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
