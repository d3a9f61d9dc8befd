"""The web app in a real browser (Debian's Chromium driven by Playwright) against the real dispatch service and a
real Mosquitto: key rings publish through gateways exactly as in the field, responders and the operator use the
pages as people would. Screenshots of the responder's alarm and the operator's board go to docs/screenshots/."""

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import Browser

from harness.brokers import start_broker
from harness.recorder import Recorder
from protocol import ack
from protocol.constants import ACK_HELP_ON_THE_WAY, EVENT_CANCEL, EVENT_ESCORT, EVENT_SOS
from tests.web import live, pages
from tests.web.conftest import NEEDS_BROWSER

# Where the responders stand: Anna near the Breestraat gateway, Ben by the station, Chloé (night patrol) by the
# Hooglandse Kerk. Each alarm below is heard by one gateway, so the nearest responder is the one standing there.
# Anna stands a little away from her gateway, by the Pieterskerk, so her alarm shows a real distance.
ANNA_AT, BEN_AT, CHLOE_AT = (52.1575, 4.4868), live.GATEWAYS["gw-centraal"], live.GATEWAYS["gw-hooglandse"]

pytestmark = NEEDS_BROWSER


@dataclass
class World(live.World):
    downs: Recorder  # what the service sends down to the key rings


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("web")
    responders = {
        "anna": {"name": "Anna de Vries", "language": "nl", "skills": ["first_aid"]},
        "ben": {"name": "Ben Okafor", "language": "en", "skills": ["security"]},
        "chloe": {"name": "Chloé Martin", "language": "en", "skills": ["patrol"]},
    }
    with (
        start_broker(tmp / "broker") as broker,
        Recorder(broker, ["nightwatch/v1/down/#"]) as downs,
        live.web_service(broker, tmp) as svc,
        live.city(broker, svc, (42, 43, 44), responders) as city,
    ):
        assert svc.dispatcher is not None
        # Chloé (night patrol) has no browser here; she goes on duty through the API.
        with svc.http(live.CHLOE) as chloe:
            r = chloe.put("/api/v1/me/duty", json={"on_duty": True, "lat": CHLOE_AT[0], "lon": CHLOE_AT[1]})
            assert r.status_code == 200, r.text
        yield World(city.svc, city.gateways, city.rings, downs)


def _help_on_the_way(downs: Recorder, ring: live.Ring, counter: int) -> bool:
    for payload in downs.payloads("nightwatch/v1/down/"):
        try:
            got = ack.decode(ring.keys, bytes.fromhex(json.loads(payload)["frame"]), counter)
        except Exception:
            continue
        if got.state == ACK_HELP_ON_THE_WAY:
            return True
    return False


