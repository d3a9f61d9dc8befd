"""The monitoring centre and the hand-over to 112, through the real app on SQLite with its clock and notifier
running, and the centre a real local HTTP endpoint checking each webhook's signature:

- an operator hands over an incident in any state (escort and duress included) with POST .../handover: the script
  comes back, the incident's log and the notices say who did it, and the centre is sent the same script and fields;
- bad input is refused (no token, a responder's or a provisioner's token, an unknown incident);
- by themselves, without an operator: an SOS nobody accepts within ``escalate_after_s``, and any duress at once."""

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from basestation.dispatch.api.auth import TokenTable
from basestation.dispatch.io import webhook
from basestation.dispatch.service import Dispatcher
from basestation.dispatch.settings import DispatchSettings
from harness.ports import free_port
from protocol.constants import EVENT_DURESS, EVENT_ESCORT, EVENT_SOS
from tests.dispatch.conftest import bearer, running, until
from tests.dispatch.world import GATEWAYS, World, envelope, topic

SECRET = "centre-secret-0123456789"
MIRA = "centre-mira-operator-token"  # a named operator
OPERATOR = "centre-plain-operator-token"
ANNA = "centre-anna-responder-token"
PROVISION = "centre-provision-token-000"
# Three of the night patrol, each by a gateway; alarms are heard by the Breestraat's, so Anna is offered them first.
PATROL = {
    "anna": ("Anna de Vries", ANNA, GATEWAYS["gw-breestraat"]),
    "ben": ("Ben Okafor", "centre-ben-responder-token0", GATEWAYS["gw-lammermarkt"]),
    "chloe": ("Chloé Martin", "centre-chloe-responder-tok", GATEWAYS["gw-centraal"]),
}
ANNA_AT = PATROL["anna"][2]


class Centre:
    """The monitoring centre: real HTTP, every webhook's signature verified as a receiver must."""

    def __init__(self) -> None:
        self.port = free_port()
        self.hooks: list[tuple[float, dict[str, Any]]] = []  # (monotonic time received, body)
        self.forged = 0
        app = Starlette(routes=[Route("/centre", self.hook, methods=["POST"])])
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/centre"

    async def hook(self, request: Request) -> Response:
        body = await request.body()
        if not webhook.verify(SECRET.encode(), body, request.headers.get(webhook.SIGNATURE_HEADER, "")):
            self.forged += 1
            return Response(status_code=401)
        self.hooks.append((time.monotonic(), json.loads(body)))
        return Response(status_code=200)

    def events(self, event: str, incident_id: str) -> list[dict[str, Any]]:
        key = "incident_id" if event == "handover_112" else "id"
        return [b["data"] for _, b in self.hooks if b["event"] == event and b["data"][key] == incident_id]


@dataclass
class Desk:
    d: Dispatcher
    http: httpx.AsyncClient
    world: World
    centre: Centre | None

    async def alarm(self, device_id: int, event: int = EVENT_SOS, **fields: int) -> str:
        """A frame from a ring heard by the Breestraat gateway now; the id of the incident it opens or changes."""
        if device_id not in self.world.roots:
            self.world.ring(device_id)
            body = {"device_id": device_id, "root_key": self.world.roots[device_id].hex()}
            assert (await self.http.post("/api/v1/devices", json=body, headers=bearer(PROVISION))).status_code == 201
        frame, counter = self.world.frame(device_id, event, **fields)
        gw = "gw-breestraat"
        await self.d.on_uplink(topic(gw), envelope(frame, gw, int(time.time() * 1000), rssi=-70))
        return f"{device_id}-{counter}"

    async def accept(self, incident_id: str, eta_min: int = 0) -> str:
        """The responder it is offered to first accepts it; returns who."""
        rid = self.d.state.incidents[incident_id].offered_to[0]
        body = {"eta_min": eta_min}
        r = await self.http.post(f"/api/v1/incidents/{incident_id}/accept", json=body, headers=bearer(PATROL[rid][1]))
        assert r.status_code == 200, r.text
        return rid

    async def hand_over(self, incident_id: str, token: str = MIRA) -> httpx.Response:
        return await self.http.post(f"/api/v1/incidents/{incident_id}/handover", headers=bearer(token))


