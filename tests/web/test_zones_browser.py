"""Patrol zones on the operator's board, in a real browser (Debian's Chromium driven by Playwright) against the
real dispatch service and a real broker: the operator draws a zone by clicking the map, binds a responder to it,
and a key ring's alarm inside it is offered to that responder although another is nearer; the zone is still
there after a reload; its binding is changed and it is removed, all from the board."""

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from basestation.dispatch.core.geo import distance_m
from basestation.dispatch.core.zones import Zone
from harness.brokers import start_broker
from harness.dispatch import LiveService
from protocol.constants import EVENT_SOS
from tests.web import live, pages
from tests.web.conftest import NEEDS_BROWSER

pytestmark = NEEDS_BROWSER

HEARD_AT = live.GATEWAYS["gw-breestraat"]  # an alarm heard by this gateway alone is placed on it
BEN_AT = (52.1591, 4.4897)  # ~30 m from it
ANNA_AT = (52.1575, 4.4856)  # ~300 m from it
# The zone's corners around the gateway, about 130 m each way.
CORNERS = [
    (HEARD_AT[0] - 0.0012, HEARD_AT[1] - 0.002),
    (HEARD_AT[0] - 0.0012, HEARD_AT[1] + 0.002),
    (HEARD_AT[0] + 0.0012, HEARD_AT[1] + 0.002),
    (HEARD_AT[0] + 0.0012, HEARD_AT[1] - 0.002),
]
# The board's map as map.js hands it to zones.js, kept for the test to turn places into pixels.
KEEP_MAP = "document.addEventListener('nw:operator-map', (e) => { window.nwTestMap = e.detail; });"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[live.World]:
    tmp = tmp_path_factory.mktemp("zones")
    with start_broker(tmp / "broker") as broker, live.web_service(broker, tmp) as svc:
        responders = {
            rid: {"name": name, "skills": ["patrol"]}
            for rid, name in (("anna", "Anna de Vries"), ("ben", "Ben Bakker"))
        }
        with live.city(broker, svc, (91,), responders) as world:
            yield world


def _board(browser: Browser, svc: LiveService) -> Page:
    ctx = pages.new_context(browser, "en-GB", pages.DESK)
    ctx.add_init_script(KEEP_MAP)
    page = pages.login(ctx.new_page(), svc.url, live.OPERATOR, "/ui/operator")
    page.wait_for_selector("#op-map .nw-gw-on")
    page.wait_for_function("window.nwTestMap !== undefined")
    page.wait_for_selector("[data-zone-list] li")
    return page


def _click_map(page: Page, lat: float, lon: float) -> None:
    """A mouse click on the map at a place: no keyboard, as an operator's hand does it."""
    # The panel's buttons are under the map: clicking them scrolled it out of view.
    page.evaluate("window.scrollTo(0, 0)")
    x, y = page.evaluate(
        "([lat, lon]) => { const p = window.nwTestMap.latLngToContainerPoint([lat, lon]); return [p.x, p.y]; }",
        [lat, lon],
    )
    box = page.locator("#op-map").bounding_box()
    assert box is not None
    assert 0 < x < box["width"] and 0 < y < box["height"], "the place is off the map's view"
    at = [box["x"] + x, box["y"] + y]
    assert page.evaluate("([x, y]) => !!document.elementFromPoint(x, y)?.closest('#op-map')", at), "covered"
    page.mouse.click(*at)


def _zones(svc: LiveService) -> list[dict[str, Any]]:
    with svc.http(live.OPERATOR) as op:
        found: list[dict[str, Any]] = op.get("/api/v1/zones").json()
        return found


