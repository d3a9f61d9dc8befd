"""The operator's phone intake in a real browser (Debian's Chromium driven by Playwright), against the real dispatch
service: "New request" on the board, a click on the map for where, the nearest patrols' distance, and the request
offered to the nearest patrol member, who accepts on her phone and only then sees the callback number. No key ring
is involved: nothing goes down to one. The form's picture goes to docs/screenshots/operator-intake.png."""

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser

from harness.brokers import start_broker
from harness.dispatch import LiveService
from tests.web import live, pages
from tests.web.conftest import NEEDS_BROWSER

pytestmark = NEEDS_BROWSER
ANNA_AT = (52.1575, 4.4868)  # by the Pieterskerk
BEN_AT = (52.1400, 4.5200)  # across town


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    tmp = tmp_path_factory.mktemp("intake")
    with start_broker(tmp / "broker") as broker, live.web_service(broker, tmp) as svc:
        with svc.http(live.OPERATOR) as op:
            for rid, name in (("anna", "Anna de Vries"), ("ben", "Ben Okafor")):
                r = op.put(f"/api/v1/responders/{rid}", json={"name": name, "language": "nl", "skills": ["patrol"]})
                assert r.status_code == 200, r.text
        with svc.http(live.BEN) as ben:
            assert (
                ben.put("/api/v1/me/duty", json={"on_duty": True, "lat": BEN_AT[0], "lon": BEN_AT[1]}).status_code
                == 200
            )
        yield svc


def test_a_phone_call_logged_on_the_board_reaches_the_nearest_patrol_who_accepts(
    svc: LiveService, browser: Browser
) -> None:
    assert svc.dispatcher is not None
    phone = pages.new_context(browser, "nl-NL", pages.PHONE, at=ANNA_AT)
    desk = pages.new_context(browser, "en-GB", pages.DESK)
    try:
        anna = pages.login(phone.new_page(), svc.url, live.ANNA, "/ui/responder")
        anna.click("[data-duty=on]")
        anna.wait_for_selector(".duty.is-on")
        board = pages.login(desk.new_page(), svc.url, live.OPERATOR, "/ui/operator")

        board.click("[data-intake-open]")
        board.wait_for_selector("#intake[open]")
        board.fill("#intake-name", "Sanne")
        board.fill("#intake-callback", "+31 6 1234 5678")
        board.check("#intake input[name=kind][value=worried]")
        # Where: a click on the board's map, beside the form. The nearest patrols are shown with their distance.
        board.wait_for_selector("#op-map.leaflet-container")
        box = board.locator("#op-map").bounding_box()
        assert box is not None
        board.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        board.wait_for_selector("#intake [data-intake-point]:has-text('Point on the map')")
        board.wait_for_selector("#intake [data-intake-nearest]:has-text('Nearest patrols: Anna de Vries')")
        nearest = board.inner_text("#intake [data-intake-nearest]")
        assert "Ben Okafor" in nearest and nearest.index("Anna") < nearest.index("Ben")
        assert " m" in nearest or " km" in nearest
        board.fill("#intake-address", "Kloksteeg 1")
        board.fill("#intake-notes", "Her friend has not answered for an hour")
        board.screenshot(path=str(pages.SCREENSHOTS / "operator-intake.png"))

        # Bad input is refused with the API's reason, and the form stays open with what was typed.
        error = pages.refused(board, "#intake-callback", "call me", "#intake", "#intake [data-intake-error]")
        assert "callback_number" in error
        assert not svc.dispatcher.state.incidents
        board.fill("#intake-callback", "+31 6 1234 5678")
        board.click("#intake button[type=submit]")
        board.wait_for_selector("#intake", state="hidden")
        inc = pages.only_incident(svc)
        iid = inc.id
        assert inc.kind == "worried" and inc.address == "Kloksteeg 1" and inc.lat is not None
        assert inc.offered_to == ["anna"]

        row = f"#board [data-incident='{iid}']"
        board.wait_for_selector(f"{row}[data-state=offered]", timeout=3000)
        assert "+31 6 1234 5678 (Sanne)" in board.inner_text(f"{row} [data-callback]")

        # Anna's phone: where and what, not who called, until she accepts.
        anna.wait_for_selector(f"[data-alarm-id='{iid}']", timeout=3000)
        assert anna.inner_text(".alarm [data-address]") == "Kloksteeg 1"
        assert anna.locator("[data-callback]").count() == 0
        anna.click("[data-action=accept]")
        anna.wait_for_selector(f"[data-engaged-id='{iid}'] [data-callback]", timeout=3000)
        link = anna.locator(f"[data-engaged-id='{iid}'] [data-callback] a")
        assert link.inner_text() == "+31 6 1234 5678" and link.get_attribute("href") == "tel:+31612345678"
        board.wait_for_selector(f"{row}[data-state=accepted]", timeout=3000)
        assert svc.dispatcher.state.incidents[iid].accepted_by == ["anna"]
    finally:
        phone.close()
        desk.close()
