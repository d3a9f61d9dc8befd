"""Who may see and do what through the API, over real HTTP (uvicorn) to the real app on SQLite: no token, a
wrong one or an expired one is refused everywhere; a responder sees and acts on only the incidents offered to
them and nobody's position; the provisioning role sees no incident."""

import asyncio
import datetime
import json
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import Future
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from basestation.dispatch.api.app import create_app
from basestation.dispatch.api.auth import TokenTable
from basestation.dispatch.service import Dispatcher
from basestation.dispatch.settings import DispatchSettings
from harness.dispatch import served
from protocol.constants import EVENT_SOS
from tests.dispatch.conftest import bearer
from tests.dispatch.world import GATEWAYS, World, envelope, topic


def _iso(at: float) -> str:
    return datetime.datetime.fromtimestamp(at, datetime.UTC).isoformat()


OPERATOR = "roles-operator-token-000"
ANNA = "roles-anna-token-00000000"
BEN = "roles-ben-token-000000000"
PROVISION = "roles-provision-token-000"
EXPIRED = "roles-expired-operator-tok"
# Positions no response to anyone but an operator may contain, whatever field it would hide in.
ANNA_AT, BEN_AT = (52.15893721, 4.48937713), (52.16637219, 4.48172231)
ANNA_GW, BEN_GW = "gw-breestraat", "gw-centraal"  # each responder is nearest to one gateway


@dataclass
class Api:
    base: str
    d: Dispatcher
    loop: asyncio.AbstractEventLoop
    world: World
    tokens: TokenTable

    def alarm(self, device_id: int, gateway: str) -> str:
        """An SOS heard by one gateway, handled on the service's own loop; returns its incident id."""
        frame, counter = self.world.frame(device_id, EVENT_SOS)
        fut: Future[Any] = asyncio.run_coroutine_threadsafe(
            self.d.on_uplink(topic(gateway), envelope(frame, gateway, int(time.time() * 1000))), self.loop
        )
        fut.result(10)
        return f"{device_id}-{counter}"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    db = tmp_path_factory.mktemp("roles") / "d.db"
    tokens = {
        OPERATOR: "operator",
        ANNA: "responder:anna",
        BEN: "responder:ben",
        PROVISION: "provisioning",
        EXPIRED: f"operator;expires={_iso(time.time() - 1)}",
    }
    d = Dispatcher(DispatchSettings(database_url=f"sqlite+aiosqlite:///{db}", tokens=tokens))
    world = World()
    app = create_app(d)
    with served(app) as (base, loop), httpx.Client(base_url=base) as http:
        for gw, (lat, lon) in GATEWAYS.items():
            http.put(f"/api/v1/gateways/{gw}", json={"lat": lat, "lon": lon}, headers=bearer(OPERATOR))
        for name, token, (lat, lon) in (("anna", ANNA, ANNA_AT), ("ben", BEN, BEN_AT)):
            assert http.put(f"/api/v1/responders/{name}", json={"name": name}, headers=bearer(OPERATOR)).is_success
            duty = {"on_duty": True, "lat": lat, "lon": lon}
            assert http.put("/api/v1/me/duty", json=duty, headers=bearer(token)).is_success
        for device_id in range(1, 8):  # a ring per alarm, so that no alarm joins another's open incident
            world.ring(device_id)
            body = {"device_id": device_id, "root_key": world.roots[device_id].hex()}
            assert http.post("/api/v1/devices", json=body, headers=bearer(PROVISION)).status_code == 201
        yield Api(base, d, loop, world, app.state.tokens)


def _fill(path: str) -> str:
    return (
        path.replace("{device_id}", "1")
        .replace("{incident_id}", "1-1")
        .replace("{gateway_id}", "gw-x")
        .replace("{responder_id}", "anna")
    )


def test_every_operation_that_takes_a_token_refuses_none_a_wrong_one_and_an_expired_one(api: Api) -> None:
    doc = httpx.get(f"{api.base}/openapi.json").json()
    secured = [(m, p) for p, ops in doc["paths"].items() for m, op in ops.items() if op.get("security")]
    assert len(secured) >= 20
    for method, path in secured:
        for headers in ({}, bearer("not-a-token-anyone-was-given"), bearer(EXPIRED)):
            # A valid body, so that only the token can be the reason for the refusal.
            r = httpx.request(method, api.base + _fill(path), headers=headers, json={}, timeout=5)
            assert r.status_code == 401, (method, path, headers, r.status_code)
            assert r.headers["www-authenticate"] == "Bearer"
    assert httpx.get(f"{api.base}/api/v1/notices", headers=bearer(OPERATOR)).status_code == 200  # the control