@asynccontextmanager
async def desk(tmp_path: Path, centre: bool = True, on_duty: bool = True, **settings: Any) -> AsyncIterator[Desk]:
    """The service on a fresh SQLite database with the patrol on duty (or not), and the centre listening."""
    rx = Centre() if centre else None
    serve = asyncio.create_task(rx.server.serve()) if rx else None
    while rx is not None and not rx.server.started:
        await asyncio.sleep(0.01)
    tokens = {MIRA: "operator:mira", OPERATOR: "operator", PROVISION: "provisioning"}
    tokens |= {token: f"responder:{rid}" for rid, (_, token, _) in PATROL.items()}
    service = DispatchSettings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'd.db'}",
        tokens=tokens,
        escalation_webhook={"url": rx.url, "secret": SECRET} if rx else None,
        tick_s=0.1,
        **settings,
    )
    try:
        async with running(service) as svc:
            d, app, http = svc.dispatcher, svc.app, svc.http
            if app.state.notifier is not None:
                app.state.notifier.backoff_s = (0.0, 0.05)
            for gw, (lat, lon) in GATEWAYS.items():
                r = await http.put(f"/api/v1/gateways/{gw}", json={"lat": lat, "lon": lon}, headers=bearer(OPERATOR))
                assert r.status_code == 200, r.text
            for rid, (name, token, (lat, lon)) in PATROL.items():
                body = {"name": name, "skills": ["patrol", "first_aid"]}
                assert (await http.put(f"/api/v1/responders/{rid}", json=body, headers=bearer(OPERATOR))).is_success
                duty = {"on_duty": on_duty, "lat": lat, "lon": lon}
                assert (await http.put("/api/v1/me/duty", json=duty, headers=bearer(token))).status_code == 200
            yield Desk(d, http, World(), rx)
    finally:
        if rx is not None and serve is not None:
            assert rx.forged == 0
            rx.server.should_exit = True
            await serve


