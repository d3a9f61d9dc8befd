"""The telephony and SMS hook's endpoint (docs/hooks.md) on the real app and a real SQLite database, fed by a fake
provider that signs as a real one would: a text message that reaches the patrol, a delivery sent twice, every
refusal with what the caller is told, and the hook switched off."""

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from basestation.dispatch.api.hook import STALE_CLAIM_MS, HookDeliveries
from basestation.dispatch.core import hook_signature as sig
from basestation.dispatch.service import Dispatcher
from basestation.dispatch.settings import DispatchSettings
from tests.dispatch.conftest import bearer, running

SECRET = "hook-secret-2026-new-0123456789"
OLD_SECRET = "hook-secret-2025-old-9876543210"
WRONG = "not-the-hook-secret-0123456789"
OP, ANNA = "operator-token-hook-0123456789", "anna-token-hook-0123456789"
PATROL = "+31 71 555 0100"


# -- the endpoint --------------------------------------------------------------------------------------------------


class FakeProvider:
    """What an SMS provider or a PBX does: sign the exact bytes it sends with the shared secret, and post them."""

    def __init__(self, http: httpx.AsyncClient, secret: str = SECRET, source: str = "sms") -> None:
        self.http = http
        self.secret = secret
        self.source = source
        self.sent = 0

    def message(self, **fields: Any) -> dict[str, Any]:
        self.sent += 1
        return {"source": self.source, "from": "06 1234 5678", "id": f"{self.source}-{self.sent:04d}", **fields}

    async def post(
        self, doc: dict[str, Any] | bytes, *, t: int | None = None, header: str | None = None
    ) -> httpx.Response:
        raw = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
        headers = {"Content-Type": "application/json"}
        signed = sig.sign(self.secret, raw, t) if header is None else header
        if signed:
            headers[sig.SIGNATURE_HEADER] = signed
        return await self.http.post("/api/v1/hooks/request", content=raw, headers=headers)


Scenario = Callable[[Dispatcher, httpx.AsyncClient, FakeProvider], Any]


def _serve(tmp_path: Path, scenario: Scenario, **settings: Any) -> None:
    s = DispatchSettings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'd.db'}",
        tokens={OP: "operator:mira", ANNA: "responder:anna"},
        patrol_phone=PATROL,
        **{"walk_hours": "", "hook_secrets": [SECRET, OLD_SECRET], **settings},
    )

    async def run() -> None:
        async with running(s, client=("198.51.100.9", 40000)) as svc:
            await scenario(svc.dispatcher, svc.http, FakeProvider(svc.http))

    asyncio.run(run())


async def _anna_on_duty(http: httpx.AsyncClient) -> None:
    r = await http.put(
        "/api/v1/responders/anna", json={"name": "Anna de Vries", "skills": ["patrol"]}, headers=bearer(OP)
    )
    assert r.status_code == 200
    r = await http.put("/api/v1/me/duty", json={"on_duty": True, "lat": 52.1575, "lon": 4.4856}, headers=bearer(ANNA))
    assert r.status_code == 200


async def _refusals(http: httpx.AsyncClient) -> str:
    return (await http.get("/metrics")).text


def test_a_text_message_reaches_the_patrol_and_only_the_accepter_sees_the_number(tmp_path: Path) -> None:
    async def scenario(d: Dispatcher, http: httpx.AsyncClient, sms: FakeProvider) -> None:
        await _anna_on_duty(http)
        # No place at all: the caller may not know, and the operators place it.
        r = await sms.post(sms.message(text="Kan iemand met me meelopen naar huis?"))
        assert r.status_code == 201, r.text
        answer = r.json()
        ref = answer["reference"]
        assert set(answer) == {"reference", "status", "message"} and answer["status"] == "looking"
        assert answer["message"].startswith(f"Nightwatch: verzoek {ref} ontvangen") and "112" in answer["message"]

        (inc,) = d.state.incidents.values()
        assert inc.kind.value == "escort" and inc.source == "sms" and inc.offered_to == ["anna"]
        assert inc.lat is None and inc.address is None and inc.notes == "Kan iemand met me meelopen naar huis?"
        offered = (await http.get(f"/api/v1/incidents/{inc.id}", headers=bearer(ANNA))).json()
        assert offered["source"] == "sms" and "callback_number" not in offered
        r = await http.post(f"/api/v1/incidents/{inc.id}/accept", json={"eta_min": 4}, headers=bearer(ANNA))
        assert r.status_code == 200 and r.json()["callback_number"] == "+31612345678"

        events = (await http.get(f"/api/v1/incidents/{inc.id}", headers=bearer(OP))).json()["events"]
        assert events[0]["data"] == {"kind": "escort", "source": "sms", "request": "escort", "by": "caller"}

    _serve(tmp_path, scenario)


