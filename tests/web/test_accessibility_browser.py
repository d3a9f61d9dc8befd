"""Accessibility of the web app in a real browser (Debian's Chromium driven by Playwright), against the real dispatch
service on a real Mosquitto: axe-core finds no violation on any page, in Dutch and in English, on a phone and on a
desk, with the states people meet (an alarm on screen, an incident accepted, the board with its dialogs open, the
walk-me-home page open, closed and following a request). Then one test for each fault found by hand in Chromium."""

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize

from basestation.dispatch import i18n
from basestation.dispatch.web import screens
from harness.brokers import start_broker
from harness.dispatch import LiveService
from protocol.constants import EVENT_CANCEL, EVENT_SOS
from tests.web import axe
from tests.web.conftest import DESK, NEEDS_BROWSER, PHONE, login, until
from tests.web.live import ANNA, OPERATOR, PROVISION, Gateways, Ring, gateways_online, provisioned, web_service

pytestmark = [*NEEDS_BROWSER, pytest.mark.skipif(not axe.AXE.is_file(), reason="needs axe-core: run `npm ci`")]
ANNA_AT = (52.1575, 4.4868)  # by the Pieterskerk: alarms heard at the Breestraat reach her first
LOCALES = {"nl": "nl-NL", "en": "en-GB"}
SIZES = {"phone": PHONE, "desk": DESK}


@dataclass
class World:
    svc: LiveService
    gateways: Gateways
    ring: Ring


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("a11y")
    with start_broker(tmp / "broker") as broker, _roomy(web_service(broker, tmp)) as svc:
        with svc.http(PROVISION) as prov, svc.http(OPERATOR) as op:
            ring = provisioned(prov, 81)[81]
            anna = {"name": "Anna de Vries", "language": "nl", "skills": ["first_aid", "patrol"]}
            assert op.put("/api/v1/responders/anna", json=anna).status_code == 200
        gateways = gateways_online(broker, svc)
        with svc.http(ANNA) as a:
            assert a.put("/api/v1/me/duty", json={"on_duty": True, "lat": ANNA_AT[0], "lon": ANNA_AT[1]}).is_success
        yield World(svc, gateways, ring)
        gateways.close()


def _roomy(svc: LiveService) -> LiveService:
    # Every language and size asks the walk page once or more from 127.0.0.1: room for all of them.
    svc.settings = svc.settings.model_copy(update={"walk_per_address_hour": 1000, "walk_per_phone_hour": 100})
    return svc


def _context(browser: Browser, lang: str, size: ViewportSize, **extra: Any) -> BrowserContext:
    return browser.new_context(
        locale=LOCALES[lang], viewport=size, device_scale_factor=1, timezone_id="Europe/Amsterdam", **extra
    )


def _alarm(world: World) -> str:
    """An SOS from the ring, heard at the Breestraat: offered to Anna. Its incident id."""
    d = world.svc.dispatcher
    assert d is not None
    before = set(d.state.incidents)
    frame, _ = world.ring.frame(EVENT_SOS)
    world.gateways.uplink("gw-breestraat", frame, rssi=-70)
    until(lambda: set(d.state.incidents) - before)
    (iid,) = set(d.state.incidents) - before
    return iid


def _close_all(world: World) -> None:
    """Resolve whatever is still open, so the next alarm is a new incident on a clean screen."""
    d = world.svc.dispatcher
    assert d is not None
    with world.svc.http(OPERATOR) as op:
        for inc in list(d.state.incidents.values()):
            if inc.state not in ("resolved", "cancelled"):
                op.post(f"/api/v1/incidents/{inc.id}/resolve", json={})


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

    _close_all(world)
    ctx = _context(browser, lang, SIZES[size])
    phone = _context(browser, lang, SIZES[size])  # each signed-in role in its own browser: one token per storage
    desk = _context(browser, lang, SIZES[size])
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
        iid = _alarm(world)
        anna.wait_for_selector(f"[data-alarm-id='{iid}']", timeout=3000)
        anna.wait_for_selector(".alarm-map svg path")
        look(anna, "responder, alarm on screen")
        anna.click("[data-action=accept]")
        anna.wait_for_selector(f"[data-engaged-id='{iid}']")
        anna.wait_for_selector(".engaged .alarm-map svg path")
        look(anna, "responder, incident accepted")

        # A person follows their walk-me-home request; Anna, free again, is offered it.
        _close_all(world)
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
        _close_all(world)
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


# -- one test for each fault found by hand ---------------------------------------------------------------------


