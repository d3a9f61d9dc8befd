"""Accounts at run time (docs/accounts.md): an operator adds a responder or another operator, hands them a sign-in
link, makes a new one, revokes; the token is kept hashed; revoking refuses the token and closes its open streams
at once; accounts survive a restart. On a real SQLite database, over real HTTP where a stream is involved."""

import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from basestation.dispatch.api.app import create_app
from basestation.dispatch.core import accounts
from basestation.dispatch.service import Dispatcher
from basestation.dispatch.settings import DispatchSettings
from harness.dispatch import served
from tests.dispatch.conftest import bearer, serve

OP = "operator-token-accounts-0123456789"
VOLUNTEER = {
    "role": "responder",
    "name": "Anna de Vries",
    "phone": "+31 6 1234 5678",
    "skills": ["patrol"],
    "team": "noord",
}


def _settings(tmp_path: Path) -> DispatchSettings:
    return DispatchSettings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'd.db'}", tokens={OP: "operator:mira"})


def _serve(tmp_path: Path, scenario: Any) -> None:
    serve(_settings(tmp_path), scenario)


def _token(link: str) -> str:
    assert "#token=" in link
    return link.partition("#token=")[2]


# -- pure --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "taken", "expected"),
    [
        ("Anna de Vries", set(), "anna-de-vries"),
        ("Anna de Vries", {"anna-de-vries"}, "anna-de-vries-2"),
        ("Anna de Vries", {"anna-de-vries", "anna-de-vries-2"}, "anna-de-vries-3"),
        ("Şükrü Öztürk", set(), "sukru-ozturk"),
        ("  ", set(), "responder"),
        ("李", set(), "responder"),
        ("x" * 200, set(), "x" * 40),
    ],
)
def test_a_responder_id_reads_as_the_name(name: str, taken: set[str], expected: str) -> None:
    assert accounts.responder_id_for(name, taken) == expected


def test_the_token_rides_in_the_fragment_which_no_server_sees() -> None:
    token = accounts.new_token()
    link = accounts.signin_link("https://patrol.example.org/", token)
    assert link == f"https://patrol.example.org/ui/#token={token}"
    assert len(token) == 32 and accounts.new_token() != token


# -- the API -----------------------------------------------------------------------------------------------------


def test_an_operator_adds_a_volunteer_who_signs_in_with_the_link(tmp_path: Path) -> None:
    async def scenario(d: Dispatcher, http: httpx.AsyncClient) -> None:
        r = await http.post("/api/v1/accounts", json=VOLUNTEER, headers=bearer(OP))
        assert r.status_code == 201, r.text
        doc = r.json()
        token = _token(doc["link"])
        assert doc["token"] == token and doc["qr_svg"].startswith("<svg")
        acc = doc["account"]
        assert acc["responder_id"] == "anna-de-vries" and acc["created_by"] == "mira" and acc["revoked_ms"] is None
        # The responder exists at once, and the link signs in as them.
        assert d.state.responders["anna-de-vries"].name == "Anna de Vries"
        assert d.state.responders["anna-de-vries"].team == "noord"  # which a patrol zone may be bound to
        me = await http.post("/ui/login", headers=bearer(token))
        assert me.status_code == 200 and me.json()["home"] == "/ui/responder"
        assert (await http.put("/api/v1/me/duty", json={"on_duty": True}, headers=bearer(token))).status_code == 200
        # Listed without the token; a responder cannot list.
        listed = (await http.get("/api/v1/accounts", headers=bearer(OP))).json()
        assert [a["id"] for a in listed] == [acc["id"]] and token not in str(listed)
        assert (await http.get("/api/v1/accounts", headers=bearer(token))).status_code == 403

    _serve(tmp_path, scenario)


def test_the_database_holds_only_the_token_s_hash(tmp_path: Path) -> None:
    issued: list[str] = []

    async def scenario(d: Dispatcher, http: httpx.AsyncClient) -> None:
        r = await http.post("/api/v1/accounts", json={"role": "operator", "name": "Joost"}, headers=bearer(OP))
        issued.append(r.json()["token"])

    _serve(tmp_path, scenario)
    engine = create_engine(f"sqlite:///{tmp_path / 'd.db'}")
    with engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(text("SELECT * FROM accounts"))]
    assert rows and issued[0] not in str(rows)
    assert accounts.digest(issued[0]) in str(rows)
    assert (tmp_path / "d.db").read_bytes().find(issued[0].encode()) == -1


def test_an_added_operator_adds_others_but_cannot_revoke_themselves(tmp_path: Path) -> None:
    async def scenario(d: Dispatcher, http: httpx.AsyncClient) -> None:
        joost = (
            await http.post("/api/v1/accounts", json={"role": "operator", "name": "Joost"}, headers=bearer(OP))
        ).json()
        tok = joost["token"]
        assert (await http.post("/ui/login", headers=bearer(tok))).json()["home"] == "/ui/operator"
        r = await http.post("/api/v1/accounts", json=VOLUNTEER, headers=bearer(tok))
        assert r.status_code == 201 and r.json()["account"]["created_by"] == "Joost"
        own = await http.delete(f"/api/v1/accounts/{joost['account']['id']}", headers=bearer(tok))
        assert own.status_code == 409
        assert (await http.delete(f"/api/v1/accounts/{joost['account']['id']}", headers=bearer(OP))).status_code == 200
        assert (await http.get("/api/v1/accounts", headers=bearer(tok))).status_code == 401

    _serve(tmp_path, scenario)


