"""Accounts across two dispatch replicas on one PostgreSQL (real PostgreSQL, real HTTP): a person added on one
replica signs in on the other; revoked on one, their token is refused on both and the stream open on the other is
closed at once."""

import threading
from pathlib import Path

import httpx

from harness.dispatch import served
from tests.databases import PrivatePostgres
from tests.dispatch.conftest import bearer, replicas, wait_for

OP = "operator-token-replicas-0123456789"


def test_an_account_added_on_one_replica_is_revoked_on_both(tmp_path: Path, postgres: PrivatePostgres) -> None:
    app = replicas(postgres, {OP: "operator:mira"})
    with served(app("a")) as (a, _), served(app("b")) as (b, _):
        doc = httpx.post(f"{a}/api/v1/accounts", json={"role": "responder", "name": "Anna"}, headers=bearer(OP)).json()
        token = doc["token"]
        wait_for(lambda: httpx.post(f"{b}/ui/login", headers=bearer(token)).status_code == 200, 10)

        opened, ended = threading.Event(), threading.Event()

        def read() -> None:
            with httpx.stream("GET", f"{b}/api/v1/stream", headers=bearer(token), timeout=None) as r:
                assert r.status_code == 200
                opened.set()
                for _ in r.iter_raw():
                    pass
            ended.set()

        threading.Thread(target=read, daemon=True).start()
        assert opened.wait(10)
        r = httpx.delete(f"{a}/api/v1/accounts/{doc['account']['id']}", headers=bearer(OP))
        assert r.status_code == 200 and r.json()["streams_closed"] == 0  # the stream is on the other replica
        assert ended.wait(5)  # and that one closed it, told through PostgreSQL
        for base in (a, b):
            assert httpx.get(f"{base}/api/v1/incidents", headers=bearer(token)).status_code == 401
