"""Patrol zones on two dispatch replicas sharing one real PostgreSQL: a zone put, changed or removed through one
replica is applied by the other from its notification, and a responder's team reaches it too, so whichever
replica makes an offer prefers the same responders."""

import asyncio
import uuid

import httpx

from basestation.dispatch.io.migrate import upgrade
from basestation.dispatch.settings import DispatchSettings
from tests.databases import PrivatePostgres
from tests.dispatch.conftest import running, until

OPERATOR = "operator-token-zones-replicas-01"
CENTRE = [[52.157, 4.484], [52.157, 4.496], [52.162, 4.496], [52.162, 4.484]]


def test_a_zone_changed_on_one_replica_is_applied_on_the_other(postgres: PrivatePostgres) -> None:
    db = postgres.create_database(f"z_{uuid.uuid4().hex[:10]}")
    upgrade(db)

    async def scenario() -> None:
        def replica() -> DispatchSettings:
            return DispatchSettings(database_url=db, tokens={OPERATOR: "operator"})

        async with running(replica()) as ra, running(replica()) as rb:
            a, b, app_a = ra.dispatcher, rb.dispatcher, ra.app
            assert a.cluster is not None and b.cluster is not None
            op = {"Authorization": f"Bearer {OPERATOR}"}
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app_a), base_url="http://a") as http:
                body = {"name": "Anna", "team": "noord"}
                assert (await http.put("/api/v1/responders/anna", json=body, headers=op)).status_code == 200
                await until(lambda: "anna" in b.state.responders and b.state.responders["anna"].team == "noord", 15)

                zone = {"name": "Centrum", "polygon": CENTRE, "responders": ["anna"], "teams": ["noord"]}
                assert (await http.put("/api/v1/zones/centrum", json=zone, headers=op)).status_code == 200
                await until(lambda: "centrum" in b.state.zones, 15)
                assert b.state.zones["centrum"] == a.state.zones["centrum"]
                assert b.state.zones["centrum"].contains(52.1589, 4.4894)

                zone["teams"] = []
                assert (await http.put("/api/v1/zones/centrum", json=zone, headers=op)).status_code == 200
                await until(lambda: not b.state.zones["centrum"].teams, 15)

                assert (await http.delete("/api/v1/zones/centrum", headers=op)).status_code == 204
                await until(lambda: "centrum" not in b.state.zones, 15)

    asyncio.run(scenario())
