"""The incident log at size, through the real app's HTTP API (in-process ASGI, the service's own SQLite file or a
PostgreSQL URL from NIGHTWATCH_BENCH_PG_URL): 100,000 incidents with three log entries each, spread over the last
60 days, half of them past a 30-day retention.

- Lookup by id (GET /api/v1/incidents/{id}) of incidents long gone from memory, at random; and, for comparison,
  what the lookup cost before it used the primary key: reading the 10,000 newest documents and scanning them.
- The list (GET /api/v1/incidents): the first page, a page 50,000 deep by its cursor, and each filter and the
  search (a word one incident has, so the search reads every row; a word many have).
- The export (GET /api/v1/incidents/export) of 10,000 incidents with their logs, as JSON and as CSV: time, size,
  and how much the process grew while streaming it.

Run: ``.venv/bin/python -m bench incidents`` (writes bench/results/incidents.json and the summary).
"""

import asyncio
import os
import random
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert

from basestation.dispatch.api.app import create_app
from basestation.dispatch.core.incidents import INTAKE_DEVICE_BASE, Incident, Kind, State
from basestation.dispatch.io import schema as t
from basestation.dispatch.io.migrate import upgrade
from basestation.dispatch.io.store import Store
from basestation.dispatch.io.store_rows import incident_row
from basestation.dispatch.service import Dispatcher
from basestation.dispatch.settings import DispatchSettings
from bench.common import rss_bytes, settle

INCIDENTS = 100_000
EXPORTED = 10_000
LOOKUPS = 300
PAGE_CALLS = 30
TOKEN = "operator-token-bench-0123456789"
DAY = 86_400_000
STATES = [State.RESOLVED] * 8 + [State.CANCELLED, State.ESCALATED]
NAMES = ["Sanne", "Daan", "Fatima", "Lucas", "Emma", "Noah", "Julia", "Sem"]
STREETS = ["Breestraat", "Rapenburg", "Haarlemmerstraat", "Steenstraat", "Hooglandse Kerkgracht"]