def _anna(browser: Browser, world: World, lang: str = "nl", size: ViewportSize = PHONE, **extra: Any) -> Page:
    _close_all(world)
    page = login(_context(browser, lang, size, **extra).new_page(), world.svc.url, ANNA, "/ui/responder")
    page.wait_for_selector("#screen .duty.is-on")
    return page


def _board(browser: Browser, world: World, lang: str = "nl") -> Page:
    page = login(_context(browser, lang, DESK).new_page(), world.svc.url, OPERATOR, "/ui/operator")
    page.wait_for_selector("#board .board")
    return page


def _inside(page: Page, selector: str) -> None:
    box = page.locator(selector).bounding_box()
    size = page.viewport_size
    assert box is not None and size is not None
    assert box["x"] >= 0 and box["x"] + box["width"] <= size["width"], (selector, box)
    assert box["y"] >= 0 and box["y"] + box["height"] <= size["height"], (selector, box)


def test_the_decline_button_stays_on_a_phone_screen_in_dutch(world: World, browser: Browser) -> None:
    page = _anna(browser, world, "nl")
    try:
        iid = _alarm(world)
        page.wait_for_selector(f"[data-alarm-id='{iid}']", timeout=3000)
        assert page.inner_text("[data-action=decline]").strip().endswith("Weigeren")
        for button in ("accept", "decline"):
            _inside(page, f"[data-action={button}]")
            # The words fit inside their button too: nothing cut off or spilling over its border.
            assert page.evaluate(
                f"(b => b.scrollWidth <= b.clientWidth)(document.querySelector('[data-action={button}]'))"
            )
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    finally:
        page.context.close()


def test_focus_stays_on_accept_when_a_second_gateway_refines_the_location(world: World, browser: Browser) -> None:
    page = _anna(browser, world, "en")
    d = world.svc.dispatcher
    assert d is not None
    try:
        frame, _ = world.ring.frame(EVENT_SOS)
        world.gateways.uplink("gw-breestraat", frame, rssi=-70)
        page.wait_for_selector("[data-alarm-id]", timeout=3000)
        iid = page.get_attribute("[data-alarm-id]", "data-alarm-id")
        page.wait_for_function("document.activeElement?.dataset.action === 'accept'")
        radius = page.get_attribute(".alarm-map", "data-radius")
        page.evaluate("window.acceptBefore = document.querySelector('[data-action=accept]')")
        # The same frame heard by a second gateway: the place is worked out again and the alarm drawn anew.
        world.gateways.uplink("gw-hooglandse", frame, rssi=-90)
        page.wait_for_function("document.querySelector('[data-action=accept]') !== window.acceptBefore", timeout=3000)
        assert page.get_attribute(".alarm-map", "data-radius") != radius  # refined, not just drawn again
        assert page.evaluate("document.activeElement.dataset.action") == "accept"
        assert page.evaluate("document.activeElement.dataset.id") == iid
    finally:
        page.context.close()


def test_a_stand_down_does_not_push_a_new_alarm_below_the_fold(world: World, browser: Browser) -> None:
    page = _anna(browser, world, "nl")
    try:
        ring = world.ring
        frame, counter = ring.frame(EVENT_SOS)
        world.gateways.uplink("gw-breestraat", frame, rssi=-70)
        first = page.wait_for_selector("[data-alarm-id]", timeout=3000)
        assert first is not None
        first_id = first.get_attribute("data-alarm-id")
        cancel, _ = ring.frame(EVENT_CANCEL, aux=ring.counter + 1 - counter)
        world.gateways.uplink("gw-breestraat", cancel, rssi=-70)
        page.wait_for_selector(f"[data-standdown-id='{first_id}']", timeout=3000)
        page.evaluate("window.scrollTo(0, document.body.scrollHeight)")  # read down to the stand-down

        iid = _alarm(world)
        page.wait_for_selector(f"[data-alarm-id='{iid}']", timeout=3000)
        # The alarm comes first, on screen and in the order a screen reader reads; the stand-down says nothing
        # over it (no alert of its own) until the alarm is answered.
        order = page.evaluate(
            "[...document.querySelectorAll('#screen [data-alarm-id], #screen [data-standdown-id]')]"
            ".map(e => e.dataset.alarmId ? 'alarm' : 'standdown')"
        )
        assert order == ["alarm", "standdown"]
        assert page.get_attribute(f"[data-standdown-id='{first_id}']", "role") is None
        _inside(page, ".alarm-title")
        _inside(page, "[data-action=accept]")
        _inside(page, "[data-action=decline]")
        axe.check(page, "a new alarm over a stand-down")
        page.click("[data-action=decline]")
        page.wait_for_selector("[data-alarm-id]", state="detached")
        assert page.get_attribute(f"[data-standdown-id='{first_id}']", "role") == "alert"
    finally:
        page.context.close()