def test_an_expiry_takes_effect_at_its_instant() -> None:
    table = TokenTable({"a-token-of-sixteen-chars": "responder:anna;expires=2026-03-01T06:00:00Z"})
    at = int(datetime.datetime(2026, 3, 1, 6, tzinfo=datetime.UTC).timestamp() * 1000)
    who = table.lookup("a-token-of-sixteen-chars", now_ms=at - 1)
    assert who is not None and who.responder_id == "anna" and who.expires_ms == at
    assert table.lookup("a-token-of-sixteen-chars", now_ms=at) is None
    assert TokenTable({"a-token-of-sixteen-chars": "operator"}).lookup("a-token-of-sixteen-chars", 1 << 62)


@pytest.mark.parametrize(
    "grant",
    [
        "operator;expires=2026-03-01T06:00:00",  # no zone: ambiguous
        "operator;expires=soon",
        "operator;until=2026-03-01T06:00:00Z",
        "responder;expires=2026-03-01T06:00:00Z",
    ],
)
def test_a_malformed_grant_is_refused_at_start(grant: str) -> None:
    with pytest.raises(ValueError, match=r"grant|expiry"):
        TokenTable({"a-token-of-sixteen-chars": grant})


def test_a_responder_sees_and_acts_on_only_what_was_offered_to_them(api: Api) -> None:
    annas = api.alarm(1, ANNA_GW)
    bens = api.alarm(2, BEN_GW)
    with httpx.Client(base_url=api.base, timeout=5) as http:
        inc = http.get(f"/api/v1/incidents/{annas}", headers=bearer(OPERATOR)).json()
        assert inc["offered_to"] == ["anna"], "the set-up must offer it to anna alone"
        listed = [i["id"] for i in http.get("/api/v1/incidents", headers=bearer(BEN)).json()]
        assert bens in listed and annas not in listed
        assert http.get(f"/api/v1/incidents/{annas}", headers=bearer(BEN)).status_code == 404
        # Ids are device-counter, easy to guess: knowing one must not let ben take the incident over.
        for action, body in (("accept", {"eta_min": 2}), ("decline", None), ("on-the-way", None), ("seen", None)):
            r = http.post(f"/api/v1/incidents/{annas}/{action}", json=body, headers=bearer(BEN))
            assert r.status_code == 404, (action, r.status_code, r.text)
        assert http.post(f"/api/v1/incidents/{annas}/resolve", json={}, headers=bearer(BEN)).status_code == 403
        after = http.get(f"/api/v1/incidents/{annas}", headers=bearer(OPERATOR)).json()
        assert after["accepted_by"] == [] and after["declined_by"] == [] and after["state"] == inc["state"]
        # What is offered works: anna accepts her own.
        r = http.post(f"/api/v1/incidents/{annas}/accept", json={"eta_min": 2}, headers=bearer(ANNA))
        assert r.status_code == 200 and r.json()["you_accepted"]
        assert "device_id" not in r.json() and "offered_to" not in r.json()
        # And resolves it, which frees her for the next alarm (the tests below rely on it).
        assert http.post(f"/api/v1/incidents/{annas}/resolve", json={}, headers=bearer(ANNA)).status_code == 200


def test_acts_on_an_ended_incident_answer_409_and_write_nothing(api: Api) -> None:
    annas = api.alarm(7, ANNA_GW)
    with httpx.Client(base_url=api.base, timeout=5) as http:
        assert http.post(f"/api/v1/incidents/{annas}/decline", headers=bearer(ANNA)).status_code == 200
        # Declined, then changed her mind: not hers any more until an operator offers it again.
        r = http.post(f"/api/v1/incidents/{annas}/accept", json={"eta_min": 3}, headers=bearer(ANNA))
        assert r.status_code == 409, r.text
        assert http.post(f"/api/v1/incidents/{annas}/resolve", json={}, headers=bearer(OPERATOR)).status_code == 200
        before = http.get(f"/api/v1/incidents/{annas}", headers=bearer(OPERATOR)).json()
        for action in ("decline", "on-the-way"):
            r = http.post(f"/api/v1/incidents/{annas}/{action}", headers=bearer(ANNA))
            assert r.status_code == 409, (action, r.status_code, r.text)
        for action, body in (("escalate", None), ("assign", {"responder": "ben"}), ("resolve", {})):
            r = http.post(f"/api/v1/incidents/{annas}/{action}", json=body, headers=bearer(OPERATOR))
            assert r.status_code == 409, (action, r.status_code, r.text)
        assert http.get(f"/api/v1/incidents/{annas}", headers=bearer(OPERATOR)).json() == before


def test_no_one_but_an_operator_reads_a_responders_position(api: Api) -> None:
    api.alarm(3, BEN_GW)
    with httpx.Client(base_url=api.base, timeout=5) as http:
        assert http.get("/api/v1/responders", headers=bearer(BEN)).status_code == 403
        assert str(ANNA_AT[0]) in http.get("/api/v1/responders", headers=bearer(OPERATOR)).text  # the control
        doc = http.get("/openapi.json").json()
        gets = [p for p, ops in doc["paths"].items() if "get" in ops and "{" not in p and p != "/api/v1/stream"]
        for token in (BEN, ANNA, PROVISION):
            for path in gets:
                text = http.get(path, headers=bearer(token)).text
                assert str(ANNA_AT[0]) not in text and str(BEN_AT[0]) not in text, (token, path)


