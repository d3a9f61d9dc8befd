"""Operators remove and edit key rings at run time, over real HTTP to the real app on SQLite, and what the
registries refuse (unknown ids, wrong roles, bad input, a removal twice): a removed ring leaves every list at once
and after a restart, its key wiped, its frames refused and counted, its history kept; its id can be registered
again above the counters it used; another replica drops it too. Responders and gateways are
test_registries_responders_gateways.py's."""

import logging
import os
import sqlite3
import time
from pathlib import Path

import pytest

from basestation.dispatch.core.outcomes import Outcome
from basestation.dispatch.io.cluster import Cluster
from tests.dispatch.conftest import bearer
from tests.dispatch.registries import ANNA, BEN, GATEWAY, OPERATOR, PROVISION, rows, service, town

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
        town(s)
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
        town(s)
        assert s.register(8, os.urandom(16)).status_code == 201
        for path in ("/api/v1/responders/ben", f"/api/v1/gateways/{GATEWAY}", "/api/v1/devices/8"):
            assert s.http.delete(path, headers=bearer(OPERATOR)).status_code == 204, path
            assert s.http.delete(path, headers=bearer(OPERATOR)).status_code == 404, path


# -- a key ring -----------------------------------------------------------------------------------------------


def test_a_removed_ring_leaves_every_list_its_key_is_wiped_its_frames_are_counted_its_history_stays(
    db: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with service(db) as s:
        town(s)
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
        assert rows(db, "SELECT root_key, removed_ms IS NOT NULL FROM devices WHERE device_id = 4242") == [(b"", 1)]

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
        assert rows(db, "SELECT counter FROM frames WHERE device_id = 4242") == [(1,)]
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
        town(s)
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
