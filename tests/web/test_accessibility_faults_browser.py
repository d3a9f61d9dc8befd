"""Accessibility of the web app in a real browser (Debian's Chromium driven by Playwright), against the real dispatch
service on a real Mosquitto: one test for each fault found by hand in Chromium (buttons that must stay on a phone's
screen, focus kept through a redraw, an alarm above a stand-down, the language switch, words and numbers in the
page's language, refusals and confirmations said, one level-one heading, maps that are no images, a clear message
when notifications cannot be turned on). axe-core over every page is test_accessibility_axe_browser.py's."""

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, ViewportSize

from basestation.dispatch import i18n
from basestation.dispatch.web import screens
from protocol.constants import EVENT_CANCEL, EVENT_SOS
from tests.web import axe
from tests.web.a11y import NEEDS_AXE, World, alarm, close_all, context, served
from tests.web.live import ANNA, OPERATOR
from tests.web.pages import DESK, PHONE, login

pytestmark = NEEDS_AXE


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with served(tmp_path_factory.mktemp("a11y")) as w:
        yield w


def _anna(browser: Browser, world: World, lang: str = "nl", size: ViewportSize = PHONE, **extra: Any) -> Page:
    close_all(world)
    page = login(context(browser, lang, size, **extra).new_page(), world.svc.url, ANNA, "/ui/responder")
    page.wait_for_selector("#screen .duty.is-on")
    return page


def _board(browser: Browser, world: World, lang: str = "nl") -> Page:
    page = login(context(browser, lang, DESK).new_page(), world.svc.url, OPERATOR, "/ui/operator")
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
        iid = alarm(world)
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

        iid = alarm(world)
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
    ctx = context(browser, lang, PHONE)
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
        iid = alarm(world)
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
        iid = alarm(world)
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
        close_all(world)


def test_the_legend_has_the_escalated_marker(world: World, browser: Browser) -> None:
    close_all(world)
    board = _board(browser, world, "nl")
    try:
        iid = alarm(world)
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
        close_all(world)


def test_every_page_has_exactly_one_level_one_heading(world: World, browser: Browser) -> None:
    ctx = context(browser, "en", PHONE)
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
        iid = alarm(world)
        page.wait_for_selector(f"[data-alarm-id='{iid}']", timeout=3000)
        assert page.locator("h1").count() == 1  # the alarm's title is a heading under it, not a second page title
        assert page.locator("#alarm-title").evaluate("e => e.tagName") == "H2"
    finally:
        page.context.close()
        board.context.close()
        close_all(world)


def test_no_map_is_an_image_with_controls_inside(world: World, browser: Browser) -> None:
    page = _anna(browser, world, "en")
    board = _board(browser, world, "en")
    try:
        iid = alarm(world)
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
        close_all(world)


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