def test_an_accepted_incident_is_handed_over_logged_with_the_operator_and_sent_to_the_centre(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with desk(tmp_path) as w:
            assert w.centre is not None
            inc = await w.alarm(7)
            assert await w.accept(inc, eta_min=4) == "anna"
            before = w.d.state.incidents[inc].to_dict()

            r = await w.hand_over(inc)
            assert r.status_code == 200, r.text
            out = r.json()
            assert out["incident_id"] == inc and out["handed_over_by"] == "operator:mira"
            assert out["monitoring_centre"] == "queued"
            assert "On the way: Anna de Vries, expected in about 4 minutes." in out["script"]["en"].splitlines()
            assert "Onderweg: Anna de Vries, verwacht over ongeveer 4 minuten." in out["script"]["nl"].splitlines()
            f = out["fields"]
            assert (f["kind"], f["state"], f["eta_min"]) == ("sos", "accepted", 4)
            assert f["responders"] == [{"id": "anna", "name": "Anna de Vries"}]
            assert f["location"]["radius_m"] > 0 and abs(f["location"]["lat"] - ANNA_AT[0]) < 0.01
            assert f["opened_local"].endswith(("+01:00", "+02:00")) and f["timezone"] == "Europe/Amsterdam"

            # Logged with who and when; every operator sees a notice; the incident itself is as it was.
            doc = (await w.http.get(f"/api/v1/incidents/{inc}", headers=bearer(OPERATOR))).json()
            logged = [e for e in doc["events"] if e["kind"] == "handed_to_112"]
            assert len(logged) == 1 and logged[0]["at_ms"] == out["handed_over_ms"]
            assert logged[0]["data"]["operator"] == "mira" and logged[0]["data"]["monitoring_centre"] is True
            assert logged[0]["data"]["fields"] == f
            notices = (await w.http.get("/api/v1/notices", headers=bearer(OPERATOR))).json()
            assert {"kind": "handed_to_112", "subject": inc, "by": "operator", "operator": "mira"}.items() <= next(
                n for n in notices if n["kind"] == "handed_to_112"
            ).items()
            assert w.d.state.incidents[inc].to_dict() == before

            # The centre gets the same script and fields, signed; a second hand-over is sent again.
            await until(lambda: w.centre is not None and w.centre.events("handover_112", inc))
            sent = w.centre.events("handover_112", inc)[0]
            assert sent["script"] == out["script"] and sent["fields"] == f
            assert sent["handed_over_by"] == "operator:mira"
            assert (await w.hand_over(inc, OPERATOR)).json()["handed_over_by"] == "operator"
            await until(lambda: w.centre is not None and len(w.centre.events("handover_112", inc)) == 2)

    asyncio.run(scenario())


def test_every_state_and_kind_can_be_handed_over(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with desk(tmp_path) as w:
            op = bearer(OPERATOR)
            # Nobody is engaged until the last three: each accept takes one of the three out of the next offers.
            offered = await w.alarm(1)
            escalated = await w.alarm(4)
            assert (await w.http.post(f"/api/v1/incidents/{escalated}/escalate", headers=op)).status_code == 200
            resolved = await w.alarm(5)
            assert (await w.http.post(f"/api/v1/incidents/{resolved}/resolve", json={}, headers=op)).status_code == 200
            escort = await w.alarm(6, EVENT_ESCORT)
            accepted = await w.alarm(2)
            await w.accept(accepted)
            on_the_way = await w.alarm(3)
            rid = await w.accept(on_the_way, eta_min=2)
            r = await w.http.post(f"/api/v1/incidents/{on_the_way}/on-the-way", headers=bearer(PATROL[rid][1]))
            assert r.status_code == 200, r.text
            accepted_escort = await w.alarm(8, EVENT_ESCORT)
            await w.accept(accepted_escort)
            await w.alarm(8, EVENT_DURESS, aux=1)  # the wearer of an accepted escort, forced to cancel it
            expected = {
                offered: ("sos", "offered"),
                accepted: ("sos", "accepted"),
                on_the_way: ("sos", "on_the_way"),
                escalated: ("sos", "escalated"),
                resolved: ("sos", "resolved"),
                escort: ("escort", "offered"),
                accepted_escort: ("duress", "accepted"),
            }
            for inc, (kind, state) in expected.items():
                r = await w.hand_over(inc)
                assert r.status_code == 200, (inc, r.text)
                assert (r.json()["fields"]["kind"], r.json()["fields"]["state"]) == (kind, state), inc
            duress = (await w.hand_over(accepted_escort)).json()["script"]["en"]
            assert "What: alarm under duress" in duress and "first reported as: request to be walked home" in duress
            # An ended incident is no longer in memory after a restart: it is handed over from the database.
            del w.d.state.incidents[resolved]
            r = await w.hand_over(resolved)
            assert r.status_code == 200 and r.json()["fields"]["state"] == "resolved"
            logged = (await w.http.get(f"/api/v1/incidents/{resolved}", headers=op)).json()["events"]
            assert [e["kind"] for e in logged].count("handed_to_112") == 2
            await until(lambda: w.centre is not None and len(w.centre.events("handover_112", resolved)) == 2)

    asyncio.run(scenario())


def test_a_handover_refuses_bad_input(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with desk(tmp_path, centre=False) as w:
            inc = await w.alarm(9)
            assert (await w.http.post(f"/api/v1/incidents/{inc}/handover")).status_code == 401
            assert (await w.hand_over(inc, "not-a-token-anyone-was-given")).status_code == 401
            r = await w.hand_over(inc, ANNA)  # offered to Anna, and still no responder's to hand over
            assert r.status_code == 403 and r.json() == {"detail": "needs role operator"}
            assert (await w.hand_over(inc, PROVISION)).status_code == 403
            for unknown in ("9-99", "nothing", "x" * 300):
                r = await w.hand_over(unknown)
                assert r.status_code == 404 and r.json() == {"detail": "no such incident"}, unknown
            assert [e["kind"] for e in await w.d.store.incident_events(inc)].count("handed_to_112") == 0
            # Without a monitoring centre the hand-over is recorded all the same, and says the centre was not told.
            r = await w.hand_over(inc)
            assert r.status_code == 200 and r.json()["monitoring_centre"] == "not_configured"
            logged = [e for e in await w.d.store.incident_events(inc) if e["kind"] == "handed_to_112"]
            assert len(logged) == 1 and logged[0]["data"]["monitoring_centre"] is False

            doc = (await w.http.get("/openapi.json")).json()
            op = doc["paths"]["/api/v1/incidents/{incident_id}/handover"]["post"]
            assert {"200", "401", "403", "404"} <= set(op["responses"])
            ok = op["responses"]["200"]["content"]["application/json"]["schema"]
            assert ok == {"$ref": "#/components/schemas/HandoverOut"}
            out = doc["components"]["schemas"]["HandoverOut"]
            assert {"script", "fields", "handed_over_by", "handed_over_ms", "monitoring_centre"} <= set(out["required"])

    asyncio.run(scenario())


def test_an_sos_nobody_accepts_reaches_the_centre_by_itself_after_escalate_after_s(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with desk(tmp_path, broadcast_after_s=0.3, escalate_after_s=1.0) as w:
            assert w.centre is not None
            t0 = time.monotonic()
            inc = await w.alarm(11)
            assert w.d.state.incidents[inc].offered_to == ["anna"]  # offered, and Anna does not answer
            await until(lambda: w.centre is not None and w.centre.events("escalation", inc), timeout=6)
            at, body = next((at, b) for at, b in w.centre.hooks if b["event"] == "escalation")
            assert at - t0 >= 0.9, "escalated before escalate_after_s"
            data = body["data"]
            assert data["id"] == inc and data["kind"] == "sos" and data["state"] == "escalated"
            assert data["text"]["en"]["title"] == "Emergency alarm"
            # The script for 112 comes with it, so the centre can hand over without asking.
            assert "What: emergency alarm (SOS)." in data["handover"]["script"]["en"]
            assert "Wat: noodoproep (SOS)." in data["handover"]["script"]["nl"]
            # An escort nobody takes is the operators' to sort out, not the centre's.
            escort = await w.alarm(12, EVENT_ESCORT)
            await until(lambda: w.d.state.incidents[escort].escalation >= 2, timeout=6)
            await asyncio.sleep(0.3)
            assert w.centre.events("escalation", escort) == []

    asyncio.run(scenario())


def test_an_sos_nobody_can_take_reaches_the_centre_at_once(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with desk(tmp_path, on_duty=False, escalate_after_s=3600.0) as w:
            assert w.centre is not None
            inc = await w.alarm(31)
            await until(partial(w.centre.events, "escalation", inc), timeout=2)
            data = w.centre.events("escalation", inc)[0]
            assert data["unavailable"] is True and data["state"] == "escalated"
            assert "On the way: nobody from the patrol." in data["handover"]["script"]["en"].splitlines()

    asyncio.run(scenario())


def test_a_duress_reaches_the_centre_at_once_whatever_was_pressed(tmp_path: Path) -> None:
    async def scenario() -> None:
        # The clock's escalation is far off: only the duress itself can send these.
        async with desk(tmp_path, escalate_after_s=3600.0) as w:
            assert w.centre is not None
            sos = await w.alarm(21)
            await w.accept(sos, eta_min=3)
            escort = await w.alarm(22, EVENT_ESCORT)
            assert w.centre.events("escalation", sos) == [] and w.centre.events("escalation", escort) == []
            for device_id, inc in ((21, sos), (22, escort)):
                t0 = time.monotonic()
                assert await w.alarm(device_id, EVENT_DURESS, aux=1) == f"{device_id}-2"
                await until(partial(w.centre.events, "escalation", inc), timeout=2)
                assert time.monotonic() - t0 < 1.5
                data = w.centre.events("escalation", inc)[0]
                assert data["forced"] is True and data["escalation"] == 2
                assert "What: alarm under duress" in data["handover"]["script"]["en"]
            accepted = w.centre.events("escalation", sos)[0]
            assert accepted["state"] == "accepted" and accepted["handover"]["fields"]["eta_min"] == 3

    asyncio.run(scenario())


def test_an_operator_grant_may_name_the_operator() -> None:
    token = "a-token-of-sixteen-chars"
    who = TokenTable({token: "operator:mira"}).lookup(token)
    assert who is not None and (who.role, who.operator, who.responder_id) == ("operator", "mira", None)
    who = TokenTable({token: "operator"}).lookup(token)
    assert who is not None and who.operator is None
    for grant in ("provisioning:x", "responder", "responder:", "operators:mira"):
        with pytest.raises(ValueError, match="grant"):
            TokenTable({token: grant})
