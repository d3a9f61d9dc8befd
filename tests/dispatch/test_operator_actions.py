"""An operator's manual escalate and assign (pure over the state), and their endpoints with roles."""

from pathlib import Path

import httpx
import pytest

from basestation.dispatch.core import actions, operator_actions
from basestation.dispatch.core.effects import IncidentSnapshot
from basestation.dispatch.core.incidents import Event, Incident, Kind, State
from basestation.dispatch.service import Dispatcher
from basestation.dispatch.settings import DispatchSettings
from protocol.constants import EVENT_SOS
from tests.dispatch.conftest import serve
from tests.dispatch.world import T0, World, envelope, topic


def _incident(w: World, device_id: int = 7) -> str:
    frame, counter = w.frame(device_id, EVENT_SOS)
    ctx = w.pipeline.handle(topic("gw-breestraat"), envelope(frame, "gw-breestraat", T0, rssi=-70), T0)
    assert ctx.effects.downlinks
    return f"{device_id}-{counter}"


def test_escalate_tells_the_centre_and_offers_everyone_nearby_at_once() -> None:
    w = World()
    inc_id = _incident(w)
    assert w.state.incidents[inc_id].offered_to == ["r-pieters"]
    eff = operator_actions.escalate(w.state, inc_id, T0 + 5_000, w.pipeline)
    inc = w.state.incidents[inc_id]
    assert inc.state == State.ESCALATED and inc.escalation == 2
    # Everyone on duty within the broadcast radius, not the responder ~3 km away.
    assert set(inc.offered_to) == {"r-pieters", "r-hooglandse"}
    events = [d for d in eff.durable if isinstance(d, Event)]
    assert events[0].kind == "escalated" and events[0].data["by"] == "operator"
    assert any(isinstance(d, IncidentSnapshot) for d in eff.durable)
    assert [p.topic for p in eff.pushes] == ["incident"] and eff.urgent
    with pytest.raises(actions.ActionError, match="already escalated"):
        operator_actions.escalate(w.state, inc_id, T0 + 6_000, w.pipeline)


@pytest.mark.parametrize(
    ("prepare", "reason"),
    [
        (lambda w, i: actions.accept(w.state, i, "r-pieters", T0 + 1), "already accepted"),
        (lambda w, i: actions.resolve(w.state, i, "operator", T0 + 1), "incident is resolved"),
        (lambda w, i: None, None),
    ],
)
def test_escalate_refuses_what_the_lifecycle_forbids(prepare, reason) -> None:  # type: ignore[no-untyped-def]
    w = World()
    inc_id = _incident(w)
    prepare(w, inc_id)
    if reason is None:
        with pytest.raises(actions.ActionError, match="no such incident"):
            operator_actions.escalate(w.state, "9-9", T0 + 2, w.pipeline)
        return
    before = w.state.incidents[inc_id].state
    with pytest.raises(actions.ActionError, match=reason):
        operator_actions.escalate(w.state, inc_id, T0 + 2, w.pipeline)
    assert w.state.incidents[inc_id].state == before


def test_assign_offers_to_the_chosen_responder_even_after_a_decline() -> None:
    w = World()
    inc_id = _incident(w)
    eff = operator_actions.assign(w.state, inc_id, "r-far", T0 + 1_000)
    inc = w.state.incidents[inc_id]
    assert inc.offered_to == ["r-pieters", "r-far"] and inc.state == State.OFFERED
    ev = next(d for d in eff.durable if isinstance(d, Event))
    assert ev.kind == "offered" and ev.data == {"state": "offered", "responders": ["r-far"], "by": "operator"}
    with pytest.raises(actions.ActionError, match="already offered"):
        operator_actions.assign(w.state, inc_id, "r-far", T0 + 2_000)
    actions.decline(w.state, inc_id, "r-far", T0 + 3_000, w.pipeline)
    operator_actions.assign(w.state, inc_id, "r-far", T0 + 4_000)
    assert "r-far" not in inc.declined_by and inc.offered_to.count("r-far") == 1
    with pytest.raises(actions.ActionError, match="no such responder"):
        operator_actions.assign(w.state, inc_id, "nobody", T0 + 5_000)
    actions.accept(w.state, inc_id, "r-far", T0 + 6_000)
    with pytest.raises(actions.ActionError, match="already accepted"):
        operator_actions.assign(w.state, inc_id, "r-far", T0 + 7_000)


def test_the_endpoints_are_for_operators_only(tmp_path: Path) -> None:
    op_token, me_token = "operator-token-0123456789", "responder-token-0123456789"
    settings = DispatchSettings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'd.db'}",
        tokens={op_token: "operator", me_token: "responder:anna"},
    )

    async def scenario(d: Dispatcher, http: httpx.AsyncClient) -> None:
        op, me = {"Authorization": f"Bearer {op_token}"}, {"Authorization": f"Bearer {me_token}"}
        await http.put("/api/v1/responders/anna", json={"name": "Anna"}, headers=op)
        inc = Incident("5-1", 5, 1, Kind.SOS, State.OPEN, 1, 1)
        d.state.incidents[inc.id] = inc
        assert (await http.post("/api/v1/incidents/5-1/escalate", headers=me)).status_code == 403
        r = await http.post("/api/v1/incidents/5-1/escalate", headers=op)
        assert r.status_code == 200 and r.json()["state"] == "escalated"
        assert (await http.post("/api/v1/incidents/5-1/escalate", headers=op)).status_code == 409
        r = await http.post("/api/v1/incidents/5-1/assign", json={"responder": "anna"}, headers=op)
        assert r.status_code == 200 and "anna" in r.json()["offered_to"]
        r = await http.post("/api/v1/incidents/5-1/assign", json={"responder": "nobody"}, headers=op)
        assert r.status_code == 409
        # The responder now sees it, as any offer.
        assert [i["id"] for i in (await http.get("/api/v1/incidents", headers=me)).json()] == ["5-1"]

    serve(settings, scenario)
