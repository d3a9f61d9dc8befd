"""The operator's desk over every incident, in a real browser (Debian's Chromium driven by Playwright) against the
real dispatch service: close a request from the board with a referral, search all requests (a year-old one
included, from the database), and export a date range as CSV and as JSON."""

import csv
import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from basestation.dispatch.core.incidents import INTAKE_DEVICE_BASE, Incident, Kind, State
from basestation.dispatch.io.store_rows import incident_row
from harness.brokers import start_broker
from harness.dispatch import LiveService
from tests.web.conftest import NEEDS_BROWSER
from tests.web.live import OPERATOR, web_service
from tests.web.pages import DESK, login, new_context, until

pytestmark = NEEDS_BROWSER
DAY = 86_400_000
CALL = {"kind": "worried", "callback_number": "+31 6 2222 3333", "lat": 52.1575, "lon": 4.4868}


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    tmp = tmp_path_factory.mktemp("desk")
    with start_broker(tmp / "broker") as broker, web_service(broker, tmp) as svc:
        with svc.http(OPERATOR) as op:
            r = op.put("/api/v1/responders/anna", json={"name": "Anna de Vries", "skills": ["patrol"]})
            assert r.status_code == 200, r.text
        yield svc


def _open(svc: LiveService, **call: Any) -> str:
    with svc.http(OPERATOR) as op:
        r = op.post("/api/v1/incidents", json={**CALL, **call})
        assert r.status_code == 201, r.text
        return str(r.json()["id"])


def _board(browser: Browser, svc: LiveService) -> Page:
    return login(new_context(browser, "en-GB", DESK).new_page(), svc.url, OPERATOR, "/ui/operator")


def test_the_operator_closes_a_request_from_the_board_with_a_referral(svc: LiveService, browser: Browser) -> None:
    inc_id = _open(svc, caller_name="Daan")
    board = _board(browser, svc)
    try:
        card = f"[data-incident='{inc_id}']"
        board.wait_for_selector(f"{card} [data-close-for] summary")
        board.click(f"{card} [data-close-for] summary")
        board.select_option(f"{card} [data-close-for] select", "slachtofferhulp")
        # A change elsewhere swaps the board meanwhile: the open form and its choice stay.
        board.evaluate("document.body.dispatchEvent(new Event('nw:refresh'))")
        board.wait_for_timeout(500)
        assert board.locator(f"{card} [data-close-for]").get_attribute("open") is not None
        assert board.input_value(f"{card} [data-close-for] select") == "slachtofferhulp"
        board.click(f"{card} [data-close-for] button[type=submit]")
        board.wait_for_selector(f"{card}[data-state=resolved] [data-referral=slachtofferhulp]")
        assert board.locator(f"{card} [data-close-for]").count() == 0  # closed: no Close any more
        with svc.http(OPERATOR) as op:
            doc = op.get(f"/api/v1/incidents/{inc_id}").json()
        assert doc["state"] == "resolved" and doc["referral"] == "slachtofferhulp"
        resolved = [e for e in doc["events"] if e["kind"] == "resolved"]
        assert resolved and resolved[0]["data"]["by"] == "operator"
    finally:
        board.context.close()


def _put_old(svc: LiveService, name: str) -> str:
    """A request a year old, straight into the service's database: long gone from its memory."""
    opened = int(time.time() * 1000) - 365 * DAY
    dev = INTAKE_DEVICE_BASE + 999_999
    inc = Incident(f"{dev}-1", dev, 1, Kind.WORRIED, State.RESOLVED, opened, opened, updated_ms=opened + 60_000)
    inc.callback_number, inc.caller_name, inc.address = "+31 6 4444 5555", name, "Rapenburg 1"

    # Plain sqlite3: Playwright's sync API already runs an event loop in this thread.
    row = incident_row(inc.to_dict())
    row["doc"] = json.dumps(row["doc"])
    path = svc.settings.database_url.removeprefix("sqlite+aiosqlite:///")
    with closing(sqlite3.connect(path)) as db, db:
        db.execute(f"INSERT INTO incidents ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})", list(row.values()))
    return inc.id


def test_the_operator_searches_every_request_however_old(svc: LiveService, browser: Browser) -> None:
    old_id = _put_old(svc, "Marieke Zoeklicht")
    new_id = _open(svc, caller_name="Marieke Zoeklicht", address="Breestraat 70")
    _open(svc, caller_name="Someone Else")
    board = _board(browser, svc)
    try:
        board.click("#incident-log summary")
        board.fill("#incident-q", "zoeklicht")
        board.click("[data-incident-search] button[type=submit]")
        board.wait_for_selector(f"[data-incident-row='{old_id}']")
        rows = board.locator("[data-incident-row]")
        assert [rows.nth(i).get_attribute("data-incident-row") for i in range(rows.count())] == [new_id, old_id]
        assert "Breestraat 70" in rows.nth(0).inner_text()
        assert board.inner_text("[data-incident-count]") == "2 found"
        board.fill("#incident-q", "nobody by this name")
        board.click("[data-incident-search] button[type=submit]")
        board.wait_for_selector("[data-incident-count]:has-text('0 found')")
        assert board.locator("[data-incident-row]").count() == 0
    finally:
        board.context.close()


def test_the_operator_exports_a_range_as_csv_and_as_json(svc: LiveService, browser: Browser, tmp_path: Path) -> None:
    inc_id = _open(svc, caller_name="Export Me")
    board = _board(browser, svc)
    today = date.today()
    try:
        board.click("#incident-log summary")
        board.fill("#export-from", (today - timedelta(days=1)).isoformat())
        board.fill("#export-to", today.isoformat())
        got: dict[str, Path] = {}
        for fmt in ("csv", "json"):
            board.select_option("#export-format", fmt)
            with board.expect_download() as info:
                board.click("[data-incident-export] button[type=submit]")
            download = info.value
            assert download.suggested_filename.startswith("nightwatch-incidents-")
            assert download.suggested_filename.endswith("." + fmt)
            got[fmt] = tmp_path / download.suggested_filename
            download.save_as(got[fmt])
        until(lambda: board.locator("#toast").is_visible())
        rows = list(csv.DictReader(got["csv"].open(encoding="utf-8", newline="")))
        mine = [r for r in rows if r["id"] == inc_id]
        assert mine and mine[0]["kind"] == "worried" and mine[0]["retention_passed"] == "no"
        assert "opened" in mine[0]["events"]
        entries = json.loads(got["json"].read_text())
        entry = next(e for e in entries if e["incident"]["id"] == inc_id)
        assert entry["incident"]["caller_name"] == "Export Me" and entry["events"][0]["kind"] == "opened"
        assert entry["incident"]["location"] is not None  # today's: within retention
        assert [r["id"] for r in rows] == [e["incident"]["id"] for e in entries]
    finally:
        board.context.close()