def test_a_call_from_a_pbx_with_a_place_and_a_destination_in_english(tmp_path: Path) -> None:
    async def scenario(d: Dispatcher, http: httpx.AsyncClient, sms: FakeProvider) -> None:
        await _anna_on_duty(http)
        pbx = FakeProvider(http, OLD_SECRET, "telephony")  # still on the secret being rotated out
        doc = pbx.message(
            kind="worried", name="Sam", where="Breestraat 50", lat=52.1590, lon=4.4870, destination="Station", lang="en"
        )
        r = await pbx.post(doc)
        assert r.status_code == 201, r.text
        assert r.json()["message"] == (
            f"Nightwatch: request {r.json()['reference']} received, a patrol member will call you."
            " In an emergency call 112."
        )
        (inc,) = d.state.incidents.values()
        assert inc.source == "telephony" and inc.kind.value == "worried" and inc.caller_name == "Sam"
        assert (inc.lat, inc.lon, inc.address, inc.destination) == (52.1590, 4.4870, "Breestraat 50", "Station")

    _serve(tmp_path, scenario)


def test_a_delivery_sent_again_opens_nothing_and_answers_the_same_reference(tmp_path: Path) -> None:
    async def scenario(d: Dispatcher, http: httpx.AsyncClient, sms: FakeProvider) -> None:
        doc = sms.message(text="walk me home please", lang="en")
        first = await sms.post(doc)
        assert first.status_code == 201, first.text
        # The provider did not hear the answer and sends it again, later and signed anew.
        again = await sms.post(doc, t=int(time.time()) + 5)
        assert again.status_code == 200 and again.json() == first.json()
        assert len(d.state.incidents) == 1
        # Another message from the same number while the first is open is the page's 409, told to the caller.
        r = await sms.post(sms.message(lang="en"))
        assert r.status_code == 409 and r.json()["detail"].startswith("open:")
        assert r.json()["message"].startswith("Nightwatch: a request for this number is still open")
        assert PATROL in r.json()["message"] and len(d.state.incidents) == 1
        # The same id from the other kind of sender is another delivery.
        pbx = FakeProvider(http, SECRET, "telephony")
        assert (await pbx.post({**doc, "source": "telephony", "from": "0687654321"})).status_code == 201
        assert len(d.state.incidents) == 2

    _serve(tmp_path, scenario)


def test_a_delivery_is_remembered_across_a_restart(tmp_path: Path) -> None:
    doc = {"source": "sms", "from": "+31 6 1234 5678", "id": "provider-msg-7f3a"}
    refs: list[str] = []

    async def first(d: Dispatcher, http: httpx.AsyncClient, sms: FakeProvider) -> None:
        r = await sms.post(doc)
        assert r.status_code == 201
        refs.append(r.json()["reference"])

    async def second(d: Dispatcher, http: httpx.AsyncClient, sms: FakeProvider) -> None:
        r = await sms.post(doc)
        assert r.status_code == 200 and r.json()["reference"] == refs[0]
        assert sum(1 for i in d.state.incidents.values() if i.source == "sms") == 1

    _serve(tmp_path, first)
    _serve(tmp_path, second)


def test_a_refused_delivery_is_judged_again_when_sent_again(tmp_path: Path) -> None:
    async def scenario(d: Dispatcher, http: httpx.AsyncClient, sms: FakeProvider) -> None:
        doc = sms.message()
        assert (await sms.post(doc)).status_code == 409  # closed
        assert (await http.put("/api/v1/walk/override", json={"state": "open"}, headers=bearer(OP))).status_code == 200
        assert (await sms.post(doc)).status_code == 201

    _serve(tmp_path, scenario, walk_hours=_hours_not_now())


def test_a_blocked_number_is_refused_with_a_message(tmp_path: Path) -> None:
    async def scenario(d: Dispatcher, http: httpx.AsyncClient, sms: FakeProvider) -> None:
        assert (await http.put("/api/v1/blocked-numbers/0612345678", json={}, headers=bearer(OP))).status_code == 200
        r = await sms.post(sms.message(**{"from": "+31612345678"}))
        assert r.status_code == 403 and r.json()["detail"].startswith("blocked:")
        assert (
            r.json()["message"]
            == "Nightwatch: met dit nummer kunt u hier niet om begeleiding vragen. Bij nood: bel 112."
        )
        assert not d.state.incidents
        assert 'nightwatch_walk_refused_total{why="blocked"} 1.0\n' in await _refusals(http)

    _serve(tmp_path, scenario)