def _docs(now: int) -> list[dict[str, Any]]:
    rng = random.Random(11)
    span = 60 * DAY
    out = []
    for n in range(INCIDENTS):
        opened = now - span + n * (span // INCIDENTS)
        phone = n % 3 == 0
        dev = INTAKE_DEVICE_BASE + n if phone else 1000 + n % 500
        inc = Incident(
            f"{dev}-{n}",
            dev,
            n,
            Kind.WORRIED if phone else Kind.SOS,
            rng.choice(STATES),
            opened,
            opened,
            lat=52.15 + rng.random() / 50,
            lon=4.48 + rng.random() / 50,
            radius_m=80.0,
            updated_ms=opened + 20 * 60_000,
            offered_to=["anna", "bob"],
            accepted_by=["anna"],
        )
        if inc.state == State.ESCALATED:
            # Escalated as far as it goes (operators and the monitoring centre), as one left so is: the service's
            # clock has nothing more to do with it, and does not rewrite it at start.
            inc.escalation = 2
        if phone:
            inc.callback_number = f"+31 6 {rng.randrange(10**7, 10**8)}"
            inc.caller_name = rng.choice(NAMES)
            inc.address = f"{rng.choice(STREETS)} {rng.randrange(1, 200)}"
            inc.notes = "caller worried about a friend"
            inc.source = "phone"
        out.append(inc.to_dict())
    # The one the rare search finds.
    out[INCIDENTS // 3]["notes"] = "saw a blue bicycle by the Zijlpoort"
    return out


async def _fill(store: Store, docs: list[dict[str, Any]]) -> float:
    t0 = time.perf_counter()
    async with store.engine.begin() as conn:
        for i in range(0, len(docs), 5000):
            chunk = docs[i : i + 5000]
            await conn.execute(insert(t.incidents), [incident_row(d) for d in chunk])
            events = []
            for d in chunk:
                at = d["opened_ms"]
                events.append({"incident_id": d["id"], "at_ms": at, "kind": "opened", "data": {"kind": d["kind"]}})
                loc = d["location"]
                events.append({"incident_id": d["id"], "at_ms": at + 2000, "kind": "located", "data": loc})
                events.append(
                    {"incident_id": d["id"], "at_ms": d["updated_ms"], "kind": d["state"], "data": {"by": "anna"}}
                )
            await conn.execute(insert(t.incident_events), events)
    return time.perf_counter() - t0


async def _timed(calls: int, fn: Callable[[int], Awaitable[None]]) -> dict[str, float]:
    ms = []
    for i in range(calls):
        t0 = time.perf_counter()
        await fn(i)
        ms.append((time.perf_counter() - t0) * 1000)
    ms.sort()
    return {
        "median_ms": round(statistics.median(ms), 2),
        "p95_ms": round(ms[int(len(ms) * 0.95) - 1], 2),
        "max_ms": round(ms[-1], 2),
    }


async def _measure(url: str, workdir: Path) -> dict[str, Any]:
    upgrade(url)
    now = int(time.time() * 1000)
    docs = _docs(now)
    store = Store(url)
    load_s = await _fill(store, docs)
    await store.close()
    settings = DispatchSettings(
        database_url=url,
        tokens={TOKEN: "operator:bench"},
        retention_days=30.0,
        purge_every_s=10**9,
        key_sealing_key_file=str(workdir / "sealing.key"),
    )
    d = Dispatcher(settings)
    app = create_app(d)
    out: dict[str, Any] = {"incidents": INCIDENTS, "events": 3 * INCIDENTS, "load_s": round(load_s, 1)}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app)
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with httpx.AsyncClient(transport=transport, base_url="http://bench", headers=headers) as http:
            for phase in (_lookups(http, d, docs), _lists(http, now), _exports(http, docs)):
                out.update(await phase)
                print(f"  {url.split(':', maxsplit=1)[0]}: {sorted(out)[-1]} ...", flush=True)
    return out


async def _lookups(http: httpx.AsyncClient, d: Dispatcher, docs: list[dict[str, Any]]) -> dict[str, Any]:
    rng = random.Random(3)
    picks = [rng.choice(docs)["id"] for _ in range(LOOKUPS)]

    async def lookup(i: int) -> None:
        r = await http.get(f"/api/v1/incidents/{picks[i]}")
        assert r.status_code == 200 and r.json()["id"] == picks[i]

    async def old_scan(i: int) -> None:
        # The 10,000 newest: most of the picks are older and would have answered 404.
        next((x for x in await d.store.incidents(limit=10_000) if x["id"] == picks[i]), None)

    return {"lookup": await _timed(LOOKUPS, lookup), "lookup_by_scanning_10000_before": await _timed(10, old_scan)}


async def _lists(http: httpx.AsyncClient, now: int) -> dict[str, Any]:
    async def listing(params: dict[str, Any], expect: int) -> dict[str, float]:
        async def call(_: int) -> None:
            r = await http.get("/api/v1/incidents", params=params)
            assert r.status_code == 200 and len(r.json()) == expect, (params, r.text[:200])

        return await _timed(PAGE_CALLS, call)

    out: dict[str, Any] = {"list_first_page_100": await listing({"limit": 100}, 100)}
    cursor = None
    for _ in range(500):  # 50,000 deep, by the cursor each page gives
        r = await http.get("/api/v1/incidents", params={"limit": 100, **({"cursor": cursor} if cursor else {})})
        cursor = r.headers["x-next-cursor"]
    out["list_page_50000_deep"] = await listing({"limit": 100, "cursor": cursor}, 100)
    t0 = time.perf_counter()
    seen = 0
    params: dict[str, Any] = {"limit": 500}
    while True:
        r = await http.get("/api/v1/incidents", params=params)
        seen += len(r.json())
        if "x-next-cursor" not in r.headers:
            break
        params = {"limit": 500, "cursor": r.headers["x-next-cursor"]}
    assert seen == INCIDENTS
    out["list_all_100000_by_500_s"] = round(time.perf_counter() - t0, 2)
    out["list_state_escalated"] = await listing({"state": "escalated"}, 100)
    week = {"from_ms": now - 14 * DAY, "to_ms": now - 7 * DAY}
    out["list_kind_and_week"] = await listing({"kind": "worried", **week}, 100)
    out["list_one_ring"] = await listing({"device_id": 1007}, 100)
    out["search_rare_word_1_hit"] = await listing({"q": "zijlpoort"}, 1)
    out["search_common_word"] = await listing({"q": "breestraat"}, 100)
    return out


async def _exports(http: httpx.AsyncClient, docs: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    half = docs[INCIDENTS // 2 - EXPORTED // 2 : INCIDENTS // 2 + EXPORTED // 2]
    span = {"from_ms": half[0]["opened_ms"], "to_ms": half[-1]["opened_ms"] + 1}
    for fmt in ("json", "csv"):
        base = settle()
        peak = base
        t0 = time.perf_counter()
        size = 0
        async with http.stream("GET", "/api/v1/incidents/export", params={**span, "format": fmt}) as r:
            assert r.status_code == 200
            async for part in r.aiter_bytes():
                size += len(part)
                peak = max(peak, rss_bytes())
        out[f"export_{EXPORTED}_{fmt}"] = {
            "s": round(time.perf_counter() - t0, 2),
            "mb": round(size / 1e6, 1),
            "rss_growth_mb": round((peak - base) / 1e6, 1),
        }
    return out


def run(results_dir: Path) -> tuple[dict[str, float], dict[str, object]]:
    raw: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        raw["sqlite"] = asyncio.run(_measure(f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}", Path(tmp)))
        pg = os.environ.get("NIGHTWATCH_BENCH_PG_URL")
        if pg:
            raw["postgresql"] = asyncio.run(_measure(pg, Path(tmp)))
    figures: dict[str, float] = {}
    for db, m in raw.items():
        assert isinstance(m, dict)
        figures[f"{db}_lookup_median_ms"] = m["lookup"]["median_ms"]
        figures[f"{db}_lookup_p95_ms"] = m["lookup"]["p95_ms"]
        figures[f"{db}_lookup_by_scan_before_median_ms"] = m["lookup_by_scanning_10000_before"]["median_ms"]
        figures[f"{db}_list_first_page_median_ms"] = m["list_first_page_100"]["median_ms"]
        figures[f"{db}_list_page_50000_deep_median_ms"] = m["list_page_50000_deep"]["median_ms"]
        figures[f"{db}_search_rare_median_ms"] = m["search_rare_word_1_hit"]["median_ms"]
        figures[f"{db}_export_10000_json_s"] = m[f"export_{EXPORTED}_json"]["s"]
        figures[f"{db}_export_10000_csv_s"] = m[f"export_{EXPORTED}_csv"]["s"]
    return figures, raw
