"""A restart alone changes nothing in an incident. Every change sets ``updated_ms``, and retention purges an
incident's location once it has not changed for ``retention_days`` (docs/privacy.md): an incident the service
touched at each start would never be purged if it restarts more often than that. Real SQLite, the real service
with its clock running."""

import asyncio
import os
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from basestation.dispatch.io import schema as t
from basestation.dispatch.io.store import Store
from basestation.dispatch.service import Dispatcher, now_ms
from basestation.dispatch.settings import DispatchSettings
from protocol import uplink
from protocol.constants import EVENT_SOS, FLAG_ACK_REQUESTED
from protocol.keys import DeviceKeys
from tests.dispatch.world import GATEWAYS, envelope, topic

DAY_MS = 86_400_000
GATEWAY = "gw-centraal"


def _settings(db: Path) -> DispatchSettings:
    # A fast clock, so that a few of its passes run in each start.
    return DispatchSettings(database_url=f"sqlite+aiosqlite:///{db}", tick_s=0.05, retention_days=30)


async def _snapshot(db: Path) -> dict[str, tuple[Any, ...]]:
    store = Store(f"sqlite+aiosqlite:///{db}")
    try:
        out = {}
        for doc in await store.incidents():
            events = await store.incident_events(doc["id"])
            out[doc["id"]] = (doc["state"], doc["escalation"], doc["updated_ms"], len(events), events[-1]["kind"])
        return out
    finally:
        await store.close()


async def _open_alarms(db: Path) -> None:
    """Two SOS alarms with nobody on duty: both escalated at once (level 2), as the service does it today."""
    d = Dispatcher(_settings(db))
    await d.start()
    try:
        lat, lon = GATEWAYS[GATEWAY]
        from basestation.dispatch.core.state import Gateway

        d.state.gateways[GATEWAY] = Gateway(GATEWAY, lat, lon, True)
        await d.store.save_gateway(d.state.gateways[GATEWAY])
        for device_id in (11, 12):
            root = os.urandom(16)
            await d.store.add_device(device_id, root, None, now_ms())
            d.state.resolver.add(device_id, root)
            up = uplink.Uplink(1, device_id, EVENT_SOS, 90, flags=FLAG_ACK_REQUESTED)
            await d.on_uplink(topic(GATEWAY), envelope(uplink.encode(DeviceKeys(root), up), GATEWAY, now_ms()))
        await asyncio.sleep(0.3)
    finally:
        await d.stop()


async def _age(db: Path, days: int, escalation_of: dict[str, int]) -> None:
    """Move the incidents ``days`` into the past, as if left alone that long; ``escalation_of`` sets the level an
    older service wrote into a document (one that says escalated at level 1)."""
    store = Store(f"sqlite+aiosqlite:///{db}")
    try:
        async with store.engine.begin() as conn:
            for row in (await conn.execute(select(t.incidents.c.id, t.incidents.c.doc))).all():
                doc = dict(row.doc)
                shift = days * DAY_MS
                for k in ("opened_ms", "press_ms", "updated_ms"):
                    doc[k] -= shift
                doc["escalation"] = escalation_of.get(row.id, doc["escalation"])
                await conn.execute(
                    update(t.incidents)
                    .where(t.incidents.c.id == row.id)
                    .values(doc=doc, updated_ms=doc["updated_ms"], opened_ms=doc["opened_ms"])
                )
    finally:
        await store.close()


async def _restart(db: Path) -> None:
    d = Dispatcher(_settings(db))
    await d.start()
    await asyncio.sleep(0.4)  # several passes of the clock over every open incident
    await d.stop()


def test_restarts_change_nothing_and_an_untouched_escalated_incident_is_purged(tmp_path: Path) -> None:
    db = tmp_path / "d.db"

    async def scenario() -> None:
        await _open_alarms(db)
        before = await _snapshot(db)
        assert {v[:2] for v in before.values()} == {("escalated", 2)}
        await _age(db, 40, {"11-1": 1})
        aged = await _snapshot(db)
        for _ in range(3):
            await _restart(db)
            assert await _snapshot(db) == aged  # no entry, no new state, no new updated_ms
        store = Store(f"sqlite+aiosqlite:///{db}")
        try:
            counts = await store.purge(now_ms() - 30 * DAY_MS)
            assert counts["incidents"] == 2
            for incident_id in ("11-1", "12-1"):
                doc = await store.incident(incident_id)
                assert doc is not None and doc["location"] is None and doc["state"] == "escalated"
        finally:
            await store.close()

    asyncio.run(scenario())