def test_sos_reaches_the_responder_within_a_second_and_accept_shows_everywhere(world: World, browser: Browser) -> None:
    svc = world.svc
    with (
        pages.Session(browser, "en-GB", pages.PHONE, at=ANNA_AT) as anna,
        pages.Session(browser, "en-GB", pages.DESK) as desk,
    ):
        page = anna.login(svc.url, live.ANNA, "/ui/responder")
        page.click("[data-duty=on]")
        page.wait_for_selector(".duty.is-on")
        assert svc.dispatcher is not None and svc.dispatcher.state.responders["anna"].lat == pytest.approx(ANNA_AT[0])
        board = desk.login(svc.url, live.OPERATOR, "/ui/operator")
        board.wait_for_selector("#op-map .nw-gw-on")

        frame, counter = world.rings[42].frame(EVENT_SOS)
        t0 = time.perf_counter()
        world.gateways.uplink("gw-breestraat", frame, rssi=-70)
        alarm = page.wait_for_selector("[data-alarm-id='42-1']", timeout=1000)
        latency = time.perf_counter() - t0
        print(f"SOS published to alarm on the responder's page: {latency * 1000:.0f} ms")
        assert alarm is not None and latency < 1.0
        text = alarm.inner_text()
        assert "SOS" in text and "Accept" in text and "Decline" in text and "ago" in text
        assert page.locator(".alarm .facts").inner_text().count(" m") >= 1  # a distance and a radius in metres
        page.wait_for_selector(".alarm-map svg path")  # the outline of Leiden, with no tiles
        page.wait_for_selector(".alarm-map .leaflet-control-scale-line")
        page.wait_for_timeout(400)  # let the pulse settle for the picture
        page.screenshot(path=str(pages.SCREENSHOTS / "responder-alarm.png"))

        board.wait_for_selector("#board [data-incident='42-1'][data-state=offered]")
        page.click("[data-action=accept]")
        page.wait_for_selector("[data-engaged-id='42-1']")
        assert page.locator("[data-alarm-id]").count() == 0
        # The walking route is a link revealed on demand; nothing is fetched from outside for it.
        page.click(".route summary")
        assert "openstreetmap.org/directions" in (page.get_attribute(".route a", "href") or "")
        # Everywhere: the operator's board and map follow the stream, and the key ring is told.
        board.wait_for_selector("#board [data-incident='42-1'][data-state=accepted]", timeout=2000)
        assert "Anna de Vries" in board.inner_text("#board [data-incident='42-1'] [data-accepted]")
        board.wait_for_selector("#op-map .nw-inc-accepted")
        assert world.downs.wait_for(lambda rec: _help_on_the_way(rec, world.rings[42], counter), timeout=5)

        # A fuller board for the picture: an escort request waiting for the night patrol, a gateway going offline.
        escort, _ = world.rings[44].frame(EVENT_ESCORT)
        world.gateways.uplink("gw-hooglandse", escort, rssi=-75)
        world.gateways.status("gw-morspoort", online=False)
        board.wait_for_selector("#board [data-incident='44-1'][data-state=offered]")
        board.wait_for_selector("#notices .notice-gateway_offline")
        board.wait_for_selector("#op-map .nw-gw-off")
        board.wait_for_selector("#health dd")
        board.wait_for_timeout(300)
        board.screenshot(path=str(pages.SCREENSHOTS / "operator-board.png"))

        # Manual escalation from the board.
        board.click("#board [data-incident='44-1'] [data-action=escalate]")
        board.wait_for_selector("#board [data-incident='44-1'][data-state=escalated]")

        # Resolve with an aftercare referral.
        page.select_option("[data-resolve='42-1'] select", "wellbeing-office")
        page.click("[data-resolve='42-1'] button[type=submit]")
        board.wait_for_selector("#board [data-incident='42-1'][data-state=resolved]")
        assert svc.dispatcher.state.incidents["42-1"].referral == "wellbeing-office"

        for s in (anna, desk):
            assert s.outside() == [], s.outside()
            assert any(u.endswith("/ui/vendor/leaflet/leaflet.js") for u in s.urls)  # served here, not by a CDN


def test_a_cancel_stands_the_responder_down(world: World, browser: Browser) -> None:
    with pages.Session(browser, "nl-NL", pages.PHONE, at=BEN_AT) as ben:
        page = ben.login(world.svc.url, live.BEN, "/ui/responder")
        page.click("[data-duty=on]")
        page.wait_for_selector(".duty.is-on")
        ring = world.rings[43]
        frame, counter = ring.frame(EVENT_SOS)
        world.gateways.uplink("gw-centraal", frame, rssi=-70)
        page.wait_for_selector("[data-alarm-id='43-1']", timeout=1000)
        assert "Accepteren" in page.inner_text(".alarm")  # Dutch: the browser asked for it

        cancel, _ = ring.frame(EVENT_CANCEL, aux=ring.counter + 1 - counter)
        world.gateways.uplink("gw-centraal", cancel, rssi=-70)
        down = page.wait_for_selector("[data-standdown-id='43-1']", timeout=2000)
        assert down is not None and "Niet meer nodig" in down.inner_text()
        assert page.locator("[data-alarm-id='43-1']").count() == 0
        page.click("[data-dismiss='43-1']")
        assert not page.is_visible("[data-standdown-id='43-1']")
        assert ben.outside() == [], ben.outside()


def test_language_follows_the_browser_and_switches(world: World, browser: Browser) -> None:
    with pages.Session(browser, "en-US", pages.PHONE) as s:
        page = s.page
        page.goto(world.svc.url + "/ui/")
        assert page.get_attribute("html", "lang") == "en"
        assert page.inner_text("h1") == "Sign in"
        page.click("a[data-lang=nl]")
        page.wait_for_selector("html[lang=nl]")
        assert page.inner_text("h1") == "Inloggen"
        s.login(world.svc.url, live.ANNA, "/ui/responder")  # the choice outlives the browser's preference
        page.wait_for_selector("#screen .duty")
        assert page.inner_text("[data-logout]") == "Uitloggen"
        assert page.inner_text("#conn").endswith("Live verbonden")
        page.click("a[data-lang=en]")
        page.wait_for_selector("html[lang=en]")
        page.wait_for_selector("#conn[data-live=yes]")
        assert page.inner_text("[data-logout]") == "Sign out"
        assert "on duty" in page.inner_text("#screen .duty").lower()
        assert s.outside() == [], s.outside()
