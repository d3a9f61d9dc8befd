"""docs/privacy.md's table is what retention does: every table of the database filled, purged past the period, and
each checked against the table's Retention column, on SQLite and PostgreSQL."""

import asyncio
import re
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

from basestation.dispatch.core.accounts import Account
from basestation.dispatch.core.assignment import Responder
from basestation.dispatch.core.effects import FrameSeen, IncidentSnapshot, NoticeRow, ReceptionRow
from basestation.dispatch.core.incidents import INTAKE_DEVICE_BASE, Event, Incident, Kind, State
from basestation.dispatch.core.state import Gateway
from basestation.dispatch.io import accounts_store
from basestation.dispatch.io import schema as t
from basestation.dispatch.io.migrate import upgrade
from basestation.dispatch.io.store import Store

DOC = Path(__file__).resolve().parents[2] / "docs" / "privacy.md"
DAY = 86_400_000
OLD = 100 * DAY  # everything below happened then
CUT = OLD + 31 * DAY  # and the purge runs 31 days later
RULES = ("kept", "deleted", "places removed")


def documented() -> dict[str, str]:
    """Table name to its Retention cell, from docs/privacy.md."""
    rules = {}
    for line in DOC.read_text().splitlines():
        m = re.match(r"^\| `(\w+)` \| [^|]+ \| ([^|]+) \|", line)
        if m:
            rules[m.group(1)] = m.group(2).strip()
    return rules


def test_the_page_names_every_table_with_a_rule_it_can_be_checked_by() -> None:
    rules = documented()
    assert set(rules) == {*t.metadata.tables, "alembic_version"}
    assert set(rules.values()) <= set(RULES)


async def _fill(store: Store) -> None:
    ring = Incident("7-1", 7, 1, Kind.SOS, State.ESCALATED, OLD, OLD, lat=52.16, lon=4.49, radius_m=60.0)
    ring.updated_ms = OLD
    dev = INTAKE_DEVICE_BASE + 1
    walk = Incident(f"{dev}-1", dev, 1, Kind.ESCORT, State.RESOLVED, OLD, OLD, lat=52.15, lon=4.48, updated_ms=OLD)
    walk.callback_number, walk.caller_name, walk.address, walk.destination = (
        "+31612345678",
        "Sanne",
        "Kloksteeg 1",
        "Home",
    )
    walk.source, walk.notes = "walk", "by the church"
    await store.add_device(7, bytes(16), "ring", OLD)
    await store.apply(
        [
            FrameSeen(7, 1, "sos", OLD, "7-1", b"\x10" * 24),
            ReceptionRow("7-1", "gw-a", "lora", -90.0, 7.5, OLD),
            IncidentSnapshot(ring.to_dict()),
            IncidentSnapshot(walk.to_dict()),
            Event("7-1", OLD, "opened", {"kind": "sos"}),
            Event("7-1", OLD, "located", {"lat": 52.16, "lon": 4.49, "radius_m": 60.0}),
            Event(walk.id, OLD, "resolved", {"by": "anna"}),
            NoticeRow("low_battery", "7", OLD, {"battery": 10}),
        ]
    )
    await store.set_aside("nightwatch/v1/up/gw-a", b"{}", "bad", NoticeRow("dead_letter", "gw-a", OLD, {}))
    await store.save_responder(Responder("anna", "Anna", "nl", ["patrol"], True, 52.16, 4.49, None, OLD))
    await store.save_gateway(Gateway("gw-a", 52.16, 4.49, True, OLD))
    await store.save_subscription("anna", "https://push.example/1", "p256", "auth")
    async with store.engine.begin() as conn:
        await conn.execute(
            insert(t.walk_requests).values(
                reference="ABC123",
                incident_id=walk.id,
                secret_hash="0" * 64,
                phone="+31612345678",
                client="192.0.2.7",
                source="walk",
                lang="nl",
                created_ms=OLD,
            )
        )
        await conn.execute(insert(t.blocked_numbers).values(phone="+31600000000", reason="pranks", at_ms=OLD))
        await conn.execute(insert(t.walk_override).values(id=1, state="open", until_ms=OLD + DAY, at_ms=OLD))
        await conn.execute(
            insert(t.hook_deliveries).values(source="sms", delivery_id="m1", reference="ABC123", created_ms=OLD)
        )
        await conn.execute(
            insert(t.zones).values(
                id="centrum",
                name="Centrum",
                polygon=[[52.15, 4.48], [52.17, 4.48], [52.16, 4.50]],
                responders=["anna"],
                teams=[],
                updated_ms=OLD,
            )
        )
    await accounts_store.insert(
        store, Account("acct-0123456789", "responder", "Anna", "anna", "+31600000001", OLD, "mira"), "1" * 64
    )


async def _rows(store: Store) -> dict[str, list[dict[str, Any]]]:
    async with store.engine.connect() as conn:
        return {
            name: [dict(r._mapping) for r in await conn.execute(select(table))]
            for name, table in t.metadata.tables.items()
        }


def test_retention_does_to_each_table_what_the_page_says(db_url: str) -> None:
    upgrade(db_url)

    async def go() -> tuple[dict[str, list[dict[str, Any]]], dict[str, list[dict[str, Any]]]]:
        store = Store(db_url)
        try:
            await _fill(store)
            before = await _rows(store)
            await store.purge(CUT)
            return before, await _rows(store)
        finally:
            await store.close()

    before, after = asyncio.run(go())
    for name, rule in documented().items():
        if name == "alembic_version":
            continue
        assert before[name], f"{name}: the test put nothing in it"
        if rule == "deleted":
            assert after[name] == [], name
        elif rule == "kept":
            assert after[name] == before[name], name
        else:
            assert len(after[name]) >= 1, name
    for inc in after["incidents"]:
        doc = inc["doc"]
        assert doc["location"] is None and doc.get("address") is None and doc.get("destination") is None
        assert doc["state"] in ("escalated", "resolved")  # what happened is kept, however it ended
    walk = next(i["doc"] for i in after["incidents"] if "callback_number" in i["doc"])
    assert walk["callback_number"] == "+31612345678" and walk["notes"] == "by the church"  # as the page says
    assert sorted(e["kind"] for e in after["incident_events"]) == ["opened", "resolved"]
