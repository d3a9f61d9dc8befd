"""Removals across two dispatch replicas on one PostgreSQL (real PostgreSQL, real HTTP): a ring, a responder and
a gateway removed on one replica leave the other's lists at once, not at its next restart."""

import os
from pathlib import Path

import httpx

from harness.dispatch import served
from tests.databases import PrivatePostgres
from tests.dispatch.conftest import bearer, replicas, wait_for

OP = "operator-token-registries-replicas-01"


def _listed(base: str) -> tuple[set[int], set[str], set[str], str]:
    def get(path: str) -> httpx.Response:
        return httpx.get(base + path, headers=bearer(OP), timeout=10)

    return (
        {d["device_id"] for d in get("/api/v1/devices").json()},
        {r["id"] for r in get("/api/v1/responders").json()},
        {g["id"] for g in get("/api/v1/gateways").json()},
        get("/ui/partials/registries").text,
    )


def test_a_removal_on_one_replica_leaves_the_others_lists_at_once(tmp_path: Path, postgres: PrivatePostgres) -> None:
    app = replicas(postgres, {OP: "operator"})
    with served(app("a")) as (a, _), served(app("b")) as (b, _):
        ring = {"device_id": 4242, "root_key": os.urandom(16).hex()}
        assert httpx.post(f"{a}/api/v1/devices", json=ring, headers=bearer(OP)).status_code == 201
        assert httpx.put(f"{a}/api/v1/responders/anna", json={"name": "Anna"}, headers=bearer(OP)).is_success
        assert httpx.put(f"{a}/api/v1/gateways/gw-1", json={"lat": 52.16, "lon": 4.49}, headers=bearer(OP)).is_success
        wait_for(lambda: _listed(b)[:3] == ({4242}, {"anna"}, {"gw-1"}), 10)
        assert 'data-device="4242"' in _listed(b)[3]

        for path in ("/api/v1/devices/4242", "/api/v1/responders/anna", "/api/v1/gateways/gw-1"):
            assert httpx.delete(a + path, headers=bearer(OP)).status_code == 204, path
        for base in (a, b):
            wait_for(lambda: _listed(base)[:3] == (set(), set(), set()), 10)  # noqa: B023 (called before the loop goes on)
            page = _listed(base)[3]
            assert 'data-device="4242"' not in page and "Anna" not in page and "gw-1" not in page

    with served(app("b")) as (b, _):  # and after a restart
        assert _listed(b)[:3] == (set(), set(), set())
