"""The incident log on SQLite and PostgreSQL: pages without gaps or repeats, each filter, the search, lookup of an
old incident, the export in both formats with and without locations past retention."""

import asyncio
import csv
import io
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import httpx
from sqlalchemy import insert

from basestation.dispatch.core.effects import ReceptionRow
from basestation.dispatch.core.incidents import INTAKE_DEVICE_BASE, Event, Incident, Kind, State
from basestation.dispatch.io import incident_log
from basestation.dispatch.io import schema as t
from basestation.dispatch.io.incident_log import Filters
from basestation.dispatch.io.migrate import upgrade
from basestation.dispatch.io.store import Store
from basestation.dispatch.io.store_rows import incident_row
from basestation.dispatch.service import Dispatcher
from basestation.dispatch.settings import DispatchSettings
from tests.dispatch.conftest import bearer, serve

DAY = 86_400_000
OP, ANNA, BOB = "operator-token-log-0123456789", "anna-token-log-0123456789", "bob-token-log-0123456789"


def incident(
    n: int,
    opened_ms: int,
    *,
    state: State = State.RESOLVED,
    kind: Kind = Kind.SOS,
    device_id: int | None = None,
    updated_ms: int | None = None,
    offered_to: tuple[str, ...] = (),
    **call: Any,
) -> dict[str, Any]:
    dev = device_id if device_id is not None else 100 + n % 7
    inc = Incident(
        f"{dev}-{n}",
        dev,
        n,
        kind,
        state,
        opened_ms,
        opened_ms,
        lat=52.16,
        lon=4.49,
        radius_m=60.0,
        updated_ms=updated_ms if updated_ms is not None else opened_ms + 60_000,
        offered_to=list(offered_to),
        **call,
    )
    return inc.to_dict()


async def put(store: Store, docs: list[dict[str, Any]], events: Sequence[Event] = ()) -> None:
    """Rows straight into the tables, many to a statement: the sizes here are tens of thousands."""
    async with store.engine.begin() as conn:
        for i in range(0, len(docs), 2000):
            await conn.execute(insert(t.incidents), [incident_row(d) for d in docs[i : i + 2000]])
        rows = [{"incident_id": e.incident_id, "at_ms": e.at_ms, "kind": e.kind, "data": e.data} for e in events]
        for i in range(0, len(rows), 2000):
            await conn.execute(insert(t.incident_events), rows[i : i + 2000])


def on_store(url: str, fn: Callable[[Store], Awaitable[None]]) -> None:
    upgrade(url)

    async def go() -> None:
        store = Store(url)
        try:
            await fn(store)
        finally:
            await store.close()

    asyncio.run(go())


async def every_page(store: Store, filters: Filters, limit: int, **kw: Any) -> list[list[str]]:
    pages: list[list[str]] = []
    cursor = None
    while True:
        docs, cursor = await incident_log.page(store, filters, limit, cursor, **kw)
        pages.append([d["id"] for d in docs])
        if cursor is None:
            return pages