@pytest.mark.parametrize(
    ("lang", "own", "other", "other_name"),
    [("nl", "Nederlands", "en", "English"), ("en", "English", "nl", "Nederlands")],
)
def test_the_language_switch_names_the_page_language_then_links_the_other(
    world: World, browser: Browser, lang: str, own: str, other: str, other_name: str
) -> None:
    ctx = _context(browser, lang, PHONE)
    try:
        page = ctx.new_page()
        page.goto(world.svc.url + "/ui/")
        nav = page.locator("nav.lang")
        assert nav.get_attribute("aria-label") == {"nl": "Taal", "en": "Language"}[lang]
        assert [" ".join(x.split()) for x in nav.locator(":scope > *").all_inner_texts()] == [own, other_name]
        current = nav.locator("[aria-current]")
        assert current.inner_text() == own and current.get_attribute("lang") == lang
        assert current.evaluate("e => e.tagName") != "A"  # the page's own language is no link
        link = nav.locator("a")
        assert link.count() == 1 and link.inner_text() == other_name
        assert link.get_attribute("lang") == other and link.get_attribute("hreflang") == other
        link.click()
        page.wait_for_selector(f"html[lang={other}]")
        assert page.locator("nav.lang [aria-current]").inner_text() == other_name
    finally:
        ctx.close()


def test_skills_are_words_in_the_page_language(world: World, browser: Browser) -> None:
    for lang, words in (("nl", "EHBO, nachtpatrouille"), ("en", "first aid, night patrol")):
        board = _board(browser, world, lang)
        try:
            board.wait_for_selector("#registries [data-skills]")
            assert board.inner_text("#registries [data-skills]") == words
            assert "first_aid" not in board.inner_text("#registries")
        finally:
            board.context.close()


def test_a_refusal_from_the_server_is_said_in_dutch_with_the_servers_words_below(
    world: World, browser: Browser
) -> None:
    page = _anna(browser, world, "nl")
    try:
        iid = _alarm(world)
        page.wait_for_selector(f"[data-alarm-id='{iid}']", timeout=3000)
        # The screen is held as it is (no re-render), and meanwhile the operator closes the alarm: Accept is
        # refused by the real server, in its own English words.
        page.route("**/ui/partials/responder", lambda route: route.abort())
        with world.svc.http(OPERATOR) as op:
            assert op.post(f"/api/v1/incidents/{iid}/resolve", json={}).status_code == 200
        page.click("[data-action=accept]")
        toast = page.wait_for_selector("#toast:visible", timeout=3000)
        assert toast is not None
        said = toast.query_selector(":scope > span:first-child")
        detail = toast.query_selector(".toast-detail")
        assert said is not None and detail is not None
        dutch = {i18n.text("nl", k) for k in ("a11y.error.conflict", "a11y.error.gone")}
        assert said.inner_text() in dutch
        assert detail.get_attribute("lang") == "en"
        assert detail.inner_text().startswith("Melding van de server: ") and len(detail.inner_text()) > 24
        assert "That did not work" not in toast.inner_text()
    finally:
        page.context.close()


def test_resolving_says_it_is_done_and_keeps_focus_on_the_page(world: World, browser: Browser) -> None:
    page = _anna(browser, world, "en")
    try:
        iid = _alarm(world)
        page.wait_for_selector(f"[data-alarm-id='{iid}']", timeout=3000)
        page.click("[data-action=accept]")
        page.wait_for_selector(f"[data-resolve='{iid}']")
        page.click(f"[data-resolve='{iid}'] button[type=submit]")
        done = page.wait_for_selector("#done:visible", timeout=3000)
        assert done is not None and done.inner_text() == f"Request #{iid} is resolved."
        assert done.get_attribute("role") == "status"
        assert page.evaluate("document.activeElement.id") == "done"
        page.wait_for_selector(f"[data-engaged-id='{iid}']", state="detached", timeout=3000)
        assert world.svc.dispatcher is not None and world.svc.dispatcher.state.incidents[iid].state == "resolved"
    finally:
        page.context.close()


