"""The public walk-me-home page in a real browser (Debian's Chromium driven by Playwright), against the real dispatch
service: a student with no key ring asks to be walked home from her phone, with her browser's position; the
nearest patrol member accepts on her own phone; the student's page says "Anna of the patrol is coming" with the
time expected, then the student cancels, and Anna is stood down. Outside the patrol's hours the page says who to
call instead. The 112 notice is on every page, in both languages. Pictures go to docs/screenshots/walk-*.png."""

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page

from harness.brokers import start_broker
from harness.dispatch import LiveService
from tests.web import live, pages
from tests.web.conftest import NEEDS_BROWSER

pytestmark = NEEDS_BROWSER
ANNA_AT = (52.1575, 4.4868)  # by the Pieterskerk
STUDENT_AT = (52.1590, 4.4900)  # on the Breestraat, a street away


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    tmp = tmp_path_factory.mktemp("walk")
    with start_broker(tmp / "broker") as broker, live.web_service(broker, tmp) as svc:
        with svc.http(live.OPERATOR) as op:
            anna = {"name": "Anna de Vries", "language": "nl", "skills": ["patrol"]}
            r = op.put("/api/v1/responders/anna", json=anna)
            assert r.status_code == 200, r.text
        yield svc


def _picture(page: Page, name: str) -> None:
    page.evaluate("window.scrollTo(0, 0)")  # the header is sticky: from the top it is drawn once, at the top
    page.screenshot(path=str(pages.SCREENSHOTS / name), full_page=True)


def test_a_student_asks_to_be_walked_home_sees_the_patrol_coming_and_cancels(
    svc: LiveService, browser: Browser
) -> None:
    assert svc.dispatcher is not None
    anna_phone = pages.new_context(browser, "nl-NL", pages.PHONE, at=ANNA_AT)
    student = pages.new_context(browser, "en-GB", pages.PHONE, at=STUDENT_AT)
    try:
        anna = pages.login(anna_phone.new_page(), svc.url, live.ANNA, "/ui/responder")
        anna.click("[data-duty=on]")
        anna.wait_for_selector(".duty.is-on")

        page = student.new_page()
        page.goto(svc.url + "/walk")
        page.wait_for_selector("#walk-form:visible")
        pages.notice_says_both(page, "header", "en")
        page.fill("#walk-name", "Sanne Bakker")
        page.fill("#walk-phone", "06 1234 5678")
        # Where: her browser's position, once she asks for it (the browser's own consent prompt is granted here).
        page.click("[data-walk-locate]")
        page.wait_for_selector("#walk-located:has-text('Location found')")
        page.wait_for_selector("#walk-map .nw-pick")
        page.fill("#walk-destination", "Haarlemmerstraat 100")
        _picture(page, "walk-request.png")

        # A form not filled in is refused in her words, and nothing is sent.
        assert "check what you entered" in pages.refused(page, "#walk-phone", "call me", "#walk-form", "#walk-error")
        assert not svc.dispatcher.state.incidents
        page.fill("#walk-phone", "06 1234 5678")
        page.click("#walk-form button[type=submit]")

        page.wait_for_selector("#walk-status:visible")
        reference = page.inner_text("[data-walk-ref]")
        assert len(reference) == 7 and reference[3] == "-"
        page.wait_for_selector("[data-walk-state]:has-text('Finding a patrol member')")
        inc = pages.only_incident(svc)
        iid = inc.id
        assert inc.kind == "escort" and inc.source == "walk" and inc.offered_to == ["anna"]
        assert inc.lat == pytest.approx(STUDENT_AT[0]) and inc.destination == "Haarlemmerstraat 100"

        # Anna's phone: where she is and where she is going; the number only once Anna accepts.
        anna.wait_for_selector(f"[data-alarm-id='{iid}']", timeout=3000)
        assert anna.locator("[data-callback]").count() == 0
        anna.click("[data-action=accept]")
        anna.wait_for_selector(f"[data-engaged-id='{iid}'] [data-callback]", timeout=3000)
        assert "+31612345678" in anna.inner_text(f"[data-engaged-id='{iid}'] [data-callback]")

        # The student's own page says so by itself, with Anna's first name only.
        page.wait_for_selector("[data-walk-state][data-status=coming]", timeout=8000)
        said = page.inner_text("[data-walk-state]")
        assert said == "Anna of the patrol is coming." and "Vries" not in page.inner_text("#walk-status")
        # No estimate given on accepting: the time expected is the walk from where Anna is, a street away.
        assert page.inner_text("[data-walk-eta]").startswith("Expected around ")
        _picture(page, "walk-coming.png")

        # A reload loses nothing: the request is kept in her browser.
        page.reload()
        page.wait_for_selector("[data-walk-state][data-status=coming]", timeout=8000)
        assert page.inner_text("[data-walk-ref]") == reference

        # Anna reaches her and says so on her phone; the student's page follows.
        anna.click(f"[data-engaged-id='{iid}'] [data-action=arrived]")
        anna.wait_for_selector(f"[data-engaged-id='{iid}'] [data-arrived]", timeout=3000)
        page.wait_for_selector("[data-walk-state][data-status=arrived]", timeout=8000)
        assert page.inner_text("[data-walk-state]") == "The patrol is with you."

        # A friend turns up and she no longer needs the walk: she cancels (and confirms); Anna is stood down.
        page.once("dialog", lambda d: d.accept())
        page.click("[data-walk-cancel]")
        page.wait_for_selector("[data-walk-state][data-status=cancelled]", timeout=5000)
        assert page.locator("[data-walk-cancel]").is_hidden() and page.locator("[data-walk-again]").is_visible()
        assert svc.dispatcher.state.incidents[iid].state == "cancelled"
        anna.wait_for_selector(f"[data-standdown-id='{iid}']", timeout=5000)
    finally:
        anna_phone.close()
        student.close()


