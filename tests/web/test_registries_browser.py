"""The board's registries in a real browser (Debian's Chromium driven by Playwright) against the real dispatch
service: an operator edits a responder's name and removes a key ring, which leaves the board at once; the confirm
step speaks the page's language and Cancel removes nothing; axe finds nothing with an edit form open."""

import os
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Dialog, Page

from harness.brokers import start_broker
from harness.dispatch import LiveService
from tests.web import axe
from tests.web.conftest import NEEDS_BROWSER
from tests.web.live import OPERATOR, PROVISION, web_service
from tests.web.pages import DESK, login, new_context

pytestmark = NEEDS_BROWSER
RING = 4242


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    tmp = tmp_path_factory.mktemp("registries")
    with start_broker(tmp / "broker") as broker, web_service(broker, tmp) as svc:
        with svc.http(OPERATOR) as op:
            body = {"name": "Anna de Vries", "skills": ["patrol"], "language": "en"}
            assert op.put("/api/v1/responders/anna", json=body).status_code == 200
            assert op.put("/api/v1/gateways/gw-centraal", json={"lat": 52.1664, "lon": 4.4817}).status_code == 200
        with svc.http(PROVISION) as prov:
            ring = {"device_id": RING, "root_key": os.urandom(16).hex(), "label": "Oude Singel"}
            assert prov.post("/api/v1/devices", json=ring).status_code == 201
        yield svc


def _board(browser: Browser, svc: LiveService, locale: str) -> Page:
    page = login(new_context(browser, locale, DESK).new_page(), svc.url, OPERATOR, "/ui/operator")
    page.wait_for_selector("#registries [data-responder='anna']")
    return page


def test_the_operator_edits_a_responders_name_and_removes_a_ring(svc: LiveService, browser: Browser) -> None:
    board = _board(browser, svc, "en-GB")
    try:
        row = "#registries [data-responder='anna']"
        board.click(f"{row} [data-reg-edit]")
        form = "#registries form[data-reg-form=responder][data-id=anna]"
        board.wait_for_selector(f"{form} input[name=name]", state="visible")
        assert board.get_attribute(f"{row} [data-reg-edit]", "aria-expanded") == "true"
        axe.check(board, "the board with a responder's edit form open")
        board.fill(f"{form} input[name=name]", "Anna Jansen")
        board.click(f"{form} button[type=submit]")
        board.wait_for_selector(f"{row} td:first-child:has-text('Anna Jansen')")
        with svc.http(OPERATOR) as op:
            anna = next(r for r in op.get("/api/v1/responders").json() if r["id"] == "anna")
        # Only the name changed: the form sent back what it did not edit.
        assert (anna["name"], anna["skills"], anna["language"]) == ("Anna Jansen", ["patrol"], "en")

        asked: list[str] = []

        def accept(dialog: Dialog) -> None:
            asked.append(dialog.message)
            dialog.accept()

        board.once("dialog", accept)
        board.click(f"#registries [data-device='{RING}'] [data-reg-remove]")
        # Gone from the board at once, not at the next refresh.
        board.wait_for_selector(f"#registries [data-device='{RING}']", state="detached", timeout=2000)
        assert asked and asked[0].startswith(f"Remove key ring {RING} (Oude Singel)?")
        board.wait_for_selector("#toast:has-text('Removed')")
        with svc.http(OPERATOR) as op:
            assert all(d["device_id"] != RING for d in op.get("/api/v1/devices").json())
        # And it stays gone when the panel reloads.
        board.evaluate("document.body.dispatchEvent(new Event('nw:refresh'))")
        board.wait_for_timeout(500)
        assert board.locator(f"#registries [data-device='{RING}']").count() == 0
    finally:
        board.context.close()


def test_the_confirm_step_speaks_dutch_and_cancel_removes_nothing(svc: LiveService, browser: Browser) -> None:
    board = _board(browser, svc, "nl-NL")
    try:
        asked: list[str] = []

        def dismiss(dialog: Dialog) -> None:
            asked.append(dialog.message)
            dialog.dismiss()

        board.once("dialog", dismiss)
        board.click("#registries [data-gateway='gw-centraal'] [data-reg-remove]")
        board.wait_for_timeout(300)
        assert asked and asked[0].startswith("Gateway gw-centraal verwijderen?")
        assert board.locator("#registries [data-gateway='gw-centraal']").count() == 1
        with svc.http(OPERATOR) as op:
            assert "gw-centraal" in {g["id"] for g in op.get("/api/v1/gateways").json()}
    finally:
        board.context.close()