def test_a_new_link_ends_the_old_one(tmp_path: Path) -> None:
    async def scenario(d: Dispatcher, http: httpx.AsyncClient) -> None:
        first = (await http.post("/api/v1/accounts", json=VOLUNTEER, headers=bearer(OP))).json()
        again = await http.post(f"/api/v1/accounts/{first['account']['id']}/link", headers=bearer(OP))
        assert again.status_code == 200
        assert (await http.post("/ui/login", headers=bearer(first["token"]))).status_code == 401
        assert (await http.post("/ui/login", headers=bearer(again.json()["token"]))).status_code == 200

    _serve(tmp_path, scenario)


def test_revoking_refuses_the_token_and_takes_the_responder_off_duty(tmp_path: Path) -> None:
    async def scenario(d: Dispatcher, http: httpx.AsyncClient) -> None:
        doc = (await http.post("/api/v1/accounts", json=VOLUNTEER, headers=bearer(OP))).json()
        tok, acc_id = doc["token"], doc["account"]["id"]
        await http.put("/api/v1/me/duty", json={"on_duty": True, "lat": 52.16, "lon": 4.49}, headers=bearer(tok))
        assert d.state.responders["anna-de-vries"].on_duty
        r = await http.delete(f"/api/v1/accounts/{acc_id}", headers=bearer(OP))
        assert r.status_code == 200 and r.json()["revoked_by"] == "mira"
        assert (await http.get("/api/v1/incidents", headers=bearer(tok))).status_code == 401
        assert not d.state.responders["anna-de-vries"].on_duty  # never offered an alarm they cannot see
        assert (await http.delete(f"/api/v1/accounts/{acc_id}", headers=bearer(OP))).status_code == 404
        listed = (await http.get("/api/v1/accounts?revoked=true", headers=bearer(OP))).json()
        assert listed[0]["revoked_ms"] is not None

    _serve(tmp_path, scenario)


def test_a_revoked_responder_s_browsers_get_no_more_pushes(tmp_path: Path) -> None:
    async def scenario(d: Dispatcher, http: httpx.AsyncClient) -> None:
        first = (await http.post("/api/v1/accounts", json=VOLUNTEER, headers=bearer(OP))).json()
        # A second phone of the same responder: revoking one account leaves them reachable by the other.
        second = (
            await http.post("/api/v1/accounts", json={**VOLUNTEER, "responder_id": "anna-de-vries"}, headers=bearer(OP))
        ).json()
        sub = {"endpoint": "https://push.example/anna", "keys": {"p256dh": "BNcR", "auth": "tBHI"}}
        r = await http.post("/api/v1/me/push-subscription", json=sub, headers=bearer(first["token"]))
        assert r.status_code == 201, r.text
        await http.delete(f"/api/v1/accounts/{first['account']['id']}", headers=bearer(OP))
        assert [s[0] for s in await d.store.subscriptions()] == ["anna-de-vries"]
        await http.delete(f"/api/v1/accounts/{second['account']['id']}", headers=bearer(OP))
        assert await d.store.subscriptions() == []

    _serve(tmp_path, scenario)


def test_accounts_and_revocations_survive_a_restart(tmp_path: Path) -> None:
    kept: dict[str, str] = {}

    async def first(d: Dispatcher, http: httpx.AsyncClient) -> None:
        kept["anna"] = (await http.post("/api/v1/accounts", json=VOLUNTEER, headers=bearer(OP))).json()["token"]
        bob = (await http.post("/api/v1/accounts", json={**VOLUNTEER, "name": "Bob"}, headers=bearer(OP))).json()
        kept["bob"] = bob["token"]
        await http.delete(f"/api/v1/accounts/{bob['account']['id']}", headers=bearer(OP))

    async def second(d: Dispatcher, http: httpx.AsyncClient) -> None:
        assert (await http.post("/ui/login", headers=bearer(kept["anna"]))).status_code == 200
        assert (await http.post("/ui/login", headers=bearer(kept["bob"]))).status_code == 401

    _serve(tmp_path, first)
    _serve(tmp_path, second)


BAD: list[tuple[str, dict[str, Any]]] = [
    ("no role", {"name": "A"}),
    ("unknown role", {"role": "provisioning", "name": "A"}),
    ("no name", {"role": "responder"}),
    ("blank name", {"role": "responder", "name": "   "}),
    ("long name", {"role": "responder", "name": "x" * 121}),
    ("bad phone", {"role": "responder", "name": "A", "phone": "call me"}),
    ("bad language", {"role": "responder", "name": "A", "language": "de"}),
    ("bad skill", {"role": "responder", "name": "A", "skills": ["driving"]}),
    ("bad shift", {"role": "responder", "name": "A", "shift": "25:00-05:00"}),
    ("bad responder id", {"role": "responder", "name": "A", "responder_id": "a b"}),
    ("operator as a responder", {"role": "operator", "name": "A", "responder_id": "anna"}),
    ("not strict", {"role": "responder", "name": 5}),
    ("empty team", {"role": "responder", "name": "A", "team": ""}),
]


