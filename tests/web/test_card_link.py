"""The board's "print card" link in a real browser (Debian's Chromium driven by Playwright): the page fetches the
ring's card with the operator's token, which a plain link could not send, and opens the PDF in a new tab."""

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser

from basestation.dispatch.api.app import create_app
from basestation.dispatch.service import Dispatcher
from basestation.dispatch.settings import DispatchSettings
from harness.dispatch import served
from tests.web.conftest import NEEDS_CHROMIUM

OPERATOR = "card-link-operator-token"
PROVISION = "card-link-provision-tok"

pytestmark = NEEDS_CHROMIUM


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    db: Path = tmp_path_factory.mktemp("card-link") / "d.db"
    tokens = {OPERATOR: "operator", PROVISION: "provisioning"}
    d = Dispatcher(DispatchSettings(database_url=f"sqlite+aiosqlite:///{db}", tokens=tokens))
    with served(create_app(d)) as (url, _loop):
        ring = {"device_id": 7, "root_key": "11" * 16, "label": "Ring of Ben"}
        r = httpx.post(f"{url}/api/v1/devices", json=ring, headers={"Authorization": f"Bearer {PROVISION}"})
        assert r.status_code == 201
        yield url


def test_print_card_opens_the_rings_pdf_in_a_new_tab(base: str, browser: Browser) -> None:
    context = browser.new_context(locale="en-GB")
    page = context.new_page()
    page.goto(f"{base}/ui/#token={OPERATOR}")
    page.wait_for_url("**/ui/operator")
    link = page.locator("a[data-card='7']")
    link.wait_for(timeout=10_000)
    assert link.inner_text() == "Print card (PDF)"
    with page.expect_response("**/api/v1/devices/7/card.pdf") as got, context.expect_page() as tab:
        link.click()
    response = got.value
    assert response.status == 200
    assert response.headers["content-type"] == "application/pdf"
    tab.value.wait_for_url("blob:**")
    # The tab shows what the page fetched: a PDF held in the page's memory, never a second request.
    head = page.evaluate(
        "async (u) => new TextDecoder().decode((await (await fetch(u)).bytes()).slice(0, 5))", tab.value.url
    )
    assert head == "%PDF-"
