"""The hand-over to 112 and the 112 notice in a real browser (Debian's Chromium driven by Playwright), against the
real dispatch service on a real Mosquitto, with a monitoring centre listening: the operator hands over an accepted
SOS and a duress from the board and gets the script in both languages, copyable; the board and the responder's
page say, in Dutch and English whichever language they are in, that Nightwatch does not replace 112. The dialog's
picture goes to docs/screenshots/operator-handover.png."""

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest
from playwright.sync_api import Browser

from harness.brokers import start_broker
from harness.dispatch import LiveService
from harness.ports import free_port
from protocol.constants import EVENT_DURESS, EVENT_SOS
from tests.web import live, pages
from tests.web.conftest import NEEDS_BROWSER

pytestmark = NEEDS_BROWSER
MIRA = "mira-operator-token-web-0123"  # a named operator: the hand-over is logged with her name
ANNA_AT = (52.1575, 4.4868)  # by the Pieterskerk, near the Breestraat gateway that hears the alarms


class Centre(BaseHTTPRequestHandler):
    """The monitoring centre: takes every webhook and keeps its body."""

    received: ClassVar[list[dict[str, Any]]] = []  # the server makes a handler per request: kept on the class

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Centre.received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[live.World]:
    tmp = tmp_path_factory.mktemp("handover")
    centre = ThreadingHTTPServer(("127.0.0.1", free_port()), Centre)
    threading.Thread(target=centre.serve_forever, name="centre", daemon=True).start()
    responders = {"anna": {"name": "Anna de Vries", "language": "nl"}}
    with (
        start_broker(tmp / "broker") as broker,
        _with_centre(live.web_service(broker, tmp), centre) as svc,
        live.city(broker, svc, (61, 62), responders) as world,
    ):
        yield world
    centre.shutdown()


def _with_centre(svc: LiveService, centre: ThreadingHTTPServer) -> LiveService:
    host, port = centre.server_address[:2]
    svc.settings = svc.settings.model_copy(
        update={
            "tokens": {**svc.settings.tokens, MIRA: "operator:mira"},
            "escalation_webhook": {"url": f"http://{host!s}:{port}/centre", "secret": "web-centre-secret-0123"},
        }
    )
    return svc


def test_the_112_notice_is_on_the_responders_page_and_the_board_in_both_languages(
    world: live.World, browser: Browser
) -> None:
    phone = pages.new_context(browser, "nl-NL", pages.PHONE)
    desk = pages.new_context(browser, "en-GB", pages.DESK)
    stranger = pages.new_context(browser, "en-US", pages.PHONE)
    try:
        page = pages.login(phone.new_page(), world.svc.url, live.ANNA, "/ui/responder")
        pages.notice_says_both(page, "header", "nl")
        page.click("a[data-lang=en]")
        page.wait_for_selector("html[lang=en]")
        page.wait_for_selector("#conn[data-live=yes]")
        pages.notice_says_both(page, "header", "en")
        board = pages.login(desk.new_page(), world.svc.url, live.OPERATOR, "/ui/operator")
        pages.notice_says_both(board, "header", "en")
        board.click("a[data-lang=nl]")
        board.wait_for_selector("html[lang=nl]")
        pages.notice_says_both(board, "header", "nl")
        # The sign-in page, which everyone sees first, says it too.
        signin = stranger.new_page()
        signin.goto(world.svc.url + "/ui/")
        pages.notice_says_both(signin, "header", "en")
    finally:
        for context in (phone, desk, stranger):
            context.close()