def test_outside_the_hours_the_page_says_who_to_call_in_dutch_and_in_english(
    svc: LiveService, browser: Browser
) -> None:
    with svc.http(live.OPERATOR) as op:
        assert op.put("/api/v1/walk/override", json={"state": "closed"}).status_code == 200
    nl = pages.new_context(browser, "nl-NL", pages.PHONE)
    try:
        page = nl.new_page()
        page.goto(svc.url + "/walk")
        page.wait_for_selector("#walk-closed:visible")
        assert page.locator("#walk-form").is_hidden()
        text = page.inner_text("#walk-closed")
        assert "neemt nu geen verzoeken aan" in text and "+31 71 555 0100" in text and "112" in text
        assert page.get_attribute("#walk-closed a[href^='tel:']", "href") == "tel:+31715550100"
        pages.notice_says_both(page, "header", "nl")
        _picture(page, "walk-closed.png")
        page.click("a[data-lang=en]")
        page.wait_for_selector("html[lang=en]")
        page.wait_for_selector("#walk-closed:visible")
        assert "not taking requests" in page.inner_text("#walk-closed")
        pages.notice_says_both(page, "header", "en")
    finally:
        nl.close()
        with svc.http(live.OPERATOR) as op:
            op.put("/api/v1/walk/override", json={"state": "hours"})


def test_the_desk_places_a_request_given_in_words_blocks_its_number_and_closes_the_page(
    svc: LiveService, browser: Browser
) -> None:
    assert svc.dispatcher is not None
    desk = pages.new_context(browser, "en-GB", pages.DESK)
    try:
        board = pages.login(desk.new_page(), svc.url, live.OPERATOR, "/ui/operator")
        board.wait_for_selector("#walk-desk [data-walk-now=open]")
        words = {"name": "Noor", "phone": "0687654321", "where": "Outside the bar on the Nieuwe Rijn",
                 "destination": "Morsweg 20", "lang": "en"}  # fmt: skip
        with httpx.Client(base_url=svc.url) as http:
            r = http.post("/api/v1/walk", json=words)
            assert r.status_code == 201, r.text
        iid = next(i.id for i in svc.dispatcher.state.incidents.values() if i.caller_name == "Noor")
        row = f"#board [data-incident='{iid}']"
        board.wait_for_selector(f"{row} [data-source=walk]", timeout=5000)
        assert board.inner_text(f"{row} [data-destination]") == "Morsweg 20"

        # Only words: the operator finds the place and clicks it on the map.
        board.click(f"{row} [data-place]")
        board.wait_for_selector("body[data-placing]")
        box = board.locator("#op-map").bounding_box()
        assert box is not None
        board.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        pages.until(lambda: svc.dispatcher.state.incidents[iid].lat is not None)  # type: ignore[union-attr]
        board.wait_for_selector(f"{row} [data-place]", state="detached", timeout=5000)

        # A prank: the number is blocked from the board, and shows in the panel's list.
        board.once("dialog", lambda d: d.accept())
        board.click(f"{row} [data-block-caller]")
        board.wait_for_selector("#walk-desk [data-blocked='+31687654321']", timeout=5000)
        with httpx.Client(base_url=svc.url) as http:
            assert http.post("/api/v1/walk", json={**words, "phone": "+31 6 8765 4321"}).status_code == 403

        # No patrol out tonight: the page is closed by hand, then back to its hours.
        board.click("#walk-desk [data-walk-set=closed]")
        board.wait_for_selector("#walk-desk [data-walk-now=closed]", timeout=5000)
        _picture(board, "operator-walk-desk.png")
        with httpx.Client(base_url=svc.url) as http:
            assert http.get("/api/v1/walk").json()["open"] is False
        board.click("#walk-desk [data-walk-set=hours]")
        board.wait_for_selector("#walk-desk [data-walk-now=open]", timeout=5000)
        board.click("#walk-desk [data-unblock='+31687654321']")
        board.wait_for_selector("#walk-desk [data-blocked]", state="detached", timeout=5000)
    finally:
        desk.close()