def test_an_operator_draws_a_zone_and_its_alarm_goes_to_the_bound_responder(
    world: live.World, browser: Browser
) -> None:
    svc = world.svc
    d = svc.dispatcher
    assert d is not None
    board = _board(browser, svc)
    try:
        # The map settles on the centre before the corners are clicked.
        board.wait_for_selector("#op-map svg path")
        board.wait_for_timeout(500)
        board.click("[data-zone-draw]")
        board.wait_for_selector("[data-zone-drawing]:visible")
        assert board.locator("[data-zone-finish]").is_disabled()
        for i, (lat, lon) in enumerate(CORNERS):
            _click_map(board, lat, lon)
            board.wait_for_selector(f"[data-zone-count]:has-text('{i + 1} points')")
        board.click("[data-zone-finish]")
        board.wait_for_selector("[data-zone-form]:visible")
        board.fill("#zone-name", "Breestraat")
        board.check("[data-zone-form] input[name=responders][value=anna]")
        board.click("[data-zone-form] button[type=submit]")
        board.wait_for_selector("[data-zone-list] li[data-zone]:has-text('Breestraat')")
        board.wait_for_selector("#op-map path.nw-zone")
        assert "Anna de Vries" in board.inner_text("[data-zone-list] li[data-zone]")

        (zone,) = _zones(svc)
        assert zone["name"] == "Breestraat" and zone["responders"] == ["anna"] and len(zone["polygon"]) == 4
        assert Zone.from_dict(zone).contains(*HEARD_AT)
        for got, want in zip(zone["polygon"], CORNERS, strict=True):
            assert distance_m(got[0], got[1], *want) < 15  # within a few pixels of each corner

        # Ben is by the gateway, Anna some 300 m away; only Anna is bound to the zone.
        for token, at in ((live.BEN, BEN_AT), (live.ANNA, ANNA_AT)):
            with svc.http(token) as who:
                assert who.put("/api/v1/me/duty", json={"on_duty": True, "lat": at[0], "lon": at[1]}).is_success
        assert distance_m(*HEARD_AT, *BEN_AT) < distance_m(*HEARD_AT, *ANNA_AT)
        before = set(d.state.incidents)
        frame, _ = world.rings[91].frame(EVENT_SOS)
        world.gateways.uplink("gw-breestraat", frame, rssi=-70)
        pages.until(lambda: set(d.state.incidents) - before)
        (iid,) = set(d.state.incidents) - before
        inc = d.state.incidents[iid]
        assert (inc.lat, inc.lon) == HEARD_AT
        assert inc.offered_to == ["anna"]
        board.wait_for_selector(f"#board [data-incident='{iid}']")
        board.evaluate("window.scrollTo(0, 0)")  # the map with the zone drawn on it, the alarm inside
        board.wait_for_timeout(300)
        board.screenshot(path=str(pages.SCREENSHOTS / "operator-zones.png"))

        # A reload finds the zone where it was.
        board.reload()
        board.wait_for_selector("#op-map path.nw-zone")
        board.wait_for_selector("[data-zone-list] li[data-zone]:has-text('Breestraat')")
    finally:
        board.context.close()


def test_the_operator_changes_a_zones_binding_and_removes_it(world: live.World, browser: Browser) -> None:
    svc = world.svc
    if not _zones(svc):
        with svc.http(live.OPERATOR) as op:
            body = {"name": "Breestraat", "polygon": [list(c) for c in CORNERS], "responders": ["anna"]}
            assert op.put("/api/v1/zones/z-breestraat", json=body).status_code == 200
    board = _board(browser, svc)
    try:
        (zone,) = _zones(svc)
        board.click(f"[data-zone-edit='{zone['id']}']")
        board.wait_for_selector("[data-zone-form]:visible")
        assert board.input_value("#zone-name") == "Breestraat"
        assert board.is_checked("[data-zone-form] input[name=responders][value=anna]")
        board.uncheck("[data-zone-form] input[name=responders][value=anna]")
        board.check("[data-zone-form] input[name=responders][value=ben]")
        board.click("[data-zone-form] button[type=submit]")
        board.wait_for_selector(f"[data-zone='{zone['id']}']:has-text('Ben Bakker')")
        (changed,) = _zones(svc)
        assert changed["responders"] == ["ben"] and changed["polygon"] == zone["polygon"]

        board.click(f"[data-zone-remove='{zone['id']}']")
        board.wait_for_selector(f"[data-zone='{zone['id']}']", state="detached")
        board.wait_for_selector("#op-map path.nw-zone", state="detached")
        assert _zones(svc) == []
    finally:
        board.context.close()


def test_a_zone_is_drawn_without_a_pointer(world: live.World, browser: Browser) -> None:
    """Keyboard only: the map is moved with the arrow keys and its centre added as each corner."""
    svc = world.svc
    board = _board(browser, svc)
    try:
        board.wait_for_selector("#op-map svg path")
        board.focus("[data-zone-draw]")
        board.keyboard.press("Enter")
        board.wait_for_selector("[data-zone-drawing]:visible")
        for i, key in enumerate(("ArrowLeft", "ArrowUp", "ArrowRight")):
            board.focus("#op-map")
            for _ in range(3):
                board.keyboard.press(key)
            board.wait_for_timeout(400)  # the pan's animation ends
            board.focus("[data-zone-centre]")
            board.keyboard.press("Enter")
            board.wait_for_selector(f"[data-zone-count]:has-text('{i + 1} point')")
        board.focus("[data-zone-finish]")
        board.keyboard.press("Enter")
        board.wait_for_selector("[data-zone-form]:visible")
        board.focus("#zone-name")
        board.keyboard.type("Met het toetsenbord")
        board.keyboard.press("Enter")
        board.wait_for_selector("[data-zone-list] li[data-zone]:has-text('Met het toetsenbord')")
        (zone,) = [z for z in _zones(svc) if z["name"] == "Met het toetsenbord"]
        corners = zone["polygon"]
        assert len(corners) == 3 and len({tuple(c) for c in corners}) == 3
    finally:
        board.context.close()
        with svc.http(live.OPERATOR) as op:
            for z in _zones(svc):
                if z["name"] == "Met het toetsenbord":
                    op.delete(f"/api/v1/zones/{z['id']}")