def test_the_operator_hands_an_accepted_sos_and_a_duress_over_to_112(world: live.World, browser: Browser) -> None:
    svc = world.svc
    assert svc.dispatcher is not None
    phone = pages.new_context(browser, "nl-NL", pages.PHONE, at=ANNA_AT)
    desk = pages.new_context(browser, "en-GB", pages.DESK, permissions=["clipboard-read", "clipboard-write"])
    try:
        # Each context keeps the language its browser asks for: the other test's switches were in its own contexts.
        anna = pages.login(phone.new_page(), svc.url, live.ANNA, "/ui/responder")
        assert anna.get_attribute("html", "lang") == "nl"
        anna.click("[data-duty=on]")
        anna.wait_for_selector(".duty.is-on")
        board = pages.login(desk.new_page(), svc.url, MIRA, "/ui/operator")
        assert board.get_attribute("html", "lang") == "en"

        # An SOS reaches Anna full-screen: the alarm covers the page's header, and says 112 again itself.
        frame, _ = world.rings[61].frame(EVENT_SOS)
        world.gateways.uplink("gw-breestraat", frame, rssi=-70)
        anna.wait_for_selector("[data-alarm-id='61-1']", timeout=2000)
        pages.notice_says_both(anna, ".alarm", "nl")
        anna.click("[data-action=accept]")
        anna.wait_for_selector("[data-engaged-id='61-1']")
        pages.notice_says_both(anna, "header", "nl")

        # The operator hands the accepted SOS over: the script in both languages, English (the page's) first.
        row = "#board [data-incident='61-1']"
        board.wait_for_selector(f"{row}[data-state=accepted]", timeout=3000)
        board.click(f"{row} [data-handover]")
        dialog = board.wait_for_selector("#handover[open]", timeout=3000)
        assert dialog is not None
        assert board.get_attribute("#handover", "data-incident") == "61-1"
        assert board.inner_text("#handover [data-handover-id]") == "#61-1"
        en, nl = board.inner_text("#handover [data-script=en]"), board.inner_text("#handover [data-script=nl]")
        assert board.locator("#handover .script").first.get_attribute("lang") == "en"
        assert "What: emergency alarm (SOS)." in en and "On the way: Anna de Vries." in en.splitlines()
        assert "Where: coordinates 52.1" in en and "accurate to about" in en and "(Europe/Amsterdam)" in en
        assert "Wat: noodoproep (SOS)." in nl and "Onderweg: Anna de Vries." in nl.splitlines()
        assert "Status at Nightwatch: a patrol member accepted." in en
        status = board.inner_text("#handover [data-handover-status]")
        assert status.startswith("Recorded at ") and " by mira." in status
        assert "The monitoring centre is sent the same text." in status
        # Copyable: the button puts the script on the clipboard, as it reads.
        board.click("#handover [data-copy=nl]")
        board.wait_for_selector("#handover [data-copy=nl]:has-text('Copied')")
        assert board.evaluate("navigator.clipboard.readText()") == nl
        board.wait_for_timeout(200)
        board.screenshot(path=str(pages.SCREENSHOTS / "operator-handover.png"))

        # Recorded: the log says who, the board marks it, the monitoring centre got the same script.
        board.click("#handover button[value=close]")
        board.wait_for_selector("#handover", state="hidden")
        board.wait_for_selector(f"{row} [data-handed]", timeout=3000)
        assert "handed over to 112: Operator (mira)" in board.inner_text(f"{row} .timeline")
        assert svc.dispatcher.state.incidents["61-1"].state == "accepted"  # handed over, not taken from the patrol
        pages.until(lambda: any(b["event"] == "handover_112" for b in Centre.received))
        sent = next(b["data"] for b in Centre.received if b["event"] == "handover_112")
        assert sent["script"] == {"en": en, "nl": nl} and sent["handed_over_by"] == "operator:mira"

        # A duress, the kind that looks like a cancel on the ring: the script says so plainly, in both languages.
        ring = world.rings[62]
        sos, counter = ring.frame(EVENT_SOS)
        world.gateways.uplink("gw-centraal", sos, rssi=-70)
        duress, _ = ring.frame(EVENT_DURESS, aux=ring.counter + 1 - counter)
        world.gateways.uplink("gw-centraal", duress, rssi=-70)
        row = "#board [data-incident='62-1']"
        board.wait_for_selector(f"{row}.kind-duress", timeout=3000)
        board.click(f"{row} [data-handover]")
        board.wait_for_selector("#handover[open][data-incident='62-1']", timeout=3000)
        en, nl = board.inner_text("#handover [data-script=en]"), board.inner_text("#handover [data-script=nl]")
        assert "What: alarm under duress: the person was forced to cancel the alarm; treat it as real" in en
        assert "Wat: alarm onder dwang" in nl and "behandel het als echt" in nl
        assert board.inner_text("#handover [data-copy=en]") == "Copy"  # a fresh dialog, not the last one's state
        board.keyboard.press("Escape")
        board.wait_for_selector("#handover", state="hidden")
        board.wait_for_selector(f"{row} [data-handed]", timeout=3000)
    finally:
        phone.close()
        desk.close()