@pytest.mark.parametrize(("why", "body"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_refused_and_adds_nobody(tmp_path: Path, why: str, body: dict[str, Any]) -> None:
    async def scenario(d: Dispatcher, http: httpx.AsyncClient) -> None:
        r = await http.post("/api/v1/accounts", json=body, headers=bearer(OP))
        assert r.status_code == 422, why
        assert (await http.get("/api/v1/accounts", headers=bearer(OP))).json() == []
        assert not d.state.responders

    _serve(tmp_path, scenario)


@pytest.mark.parametrize(
    ("method", "path"),
    [("DELETE", "/api/v1/accounts/acct-0000000000"), ("POST", "/api/v1/accounts/acct-0000000000/link")],
)
def test_an_unknown_account_is_404_and_a_malformed_id_422(tmp_path: Path, method: str, path: str) -> None:
    async def scenario(d: Dispatcher, http: httpx.AsyncClient) -> None:
        assert (await http.request(method, path, headers=bearer(OP))).status_code == 404
        assert (await http.request(method, path.replace("acct-0000000000", "x"), headers=bearer(OP))).status_code == 422
        assert (await http.request(method, path)).status_code == 401

    _serve(tmp_path, scenario)


# -- streams -----------------------------------------------------------------------------------------------------


def test_revoking_closes_the_account_s_open_stream_at_once(tmp_path: Path) -> None:
    app = create_app(Dispatcher(_settings(tmp_path)))
    with served(app) as (base, _loop):
        doc = httpx.post(f"{base}/api/v1/accounts", json=VOLUNTEER, headers=bearer(OP)).json()
        other = httpx.post(f"{base}/api/v1/accounts", json={**VOLUNTEER, "name": "Bob"}, headers=bearer(OP)).json()
        ended: dict[str, threading.Event] = {"anna": threading.Event(), "bob": threading.Event()}
        opened = {k: threading.Event() for k in ended}

        def read(who: str, token: str) -> None:
            with httpx.stream("GET", f"{base}/api/v1/stream", headers=bearer(token), timeout=None) as r:
                assert r.status_code == 200
                opened[who].set()
                for _ in r.iter_raw():
                    pass
            ended[who].set()

        readers = [
            threading.Thread(target=read, args=("anna", doc["token"]), daemon=True),
            threading.Thread(target=read, args=("bob", other["token"]), daemon=True),
        ]
        for th in readers:
            th.start()
        assert all(e.wait(10) for e in opened.values())
        listed = {a["name"]: a["streams"] for a in httpx.get(f"{base}/api/v1/accounts", headers=bearer(OP)).json()}
        assert listed == {"Anna de Vries": 1, "Bob": 1}
        r = httpx.delete(f"{base}/api/v1/accounts/{doc['account']['id']}", headers=bearer(OP))
        assert r.json()["streams_closed"] == 1
        # Closed at once: the stream pings only every 15 s, so an end within 5 s is the revocation's doing.
        assert ended["anna"].wait(5)
        assert not ended["bob"].is_set()
        assert httpx.get(f"{base}/api/v1/stream", headers=bearer(doc["token"])).status_code == 401


def test_the_log_names_the_operator_who_escalated_and_resolved(tmp_path: Path) -> None:
    async def scenario(d: Dispatcher, http: httpx.AsyncClient) -> None:
        tok = (await http.post("/api/v1/accounts", json=VOLUNTEER, headers=bearer(OP))).json()["token"]
        await http.put("/api/v1/me/duty", json={"on_duty": True, "lat": 52.16, "lon": 4.49}, headers=bearer(tok))
        call = {"kind": "worried", "callback_number": "+31 6 2222 3333", "lat": 52.1592, "lon": 4.4893}
        inc = (await http.post("/api/v1/incidents", json=call, headers=bearer(OP))).json()
        assert inc["state"] == "offered"  # to the volunteer, not yet escalated: the operator escalates it
        assert (await http.post(f"/api/v1/incidents/{inc['id']}/escalate", headers=bearer(OP))).status_code == 200
        r = await http.post(f"/api/v1/incidents/{inc['id']}/resolve", json={}, headers=bearer(OP))
        assert r.status_code == 200, r.text
        events = (await http.get(f"/api/v1/incidents/{inc['id']}", headers=bearer(OP))).json()["events"]
        kinds = ("escalated", "resolved")
        named = {e["kind"]: (e["data"]["by"], e["data"].get("operator")) for e in events if e["kind"] in kinds}
        assert named["escalated"] == ("operator", "mira") and named["resolved"] == ("operator", "mira")

    _serve(tmp_path, scenario)
