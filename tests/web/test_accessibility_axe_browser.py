"""Accessibility of the web app in a real browser (Debian's Chromium driven by Playwright), against the real dispatch
service on a real Mosquitto: axe-core finds no violation on any page, in Dutch and in English, on a phone and on a
desk, with the states people meet (an alarm on screen, an incident accepted, the board with its dialogs open, a
patrol zone drawn, the walk-me-home page open, closed and following a request), and each page has one level-one
heading. The faults found by hand in Chromium are test_accessibility_faults_browser.py's."""

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page

from tests.web import axe
from tests.web.a11y import LOCALES, NEEDS_AXE, SIZES, World, alarm, close_all, context, served
from tests.web.live import ANNA, OPERATOR
from tests.web.pages import login

pytestmark = NEEDS_AXE


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with served(tmp_path_factory.mktemp("a11y")) as w:
        yield w


def _walk(world: World, phone: str) -> dict[str, Any]:
    body = {"name": "Sanne", "phone": phone, "lat": 52.1590, "lon": 4.4900, "destination": "Morsweg 20", "lang": "en"}
    with httpx.Client(base_url=world.svc.url) as http:
        r = http.post("/api/v1/walk", json=body)
        assert r.status_code == 201, r.text
        doc: dict[str, Any] = r.json()
        return doc


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("lang", LOCALES)
def test_axe_finds_nothing_on_any_page(world: World, browser: Browser, lang: str, size: str) -> None:
    svc = world.svc
    problems: list[str] = []

    def look(page: Page, where: str) -> None:
        found = axe.violations(page)
        if found:
            problems.append(f"-- {where} ({lang}, {size})\n{axe.report(found)}")
        if page.locator("h1").count() != 1:
            problems.append(f"-- {where} ({lang}, {size}): {page.locator('h1').count()} level-one headings")

    close_all(world)
    ctx = context(browser, lang, SIZES[size])
    phone = context(browser, lang, SIZES[size])  # each signed-in role in its own browser: one token per storage
    desk = context(browser, lang, SIZES[size])
    try:
        page = ctx.new_page()
        page.goto(svc.url + "/ui/")
        page.wait_for_selector("#login-form")
        look(page, "sign-in")
        page.goto(svc.url + "/ui/aftercare")
        look(page, "aftercare, all")
        page.goto(svc.url + "/ui/aftercare/slachtofferhulp")
        look(page, "aftercare, one chosen")

        page.goto(svc.url + "/walk")
        page.wait_for_selector("#walk-form:visible")
        page.wait_for_selector("#walk-map svg path")
        look(page, "walk, open")
        with svc.http(OPERATOR) as op:
            assert op.put("/api/v1/walk/override", json={"state": "closed"}).status_code == 200
        page.reload()
        page.wait_for_selector("#walk-closed:visible")
        look(page, "walk, closed")
        with svc.http(OPERATOR) as op:
            assert op.put("/api/v1/walk/override", json={"state": "hours"}).status_code == 200

        # The responder: nothing on, an alarm on screen, then the same alarm accepted.
        anna = login(phone.new_page(), svc.url, ANNA, "/ui/responder")
        anna.wait_for_selector("#screen .duty.is-on")
        anna.wait_for_selector("#screen .idle")
        look(anna, "responder, idle")
        iid = alarm(world)
        anna.wait_for_selector(f"[data-alarm-id='{iid}']", timeout=3000)
        anna.wait_for_selector(".alarm-map svg path")
        look(anna, "responder, alarm on screen")
        anna.click("[data-action=accept]")
        anna.wait_for_selector(f"[data-engaged-id='{iid}']")
        anna.wait_for_selector(".engaged .alarm-map svg path")
        look(anna, "responder, incident accepted")

        # A person follows their walk-me-home request; Anna, free again, is offered it.
        close_all(world)
        doc = _walk(world, f"06 1234 56{list(SIZES).index(size)}{list(LOCALES).index(lang)}")
        page.evaluate(
            "([r, s]) => localStorage.setItem('nightwatch.walk', JSON.stringify({reference: r, secret: s}))",
            [doc["reference"], doc["secret"]],
        )
        page.reload()
        page.wait_for_selector("[data-walk-state][data-status]")
        look(page, "walk, following a request")
        anna.wait_for_selector("[data-alarm-id][data-kind=escort]", timeout=3000)
        anna.wait_for_selector(".alarm .alarm-map svg path")
        look(anna, "responder, a walk-me-home request")

        # The operator: the board with both incidents, then each dialog open.
        board = login(desk.new_page(), svc.url, OPERATOR, "/ui/operator")
        board.wait_for_selector(f"#board [data-incident='{iid}']")
        board.wait_for_selector("#op-map .nw-gw-on")
        board.wait_for_selector("#health dd")
        board.wait_for_selector("#walk-desk [data-walk-now]")
        board.wait_for_selector("#registries table")
        look(board, "operator, board")
        board.locator("#board [data-handover]").first.click()
        board.wait_for_selector("#handover[open] [data-handover-status]:not(:empty)")
        look(board, "operator, hand-over dialog")
        board.keyboard.press("Escape")
        board.wait_for_selector("#handover", state="hidden")
        board.click("[data-intake-open]")
        board.wait_for_selector("#intake[open]")
        look(board, "operator, new request dialog")
        board.click("[data-intake-cancel]")
        # A patrol zone: the drawing step under the map, then the form that names it and binds people to it.
        board.click("[data-zone-draw]")
        board.wait_for_selector("[data-zone-drawing]:visible")
        look(board, "operator, drawing a zone")
        _draw_corners(board)
        board.click("[data-zone-finish]")
        board.wait_for_selector("[data-zone-form]:visible [data-zone-responders] label")
        look(board, "operator, binding a zone")
        board.click("[data-zone-form] [data-zone-cancel]")
    finally:
        for c in (ctx, phone, desk):
            c.close()
        close_all(world)
    assert not problems, "\n".join(problems)


def _draw_corners(page: Page) -> None:
    """Clicks on the map until the zone being drawn has three corners: a click that lands on a marker, or under
    the sticky header, is not the map's, so places are tried until three are taken."""
    page.locator("#op-map").scroll_into_view_if_needed()
    box = page.locator("#op-map").bounding_box()
    assert box is not None
    for fx, fy in ((0.2, 0.5), (0.8, 0.5), (0.5, 0.85), (0.3, 0.7), (0.7, 0.75), (0.5, 0.6), (0.25, 0.9)):
        if page.locator("[data-zone-finish]").is_enabled():
            return
        at = [box["x"] + fx * box["width"], box["y"] + fy * box["height"]]
        if page.evaluate("([x, y]) => !!document.elementFromPoint(x, y)?.closest('#op-map')", at):
            page.mouse.click(*at)
    assert page.locator("[data-zone-finish]").is_enabled()