def test_the_provisioning_role_sees_no_incident(api: Api) -> None:
    with httpx.Client(base_url=api.base, timeout=5) as http:
        for path in ("/api/v1/incidents", "/api/v1/incidents/1-1", "/api/v1/stream", "/api/v1/notices"):
            assert http.get(path, headers=bearer(PROVISION)).status_code == 403, path


@asynccontextmanager
async def _events(base: str, token: str) -> AsyncIterator[asyncio.Queue[tuple[str, dict[str, Any]] | None]]:
    """An SSE reader: (event, data) pairs in a queue, None when the server ends the stream."""
    queue: asyncio.Queue[tuple[str, dict[str, Any]] | None] = asyncio.Queue()
    opened = asyncio.Event()

    async def read() -> None:
        async with (
            httpx.AsyncClient(base_url=base, timeout=None) as client,
            client.stream("GET", "/api/v1/stream", headers=bearer(token)) as resp,
        ):
            assert resp.status_code == 200
            opened.set()
            event = ""
            async for line in resp.aiter_lines():
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    await queue.put((event, json.loads(line[5:])))
        await queue.put(None)

    task = asyncio.create_task(read())
    await asyncio.wait_for(opened.wait(), 5)
    try:
        yield queue
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def test_a_responders_stream_carries_only_their_incidents(api: Api) -> None:
    async def go() -> None:
        async with _events(api.base, BEN) as ben, _events(api.base, OPERATOR) as op:
            await _subscribed(api, 2)
            annas = await asyncio.to_thread(api.alarm, 4, ANNA_GW)
            offered = httpx.get(f"{api.base}/api/v1/incidents/{annas}", headers=bearer(OPERATOR)).json()["offered_to"]
            assert offered == ["anna"], "the set-up must offer it to anna alone"
            bens = await asyncio.to_thread(api.alarm, 5, BEN_GW)
            # The stream is ordered: ben's first incident event being his own means anna's was withheld.
            first = await asyncio.wait_for(ben.get(), 5)
            assert first is not None and first[0] == "incident" and first[1]["id"] == bens
            assert "device_id" not in first[1]
            seen_by_operator = {(await asyncio.wait_for(op.get(), 5) or ("", {}))[1].get("id") for _ in range(2)}
            assert seen_by_operator == {annas, bens}

    asyncio.run(go())


def test_a_stream_ends_when_its_token_expires(api: Api) -> None:
    short = "roles-ben-for-one-second-0"
    expires = time.time() + 1.0
    api.tokens.add(short, f"responder:ben;expires={_iso(expires)}")

    async def go() -> None:
        async with _events(api.base, short) as expiring, _events(api.base, BEN) as lasting:
            await _subscribed(api, 2)
            await asyncio.sleep(max(0.0, expires - time.time()) + 0.05)
            bens = await asyncio.to_thread(api.alarm, 6, BEN_GW)
            got = await asyncio.wait_for(lasting.get(), 5)
            assert got is not None and got[1]["id"] == bens  # the control: ben may see it, with a valid token
            assert await asyncio.wait_for(expiring.get(), 5) is None  # ended, the incident not sent
        r = httpx.get(f"{api.base}/api/v1/stream", headers=bearer(short), timeout=5)
        assert r.status_code == 401

    asyncio.run(go())


async def _subscribed(api: Api, n: int) -> None:
    deadline = time.monotonic() + 5
    while api.d.bus.subscribers < n:
        assert time.monotonic() < deadline, "streams did not subscribe"
        await asyncio.sleep(0.01)


def test_a_shift_the_clock_cannot_read_is_refused(api: Api) -> None:
    with httpx.Client(base_url=api.base, timeout=5) as http:
        for shift in ("25:00-06:00", "22:00-06:61", "\u0662\u0662:\u0660\u0660-\u0660\u0666:\u0660\u0660"):
            r = http.put("/api/v1/responders/carl", json={"name": "Carl", "shift": shift}, headers=bearer(OPERATOR))
            assert r.status_code == 422, shift
        ok = http.put(
            "/api/v1/responders/carl", json={"name": "Carl", "shift": "22:00-06:00"}, headers=bearer(OPERATOR)
        )
        assert ok.status_code == 200


def test_json_false_is_not_a_number(api: Api) -> None:
    with httpx.Client(base_url=api.base, timeout=5) as http:
        r = http.post("/api/v1/devices", json={"device_id": False, "root_key": "00" * 16}, headers=bearer(OPERATOR))
        assert r.status_code == 422
        r = http.put("/api/v1/me/duty", json={"on_duty": True, "lat": 52.1, "lon": False}, headers=bearer(BEN))
        assert r.status_code == 422
