"""Aftercare in a real browser (Debian's Chromium driven by Playwright) against the real dispatch service: the
responder picks a referral and reads its contact details under the resolve form, the choice outlives the screen's
refreshes, and after resolving the card stays to be shown to the person; the printable page opens without a token
and prints on one A4 page, black on white, without the navigation, in both languages. Its print picture goes to
docs/screenshots/aftercare.png."""

from collections.abc import Iterator

import pypdfium2 as pdfium
import pytest
from playwright.sync_api import Browser, Page, ViewportSize

from basestation.dispatch.core.referrals import REFERRALS
from harness.brokers import start_broker
from harness.dispatch import LiveService
from tests.web.conftest import NEEDS_BROWSER
from tests.web.live import ANNA, OPERATOR, web_service
from tests.web.pages import PHONE, SCREENSHOTS, Session

pytestmark = NEEDS_BROWSER
ANNA_AT = (52.1575, 4.4868)
A4 = ViewportSize(width=794, height=1123)  # CSS pixels of an A4 sheet


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    tmp = tmp_path_factory.mktemp("aftercare")
    with start_broker(tmp / "broker") as broker, web_service(broker, tmp) as live:
        with live.http(OPERATOR) as op:
            r = op.put(
                "/api/v1/responders/anna", json={"name": "Anna de Vries", "language": "en", "skills": ["patrol"]}
            )
            assert r.status_code == 200, r.text
        yield live


def _pages(pdf: bytes) -> int:
    return len(pdfium.PdfDocument(pdf))


def test_the_responder_reads_the_chosen_referral_and_keeps_it_after_resolving(
    svc: LiveService, browser: Browser
) -> None:
    with Session(browser, "en-GB", PHONE, at=ANNA_AT) as anna:
        page = anna.login(svc.url, ANNA, "/ui/responder")
        page.click("[data-duty=on]")
        page.wait_for_selector(".duty.is-on")
        with svc.http(OPERATOR) as op:
            call = {"kind": "worried", "callback_number": "+31 6 1234 5678", "lat": ANNA_AT[0], "lon": ANNA_AT[1]}
            r = op.post("/api/v1/incidents", json=call)
            assert r.status_code in (200, 201), r.text
            iid = r.json()["id"]
        page.wait_for_selector(f"[data-alarm-id='{iid}']")
        page.click("[data-action=accept]")
        form = f"[data-resolve='{iid}']"
        page.wait_for_selector(form)

        # Nothing chosen: only the link to every referral shows.
        assert page.locator(f"{form} [data-referral-care]:visible").count() == 1
        assert page.locator(f"{form} a[href='/ui/aftercare?lang=en']").is_visible()
        page.select_option(f"{form} select", "centrum-seksueel-geweld")
        care = page.locator(f"{form} [data-referral-care='centrum-seksueel-geweld']")
        assert care.is_visible() and page.locator(f"{form} [data-referral-care]:visible").count() == 1
        assert care.locator("a[href='tel:08000188']").is_visible()
        assert "free, day and night" in care.inner_text()
        assert care.locator("a[href='/ui/aftercare/centrum-seksueel-geweld?lang=en']").is_visible()
        # The screen is redrawn on every event; the choice and its card stay.
        page.evaluate("document.body.dispatchEvent(new Event('nw:refresh'))")
        page.wait_for_timeout(300)
        assert page.locator(f"{form} select").input_value() == "centrum-seksueel-geweld"
        assert page.locator(f"{form} [data-referral-care='centrum-seksueel-geweld']").is_visible()

        page.click(f"{form} button[type=submit]")
        after = page.locator(f"[data-aftercare-id='{iid}']")
        after.wait_for()
        assert svc.dispatcher is not None and svc.dispatcher.state.incidents[iid].referral == "centrum-seksueel-geweld"
        assert "Aftercare for the person" in after.inner_text()
        assert after.locator("a[href='tel:08000188']").is_visible()
        page.click(f"[data-dismiss='care:{iid}']")
        assert not after.is_visible()
        page.evaluate("document.body.dispatchEvent(new Event('nw:refresh'))")
        page.wait_for_timeout(300)
        assert page.locator(f"[data-aftercare-id='{iid}']").count() == 1 and not after.is_visible()
        assert anna.outside() == [], anna.outside()


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_the_printable_page_opens_without_a_token_and_prints_on_one_page(
    svc: LiveService, browser: Browser, lang: str
) -> None:
    with Session(browser, "en-US" if lang == "en" else "nl-NL", PHONE) as stranger:
        page: Page = stranger.page
        page.add_init_script("window.print = () => { window.printed = true; };")
        page.goto(f"{svc.url}/ui/aftercare/centrum-seksueel-geweld")
        page.wait_for_selector("[data-chosen='centrum-seksueel-geweld']")
        page.wait_for_timeout(300)  # the app's script has run: it must not have sent the page to sign in
        assert page.url.endswith("/ui/aftercare/centrum-seksueel-geweld")
        assert page.get_attribute("html", "lang") == lang
        assert page.locator("[data-notice-112] .n112-text").count() == 2
        page.click("[data-print]")
        assert page.evaluate("window.printed") is True

        page.set_viewport_size(A4)
        page.emulate_media(media="print")
        for hidden in (".lang", "[data-print]", "#conn"):
            assert not page.locator(hidden).first.is_visible(), hidden
        assert page.locator("[data-notice-112]").is_visible()
        assert page.locator("[data-aftercare]").count() == len(REFERRALS)
        # Black on white: no background anywhere, every text black.
        backgrounds, colours = page.evaluate(
            "(() => { const all = [document.documentElement, ...document.querySelectorAll('body, body *')];"
            " const shown = all.filter((el) => el.offsetParent !== null || el === document.body);"
            " return [new Set(all.map((el) => getComputedStyle(el).backgroundColor)),"
            " new Set(shown.map((el) => getComputedStyle(el).color))].map((s) => [...s]); })()"
        )
        assert set(backgrounds) <= {"rgba(0, 0, 0, 0)", "rgb(255, 255, 255)"}, backgrounds
        assert colours == ["rgb(0, 0, 0)"], colours
        if lang == "en":
            # The sheet's margins (@page) do not show on screen: the picture gets them as padding.
            page.evaluate("document.body.style.padding = '10mm 12mm'")
            page.screenshot(path=str(SCREENSHOTS / "aftercare.png"), full_page=True)
            page.evaluate("document.body.style.padding = ''")
        # Whichever referral was chosen, and for an unknown one, it is one sheet of paper.
        for rid in [*REFERRALS, "huisarts"]:
            page.goto(f"{svc.url}/ui/aftercare/{rid}")
            assert _pages(page.pdf(prefer_css_page_size=True)) == 1, rid
        assert stranger.outside() == [], stranger.outside()


def test_an_unknown_referral_says_so_and_lists_all_help(svc: LiveService, browser: Browser) -> None:
    with Session(browser, "nl-NL", PHONE) as stranger:
        page = stranger.page
        r = page.goto(f"{svc.url}/ui/aftercare/huisarts")
        assert r is not None and r.status == 404
        assert "Deze verwijzing bestaat niet" in page.inner_text("[data-unknown]")
        assert page.locator("[data-aftercare]").count() == len(REFERRALS)
        assert page.locator("[data-notice-112] .n112-text").count() == 2
