"""Accounts at run time in a real browser (Debian's Chromium driven by Playwright) against the real dispatch
service: an operator adds a volunteer on the board and shows the sign-in QR code; the volunteer's phone reads the
code off the screen (decoded from a screenshot, as a camera would) and is signed in, goes on duty and is offered a
request and takes it; the operator revokes them, and the phone is signed out at once, with a word why, taken off
duty, and stood down from the request, which is no longer shown as taken."""

import io
from collections.abc import Iterator

import pytest
import zxingcpp
from PIL import Image
from playwright.sync_api import Browser, Dialog, Page

from harness.brokers import start_broker
from harness.dispatch import LiveService
from tests.web import axe, live, pages
from tests.web.conftest import NEEDS_BROWSER

pytestmark = NEEDS_BROWSER
SANNE_AT = (52.1590, 4.4890)  # by the Breestraat


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    tmp = tmp_path_factory.mktemp("roster")
    with start_broker(tmp / "broker") as broker, live.web_service(broker, tmp) as svc:
        yield svc


def _read_qr(page: Page, selector: str) -> str:
    image = Image.open(io.BytesIO(page.locator(selector).screenshot()))
    codes = [c.text for c in zxingcpp.read_barcodes(image) if c.format == zxingcpp.BarcodeFormat.QRCode]
    assert len(codes) == 1, codes
    return str(codes[0])


def _accept(dialog: Dialog) -> None:
    dialog.accept()


def test_add_a_volunteer_sign_in_on_a_phone_and_revoke(svc: LiveService, browser: Browser) -> None:
    board = pages.login(
        pages.new_context(browser, "en-GB", pages.DESK).new_page(), svc.url, live.OPERATOR, "/ui/operator"
    )
    phone_ctx = pages.new_context(
        browser,
        "nl-NL",
        pages.PHONE,
        is_mobile=True,
        has_touch=True,
        at=SANNE_AT,
    )
    phone = phone_ctx.new_page()
    try:
        # The operator adds Sanne on the board.
        board.click("#roster summary")
        board.fill("#roster-name", "Sanne Bakker")
        board.fill("#roster-phone", "+31 6 5555 1234")
        board.select_option("#roster-language", "nl")
        board.check("#roster input[name=skills][value=first_aid]")
        board.fill("#roster-team", "centrum")
        board.click("#roster [data-roster-add] button[type=submit]")
        board.wait_for_selector("#roster-link[open] [data-roster-qr] svg")
        assert "Sanne Bakker" in board.inner_text("#roster-link-title")
        link = board.input_value("[data-roster-link-url]")
        assert link.startswith(svc.url + "/ui/#token=")
        board.screenshot(path=str(pages.SCREENSHOTS / "operator-people.png"))
        if axe.AXE.is_file():
            axe.check(board, "the sign-in link's dialog over the open People panel")

        # Her phone reads the code off the operator's screen, and is signed in as her, in Dutch.
        assert _read_qr(board, "[data-roster-qr]") == link
        board.click("[data-roster-done]")
        assert board.input_value("[data-roster-link-url]") == ""  # the link leaves the page with the dialog
        phone.goto(link)
        phone.wait_for_url("**/ui/responder")
        phone.wait_for_selector("#conn[data-live=yes]", timeout=5000)
        assert "#token" not in phone.url  # wiped from the address bar and history
        phone.click("[data-duty=on]")
        phone.wait_for_selector(".duty.is-on")
        assert svc.dispatcher is not None
        sanne = svc.dispatcher.state.responders["sanne-bakker"]
        assert sanne.on_duty and sanne.skills == ["patrol", "first_aid"] and sanne.language == "nl"
        assert sanne.team == "centrum"

        # A request near her reaches her phone.
        with svc.http(live.OPERATOR) as op:
            call = {"kind": "worried", "callback_number": "+31 6 2222 3333", "lat": 52.1592, "lon": 4.4893}
            inc = op.post("/api/v1/incidents", json=call).json()
        phone.wait_for_selector(f"[data-alarm-id='{inc['id']}']", timeout=5000)
        phone.screenshot(path=str(pages.SCREENSHOTS / "responder-signed-in.png"))
        # She takes it: the board shows her coming.
        phone.click(f"[data-alarm-id='{inc['id']}'] [data-action=accept]")
        board.wait_for_selector(f"[data-incident='{inc['id']}'][data-state=accepted]", timeout=5000)
        if axe.AXE.is_file():
            board.evaluate("document.getElementById('roster').open = true")
            board.wait_for_selector("[data-roster-list] [data-name='Sanne Bakker']")
            axe.check(board, "the People panel with its list")

        # The board lists her with her open connection; the operator revokes her.
        board.evaluate("document.getElementById('roster').open = false")
        board.click("#roster summary")  # read again: the list shows the connection her phone opened
        board.wait_for_function(
            "document.querySelector(\"[data-name='Sanne Bakker']\").textContent.includes('1 open connection')"
        )
        board.once("dialog", _accept)
        board.click("[data-name='Sanne Bakker'] [data-roster-revoke]")

        # At once: her phone is signed out and told why; she is off duty and offered nothing more.
        phone.wait_for_url("**/ui/", timeout=5000)
        phone.wait_for_selector("#login-error:not([hidden])")
        assert "ingetrokken" in phone.inner_text("#login-error")
        d = svc.dispatcher
        pages.until(lambda: not d.state.responders["sanne-bakker"].on_duty)
        # Nobody is coming any more: the request she had taken is no longer shown as taken, it waits for the
        # next who can come or for the desk, and its log says why.
        board.wait_for_selector(f"[data-incident='{inc['id']}']:not([data-state=accepted])", timeout=5000)
        with svc.http(live.OPERATOR) as op:
            doc = op.get(f"/api/v1/incidents/{inc['id']}").json()
        assert "sanne-bakker" not in doc["accepted_by"] and doc["state"] in ("offered", "escalated")
        assert [e["data"]["why"] for e in doc["events"] if e["kind"] == "stood_down"] == ["revoked"]
        board.wait_for_function("!document.querySelector(\"[data-name='Sanne Bakker']\")")
        with svc.http(live.OPERATOR) as op:
            gone = op.get("/api/v1/accounts", params={"revoked": "true"}).json()
        assert [a["revoked_by"] for a in gone if a["name"] == "Sanne Bakker"] == ["operator"]
    finally:
        phone_ctx.close()
        board.context.close()


def test_the_form_says_what_is_wrong_in_the_page_s_language(svc: LiveService, browser: Browser) -> None:
    board = pages.login(
        pages.new_context(browser, "nl-NL", pages.DESK).new_page(), svc.url, live.OPERATOR, "/ui/operator"
    )
    try:
        board.click("#roster summary")
        board.fill("#roster-name", "Piet")
        board.fill("#roster-shift", "25:00-05:00")
        board.click("#roster [data-roster-add] button[type=submit]")
        board.wait_for_selector("[data-roster-error]:not([hidden])")
        assert "shift" in board.inner_text("[data-roster-error]")
        assert board.locator("#roster-link[open]").count() == 0
        with svc.http(live.OPERATOR) as op:
            assert "Piet" not in str(op.get("/api/v1/accounts").json())
    finally:
        board.context.close()