def test_pages_have_no_gaps_and_no_repeats_and_hold_under_inserts(db_url: str) -> None:
    async def go(store: Store) -> None:
        # Three incidents to each millisecond: the id decides between them, the same way on both databases.
        docs = [incident(n, 1_000_000 + n // 3 * 1000) for n in range(301)]
        await put(store, docs)
        expected = [d["id"] for d in sorted(docs, key=incident_log.key_of, reverse=True)]
        pages = await every_page(store, Filters(), 37)
        assert [len(p) for p in pages[:-1]] == [37] * (len(pages) - 1)
        assert [i for p in pages for i in p] == expected

        # New incidents opened between two pages show on a new first page, never in the pages being read.
        first, cursor = await incident_log.page(store, Filters(), 50)
        await put(store, [incident(n, 9_000_000 + n) for n in range(400, 420)])
        rest: list[str] = []
        while cursor is not None:
            docs_, cursor = await incident_log.page(store, Filters(), 50, cursor)
            rest += [d["id"] for d in docs_]
        assert [d["id"] for d in first] + rest == expected

    on_store(db_url, go)


def test_memory_joins_the_page_ahead_of_the_database(db_url: str) -> None:
    async def go(store: Store) -> None:
        await put(store, [incident(n, 1_000_000 + n * 1000) for n in range(10)])
        stored = {d["id"]: d for d in await store.incidents()}
        fresh = incident(99, 2_000_000, state=State.OPEN)  # opened, its commit not made yet
        moved = {**stored["101-1"], "state": "accepted"}  # memory is ahead of the row
        docs, _ = await incident_log.page(store, Filters(), 5, live=[fresh, moved])
        assert docs[0]["id"] == fresh["id"]
        docs, _ = await incident_log.page(store, Filters(states=frozenset({"accepted"})), 100, live=[fresh, moved])
        assert [d["id"] for d in docs] == ["101-1"]
        docs, _ = await incident_log.page(store, Filters(states=frozenset({"resolved"})), 100, live=[fresh, moved])
        assert "101-1" not in [d["id"] for d in docs] and len(docs) == 9

    on_store(db_url, go)


def test_pages_are_whole_when_memory_holds_most_of_them(db_url: str) -> None:
    # Escalated incidents nobody closed stay in memory: their rows are memory's, page after page.
    async def go(store: Store) -> None:
        docs = [
            incident(n, 1_000_000 + n * 1000, state=State.ESCALATED if n % 4 else State.RESOLVED) for n in range(300)
        ]
        await put(store, docs)
        live = [d for d in docs if d["state"] == "escalated"]
        for f in (Filters(), Filters(states=frozenset({"escalated"}))):
            expected = [d["id"] for d in reversed(docs) if f.matches(d)]
            pages = await every_page(store, f, 37, live=live)
            assert [i for p in pages for i in p] == expected

    on_store(db_url, go)


def test_each_filter_and_the_search(db_url: str) -> None:
    async def go(store: Store) -> None:
        base = 1_000_000
        call: dict[str, Any] = {
            "callback_number": "+31 6 1234 5678",
            "caller_name": "Fatima El Amrani-Noël",
            "address": "Breestraat 70",
            "notes": "100% sure: she is at the_station",
            "destination": "Haarlemmerstraat 1",
            "source": "phone",
        }
        docs = [
            incident(1, base + 1000, state=State.OPEN, device_id=7),
            incident(2, base + 2000, state=State.ESCALATED, device_id=7),
            incident(3, base + 3000, kind=Kind.ESCORT, device_id=8),
            incident(4, base + 4000, kind=Kind.WORRIED, device_id=INTAKE_DEVICE_BASE + 4, **call),
            incident(5, base + 5000, state=State.CANCELLED, device_id=9),
        ]
        await put(store, docs)

        async def ids(**f: Any) -> list[str]:
            got, _ = await incident_log.page(store, Filters(**f), 100)
            return [d["id"] for d in got]

        assert await ids(states=frozenset({"open", "escalated"})) == ["7-2", "7-1"]
        assert await ids(active=True) == ["7-2", "7-1"]
        assert await ids(kind="escort") == ["8-3"]
        assert await ids(from_ms=base + 2000, to_ms=base + 4000) == ["8-3", "7-2"]
        assert await ids(device_id=7) == ["7-2", "7-1"]
        intake = f"{INTAKE_DEVICE_BASE + 4}-4"
        for q in (
            "fatima",
            "EL AMRANI",
            "1234 5678",
            "breestraat",
            "100%",
            "the_station",
            "haarlemmer",
            "noël",
            intake[-5:],
        ):
            assert await ids(q=q) == [intake], q
        assert await ids(q="9-5") == ["9-5"]
        # A LIKE wildcard in the search is only itself.
        assert await ids(q="%") == [intake] and await ids(q="_") == [intake]
        assert await ids(q="nobody at all") == []
        # Memory is filtered as the database is.
        for f in (Filters(q="amrani"), Filters(kind="worried"), Filters(states=frozenset({"escalated"}))):
            assert [d["id"] for d in docs if f.matches(d)] == [
                d["id"] for d in (await incident_log.page(store, f, 100))[0]
            ]

    on_store(db_url, go)


def test_a_responder_pages_through_only_their_own(db_url: str) -> None:
    async def go(store: Store) -> None:
        docs = [incident(n, 1_000_000 + n * 1000, offered_to=("anna",) if n % 50 == 0 else ()) for n in range(1200)]
        await put(store, docs)

        def keep(d: dict[str, Any]) -> bool:
            return "anna" in d["offered_to"]

        pages = await every_page(store, Filters(), 7, keep=keep, responder_id="anna")
        assert [i for p in pages for i in p] == [d["id"] for d in reversed(docs) if keep(d)]

    on_store(db_url, go)


def test_the_export_has_every_incident_in_the_range_and_leaves_old_locations_out(db_url: str) -> None:
    async def go(store: Store) -> None:
        cutoff = 50 * DAY
        docs = [incident(n, n * 1000 + DAY, updated_ms=(cutoff - 1 if n % 2 else cutoff + 1)) for n in range(10_000)]
        events = [Event(d["id"], d["opened_ms"], "located", {"lat": 52.16, "lon": 4.49}) for d in docs]
        events += [Event(d["id"], d["opened_ms"] + 5, "resolved", {"by": "anna"}) for d in docs]
        await put(store, docs, events)
        await store.apply(
            [
                ReceptionRow(docs[0]["id"], "gw", "ble", -70.0, None, DAY),
                ReceptionRow(docs[1]["id"], "gw", "ble", -71.0, None, DAY),
            ]
        )
        got = [e async for chunk in incident_log.export(store, DAY, DAY + 10_000 * 1000, cutoff) for e in chunk]
        assert [e["incident"]["id"] for e in got] == [d["id"] for d in docs]
        for e in got:
            old = e["retention_passed"]
            assert old == (e["incident"]["updated_ms"] < cutoff)
            assert (e["incident"]["location"] is None) == old
            assert [ev["kind"] for ev in e["events"]] == (["resolved"] if old else ["located", "resolved"])
        assert len(got[0]["receptions"]) == 1 and got[1]["receptions"] == []  # docs[1] is past retention
        part = [e async for chunk in incident_log.export(store, DAY + 1000, DAY + 3000, cutoff, chunk=1) for e in chunk]
        assert [e["incident"]["counter"] for e in part] == [1, 2]

    on_store(db_url, go)


def test_retention_purges_every_ended_incident_however_it_ended(db_url: str) -> None:
    async def go(store: Store) -> None:
        cut = 10 * DAY
        call: dict[str, Any] = {
            "callback_number": "0612345678",
            "address": "Breestraat 70",
            "destination": "Home",
            "source": "walk",
        }
        docs = [
            incident(1, DAY, state=State.RESOLVED, updated_ms=cut - 1),
            incident(2, DAY, state=State.CANCELLED, updated_ms=cut - 1),
            incident(3, DAY, state=State.ESCALATED, updated_ms=cut - 1),  # left escalated, never closed
            incident(4, DAY, state=State.OPEN, device_id=INTAKE_DEVICE_BASE, updated_ms=cut - 1, **call),
            incident(5, DAY, state=State.ESCALATED, updated_ms=cut + 1),  # still going on
            incident(6, DAY, state=State.RESOLVED, updated_ms=cut + 1),  # within retention
        ]
        events = [Event(d["id"], DAY, "located", {"lat": 1.0, "lon": 2.0}) for d in docs]
        await put(store, docs, events)
        await store.apply([ReceptionRow(d["id"], "gw", "ble", -70.0, None, DAY) for d in docs])
        counts = await store.purge(cut)
        assert counts["incidents"] == 4 and counts["receptions"] == 4 and counts["located_events"] == 4
        after = {d["id"]: d for d in await store.incidents()}
        for d in docs:
            gone = d["updated_ms"] < cut
            now = after[d["id"]]
            assert (now["location"] is None) == gone and now["state"] == d["state"]
            assert [e["kind"] for e in await store.incident_events(d["id"])] == ([] if gone else ["located"])
        intake = after[docs[3]["id"]]
        assert intake["address"] is None and intake["destination"] is None
        assert intake["callback_number"] == "0612345678"  # docs/privacy.md: kept with what happened
        assert await store.count("receptions") == 2
        assert (await store.purge(cut))["incidents"] == 0  # nothing left to forget

    on_store(db_url, go)


# -- over HTTP ---------------------------------------------------------------------------------------------------


def _serve(url: str, scenario: Callable[[Dispatcher, httpx.AsyncClient], Awaitable[None]]) -> None:
    s = DispatchSettings(
        database_url=url, tokens={OP: "operator:mira", ANNA: "responder:anna", BOB: "responder:bob"}, walk_hours=""
    )
    serve(s, scenario)


def test_the_api_lists_finds_and_exports(db_url: str) -> None:
    now = int(time.time() * 1000)
    old = now - 400 * DAY

    async def scenario(d: Dispatcher, http: httpx.AsyncClient) -> None:
        docs = [incident(n, old + n * 1000, updated_ms=old + n * 1000 + 5) for n in range(250)]
        docs.append(incident(999, now - 1000, updated_ms=now - 500, offered_to=("anna",)))
        events = [Event(x["id"], x["opened_ms"], "located", {"lat": 52.16, "lon": 4.49}) for x in docs]
        await put(d.store, docs, events)

        # Lookup: the oldest, from the database, not from memory.
        r = await http.get(f"/api/v1/incidents/{docs[0]['id']}", headers=bearer(OP))
        assert r.status_code == 200 and r.json()["opened_ms"] == old
        assert (await http.get("/api/v1/incidents/7-123456", headers=bearer(OP))).status_code == 404
        # Responders see only what was offered to them, by lookup and by list.
        assert (await http.get(f"/api/v1/incidents/{docs[0]['id']}", headers=bearer(ANNA))).status_code == 404
        r = await http.get("/api/v1/incidents/105-999", headers=bearer(ANNA))
        assert r.status_code == 200 and "device_id" not in r.json()
        assert [x["id"] for x in (await http.get("/api/v1/incidents", headers=bearer(ANNA))).json()] == ["105-999"]
        assert (await http.get("/api/v1/incidents", headers=bearer(BOB))).json() == []

        seen: list[str] = []
        params: dict[str, Any] = {"limit": 100}
        while True:
            r = await http.get("/api/v1/incidents", params=params, headers=bearer(OP))
            assert r.status_code == 200
            seen += [x["id"] for x in r.json()]
            if "x-next-cursor" not in r.headers:
                break
            params["cursor"] = r.headers["x-next-cursor"]
        assert len(seen) == len(set(seen)) == 251
        r = await http.get("/api/v1/incidents", params={"state": ["resolved"], "q": "105-999"}, headers=bearer(OP))
        assert [x["id"] for x in r.json()] == ["105-999"]
        for bad in ({"limit": 0}, {"limit": 501}, {"cursor": "bm90IGEgY3Vyc29y"}, {"state": "gone"}, {"q": ""}):
            assert (await http.get("/api/v1/incidents", params=bad, headers=bearer(OP))).status_code == 422, bad

        # Export: the old ones without where they were, the recent one with it.
        rng = {"from_ms": old, "to_ms": now}
        assert (await http.get("/api/v1/incidents/export", params=rng, headers=bearer(ANNA))).status_code == 403
        r = await http.get("/api/v1/incidents/export", params={**rng, "format": "json"}, headers=bearer(OP))
        assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
        got = r.json()
        assert len(got) == 251
        assert all(e["incident"]["location"] is None and e["events"] == [] for e in got[:250])
        assert got[-1]["incident"]["location"] is not None and got[-1]["events"][0]["kind"] == "located"
        r = await http.get("/api/v1/incidents/export", params={**rng, "format": "csv"}, headers=bearer(OP))
        assert r.headers["content-type"].startswith("text/csv") and ".csv" in r.headers["content-disposition"]
        rows = list(csv.DictReader(io.StringIO(r.text)))
        assert len(rows) == 251 and rows[0]["lat"] == "" and rows[-1]["lat"] == "52.16"
        assert rows[-1]["retention_passed"] == "no" and "located" in rows[-1]["events"]
        bad = {"from_ms": now, "to_ms": old}
        assert (await http.get("/api/v1/incidents/export", params=bad, headers=bearer(OP))).status_code == 422
        empty = await http.get("/api/v1/incidents/export", params={"from_ms": 0, "to_ms": 1}, headers=bearer(OP))
        assert json.loads(empty.text) == []

    upgrade(db_url)
    _serve(db_url, scenario)


def test_a_csv_cell_is_never_a_formula() -> None:
    doc = incident(1, DAY, device_id=INTAKE_DEVICE_BASE, callback_number="0612345678", address="=HYPERLINK(1)")
    entry = {"incident": doc, "events": [], "receptions": [], "retention_passed": False}
    row = next(csv.DictReader(io.StringIO(incident_log.csv_header() + incident_log.csv_rows([entry], str))))
    assert row["address"] == "'=HYPERLINK(1)" and row["lon"] == "4.49"