def test_numbers_are_written_as_the_page_language_writes_them(world: World, browser: Browser) -> None:
    assert i18n.number("nl", 3.8, 1) == "3,8" and i18n.number("en", 3.8, 1) == "3.8"
    assert i18n.number("nl", 12345) == "12.345" and i18n.number("en", 12345.67, 1) == "12,345.7"
    assert screens.distance(i18n.translator("nl"), 1520.0) == "1,5 km"
    assert screens.distance(i18n.translator("en"), 1520.0) == "1.5 km"
    board = _board(browser, world, "nl")
    try:
        # The rate needs two looks at the counters, 5 s apart: messages flow in between.
        for _ in range(3):
            world.gateways.uplink("gw-breestraat", world.ring.frame(EVENT_SOS)[0], rssi=-70)
        board.wait_for_selector("#health dd:has-text('berichten/s')", timeout=12000)
        rate = board.inner_text("#health dl > div:first-child dd")
        assert re.fullmatch(r"\d+(\.\d{3})*,\d berichten/s", rate), rate
    finally:
        board.context.close()
        _close_all(world)


def test_the_legend_has_the_escalated_marker(world: World, browser: Browser) -> None:
    _close_all(world)
    board = _board(browser, world, "nl")
    try:
        iid = _alarm(world)
        board.click(f"#board [data-incident='{iid}'] [data-action=escalate]")
        board.wait_for_selector(f"#board [data-incident='{iid}'][data-state=escalated]", timeout=3000)
        marker = board.wait_for_selector("#op-map .nw-inc-escalated", timeout=3000)
        assert marker is not None and "\u25b2\u25b2" in marker.inner_text()
        item = board.locator(".legend li:has(.l-esc)")
        assert item.count() == 1
        assert "\u25b2\u25b2" in item.locator(".l-esc").inner_text()
        assert item.inner_text().endswith("alarm opgeschaald")
    finally:
        board.context.close()
        _close_all(world)


def test_every_page_has_exactly_one_level_one_heading(world: World, browser: Browser) -> None:
    ctx = _context(browser, "en", PHONE)
    try:
        page = ctx.new_page()
        for path in ("/ui/", "/ui/aftercare", "/walk"):
            page.goto(world.svc.url + path)
            assert page.locator("h1").count() == 1, path
    finally:
        ctx.close()
    page = _anna(browser, world, "en")
    board = _board(browser, world, "en")
    try:
        assert page.locator("h1").count() == 1 and page.inner_text("h1") == "Responder"
        assert board.locator("h1").count() == 1 and board.inner_text("h1") == "Operator"
        iid = _alarm(world)
        page.wait_for_selector(f"[data-alarm-id='{iid}']", timeout=3000)
        assert page.locator("h1").count() == 1  # the alarm's title is a heading under it, not a second page title
        assert page.locator("#alarm-title").evaluate("e => e.tagName") == "H2"
    finally:
        page.context.close()
        board.context.close()
        _close_all(world)


def test_no_map_is_an_image_with_controls_inside(world: World, browser: Browser) -> None:
    page = _anna(browser, world, "en")
    board = _board(browser, world, "en")
    try:
        iid = _alarm(world)
        page.wait_for_selector(f"[data-alarm-id='{iid}'] .alarm-map .leaflet-control-zoom-in", timeout=3000)
        board.wait_for_selector("#op-map .leaflet-control-zoom-in")
        for p, selector in ((page, ".alarm-map"), (board, "#op-map")):
            assert p.locator("[role=img] a, [role=img] button, [role=img] [tabindex]").count() == 0
            assert p.get_attribute(selector, "role") == "group"
            assert p.get_attribute(selector, "aria-label") in ("Map of Leiden",)
            assert p.locator(f"{selector} .leaflet-control-zoom-in").count() == 1  # the controls are still there
    finally:
        page.context.close()
        board.context.close()
        _close_all(world)


def test_turning_on_notifications_gives_up_with_a_clear_message(world: World, browser: Browser) -> None:
    page = _anna(browser, world, "nl", PHONE, permissions=["notifications"])
    try:
        # A service worker that never gets ready, and a server with Web Push set up.
        page.add_init_script(
            "Object.defineProperty(ServiceWorkerContainer.prototype, 'ready', {get: () => new Promise(() => {})})"
        )
        page.route("**/api/v1/push/public-key", lambda r: r.fulfill(json={"key": "BEl62iUYgUivxIkv69yViEuiBIa40HI"}))
        page.clock.install()
        page.reload()
        page.wait_for_selector("#screen [data-push]")
        page.click("[data-push]")
        page.wait_for_selector("[data-push]:disabled")
        page.clock.run_for(16_000)
        toast = page.wait_for_selector("#toast:visible", timeout=3000)
        assert toast is not None and toast.inner_text() == i18n.text("nl", "a11y.push_timeout")
        page.wait_for_selector("[data-push]:enabled")
    finally:
        page.context.close()