def _hours_not_now() -> str:
    """A one-hour window starting two hours from now on Amsterdam's wall clock."""
    from datetime import UTC, datetime, timedelta
    from zoneinfo import ZoneInfo

    start = datetime.now(UTC).astimezone(ZoneInfo("Europe/Amsterdam")) + timedelta(hours=2)
    return f"{start:%H}:00-{(start + timedelta(hours=1)):%H}:00"


def test_outside_the_hours_the_caller_is_told_whom_to_call(tmp_path: Path) -> None:
    hours = _hours_not_now()

    async def scenario(d: Dispatcher, http: httpx.AsyncClient, sms: FakeProvider) -> None:
        r = await sms.post(sms.message(lang="en"))
        assert r.status_code == 409 and r.json()["detail"].startswith("closed:")
        assert r.json()["message"] == (
            f"Nightwatch: the patrol is not taking requests now (hours {hours}). Call {PATROL}; in an emergency"
            " call 112."
        )
        nl = (await sms.post(sms.message())).json()["message"]
        assert f"(tijden {hours})" in nl and PATROL in nl and "bel 112" in nl
        assert not d.state.incidents

    _serve(tmp_path, scenario, walk_hours=hours)


def test_the_limit_per_number_holds_through_the_hook(tmp_path: Path) -> None:
    async def scenario(d: Dispatcher, http: httpx.AsyncClient, sms: FakeProvider) -> None:
        assert (await sms.post(sms.message())).status_code == 201
        r = await sms.post(sms.message(**{"from": "0031612345678"}))  # the same number, spelled otherwise
        assert r.status_code == 429 and r.headers["retry-after"]
        assert r.json()["message"].startswith("Nightwatch: te veel verzoeken") and PATROL in r.json()["message"]
        # No limit per address: every delivery comes from the provider's one address.
        for n in ("0611111111", "0622222222"):
            assert (await sms.post(sms.message(**{"from": n}))).status_code == 201
        assert len(d.state.incidents) == 3
        assert 'nightwatch_walk_refused_total{why="limit"} 1.0\n' in await _refusals(http)

    _serve(tmp_path, scenario, walk_per_phone_hour=1, walk_per_address_hour=1)


def test_a_bad_signature_is_a_401_with_the_reason_and_is_counted(tmp_path: Path) -> None:
    async def scenario(d: Dispatcher, http: httpx.AsyncClient, sms: FakeProvider) -> None:
        doc = sms.message()
        for header, reason in (
            ("", "no Nightwatch-Signature"),
            ("t=1,v1=00", "malformed"),
            (sig.sign(WRONG, json.dumps(doc).encode()), "no signature matches"),
            (sig.sign(SECRET, json.dumps(doc).encode(), int(time.time()) - 3600), "expired"),
        ):
            r = await sms.post(doc, header=header)
            assert r.status_code == 401 and reason in r.json()["detail"], (header, r.text)
            assert "message" not in r.json()
        # Signed, then changed on the way.
        raw = json.dumps(doc).encode()
        r = await sms.post(raw.replace(b"06 1234", b"06 9999"), header=sig.sign(SECRET, raw))
        assert r.status_code == 401
        assert not d.state.incidents
        assert 'nightwatch_walk_refused_total{why="signature"} 5.0\n' in await _refusals(http)
        assert (await sms.post(doc)).status_code == 201  # the control

    _serve(tmp_path, scenario)


def test_the_hook_is_off_without_a_secret(tmp_path: Path) -> None:
    async def scenario(d: Dispatcher, http: httpx.AsyncClient, sms: FakeProvider) -> None:
        assert (await sms.post(sms.message())).status_code == 404
        assert (await sms.post(sms.message(), header="")).status_code == 404
        assert not d.state.incidents

    _serve(tmp_path, scenario, hook_secrets=[])


def test_a_body_over_8_kib_is_refused_unread(tmp_path: Path) -> None:
    async def scenario(d: Dispatcher, http: httpx.AsyncClient, sms: FakeProvider) -> None:
        big = json.dumps(sms.message(text="x" * 1000, where="y" * 200, pad=" " * 8000)).encode()
        assert len(big) > 8192
        r = await sms.post(big)
        assert r.status_code == 413 and 'why="too_large"' in await _refusals(http)

        # Sent in chunks with no Content-Length, as a streaming sender does: cut off all the same.
        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(10):
                yield b" " * 1000

        r = await http.post("/api/v1/hooks/request", content=chunks(), headers={sig.SIGNATURE_HEADER: "t=1,v1=0"})
        assert r.status_code == 413
        assert not d.state.incidents

    _serve(tmp_path, scenario)


BAD: list[tuple[str, dict[str, Any] | bytes]] = [
    ("not JSON", b"source=sms&from=0612345678"),
    ("a JSON list", b"[]"),
    ("nested deeper than any parser goes", b"[" * 8000),
    ("no from", {"from": None}),
    ("no id", {"id": None}),
    ("no source", {"source": None}),
    ("an unknown source", {"source": "fax"}),
    ("an unknown kind", {"kind": "taxi"}),
    ("an unknown field", {"priority": "high"}),
    ("from as a number", {"from": 31612345678}),
    ("a blank id", {"id": "  "}),
    ("an id over 100", {"id": "x" * 101}),
    ("a text over 1000", {"text": "x" * 1001}),
    ("a where over 200", {"where": "x" * 201}),
    ("lat without lon", {"lat": 52.15}),
    ("lat out of range", {"lat": 95.0, "lon": 4.5}),
    ("lat as a string", {"lat": "52.15", "lon": 4.5}),
    ("an unknown language", {"lang": "de"}),
    ("a withheld number", {"from": "anonymous"}),
    ("too few digits", {"from": "0612"}),
]


@pytest.mark.parametrize(("why", "change"), BAD, ids=[b[0] for b in BAD])
def test_bad_fields_are_a_422_naming_them_and_open_nothing(
    tmp_path: Path, why: str, change: dict[str, Any] | bytes
) -> None:
    async def scenario(d: Dispatcher, http: httpx.AsyncClient, sms: FakeProvider) -> None:
        if isinstance(change, bytes):
            doc: dict[str, Any] | bytes = change
        else:
            doc = {k: v for k, v in {**sms.message(), **change}.items() if v is not None}
        r = await sms.post(doc)
        assert r.status_code == 422, (why, r.text)
        assert r.json()["detail"] and "Nightwatch:" in r.json()["message"]
        assert not d.state.incidents

    _serve(tmp_path, scenario)


def test_a_withheld_number_is_told_why_in_its_language(tmp_path: Path) -> None:
    async def scenario(d: Dispatcher, http: httpx.AsyncClient, sms: FakeProvider) -> None:
        r = await sms.post(sms.message(**{"from": "anonymous"}, lang="en"))
        assert r.status_code == 422 and r.json()["detail"].startswith("from:")
        assert r.json()["message"].startswith("Nightwatch: without your phone number we cannot call you back")

    _serve(tmp_path, scenario)


def test_the_route_is_in_the_openapi_document(tmp_path: Path) -> None:
    async def scenario(d: Dispatcher, http: httpx.AsyncClient, sms: FakeProvider) -> None:
        spec = (await http.get("/openapi.json")).json()
        op = spec["paths"]["/api/v1/hooks/request"]["post"]
        assert {"201", "200", "401", "403", "404", "409", "413", "422", "429"} <= set(op["responses"])
        assert op["parameters"][0]["name"] == "Nightwatch-Signature"
        props = op["requestBody"]["content"]["application/json"]["schema"]["properties"]
        assert {"source", "from", "kind", "name", "text", "where", "lat", "lon", "destination", "lang", "id"} == set(
            props
        )

    _serve(tmp_path, scenario)


def test_a_delivery_being_taken_is_a_503_and_a_stale_claim_is_taken_over(tmp_path: Path) -> None:
    async def scenario(d: Dispatcher, http: httpx.AsyncClient, sms: FakeProvider) -> None:
        deliveries = HookDeliveries(d.store, 86_400_000)
        now = int(time.time() * 1000)
        # Another replica took this delivery a moment ago and has not answered yet.
        assert await deliveries.claim("sms", "busy-1", now) == (True, None)
        assert await deliveries.claim("sms", "busy-1", now + 10) == (False, None)
        r = await sms.post({"source": "sms", "from": "0612345678", "id": "busy-1"})
        assert r.status_code == 503 and r.headers["retry-after"] and "112" in r.json()["message"]
        assert not d.state.incidents
        # One that died while taking it: after a minute the delivery is taken by whoever sends it next.
        assert await deliveries.claim("sms", "dead-1", now - STALE_CLAIM_MS - 1) == (True, None)
        r = await sms.post({"source": "sms", "from": "0612345678", "id": "dead-1"})
        assert r.status_code == 201 and len(d.state.incidents) == 1
        # Deliveries older than the retention are forgotten when the next one is claimed.
        assert await deliveries.claim("sms", "ancient", now - 2 * 86_400_000) == (True, None)
        await deliveries.settle("sms", "ancient", "AAA-AAA")
        assert await deliveries.claim("sms", "fresh", now) == (True, None)
        assert await deliveries.claim("sms", "ancient", now) == (True, None)

    _serve(tmp_path, scenario)
