"""What the browser tests share: Debian's Chromium driven by Playwright, one browser per test module, the marks
that skip them where it or the web app's npm packages or Mosquitto are missing, the page sizes, signing in, and
the 112 notice every page must show."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Self
from urllib.parse import urlparse

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize, sync_playwright

from basestation.dispatch.core.incidents import Incident
from basestation.dispatch.web.routes import VENDOR
from harness.dispatch import LiveService
from harness.mosquitto import mosquitto_binary
from tests.dispatch.conftest import wait_for

CHROMIUM = Path("/usr/bin/chromium")
# Keep the browser off the network: no QUIC, no first-run, no background fetches, updates or sync.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
PHONE = ViewportSize(width=390, height=844)
DESK = ViewportSize(width=1440, height=900)
NOTICE = {
    "nl": "Bij nood: bel 112. Nightwatch vervangt 112 niet.",
    "en": "In an emergency, call 112. Nightwatch does not replace 112.",
}

NEEDS_CHROMIUM = [
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium (apt-get install chromium)"
    ),
    pytest.mark.skipif(
        not all(p.is_dir() for p in VENDOR.values()),
        reason="needs the web app's npm packages: run `npm ci` in basestation/dispatch/web",
    ),
]
# The pages against the whole service, its MQTT link included.
NEEDS_BROWSER = [
    *NEEDS_CHROMIUM,
    pytest.mark.skipif(mosquitto_binary() is None, reason="needs an MQTT 5 broker (Mosquitto)"),
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


def new_context(browser: Browser, locale: str, viewport: ViewportSize, **extra: Any) -> BrowserContext:
    """A context with the city's time zone, drawn at twice the pixels for the screenshots."""
    return browser.new_context(
        locale=locale, viewport=viewport, device_scale_factor=2, timezone_id="Europe/Amsterdam", **extra
    )


def login(page: Page, base: str, token: str, home: str) -> Page:
    page.goto(base + "/ui/")
    page.fill("#token", token)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(f"**{home}")
    page.wait_for_selector("#conn[data-live=yes]", timeout=5000)  # the live stream is open
    return page


until = wait_for  # the service and the browser run elsewhere: nothing here to await


def refused(page: Page, field: str, bad: str, form: str, error: str) -> str:
    """Submits ``form`` with ``bad`` in its ``field``: the words of the ``error`` the page shows, once it shows it."""
    page.fill(field, bad)
    page.click(f"{form} button[type=submit]")
    page.wait_for_selector(f"{error}:visible")
    return page.inner_text(error)


def only_incident(svc: LiveService) -> Incident:
    """The one incident the service holds, once it holds one."""
    assert svc.dispatcher is not None
    incidents = svc.dispatcher.state.incidents
    until(lambda: len(incidents) == 1)
    return next(iter(incidents.values()))


def notice_says_both(page: Page, scope: str, first: str) -> None:
    """The 112 notice in ``scope`` is on screen and says it in both languages, the page's own (``first``) first."""
    notice = page.locator(f"{scope} [data-notice-112]")
    assert notice.is_visible()
    texts = notice.locator(".n112-text")
    langs = [texts.nth(i).get_attribute("lang") for i in range(texts.count())]
    assert langs == [first, "en" if first == "nl" else "nl"]
    for i, lang in enumerate(langs):
        assert texts.nth(i).is_visible() and texts.nth(i).inner_text() == NOTICE[str(lang)]
    assert notice.locator("a[href='tel:112']").is_visible()


class Session:
    """A browser context that records the URL of every request any of its pages makes; ``with`` closes it."""

    def __init__(self, browser: Browser, locale: str, viewport: ViewportSize, at: tuple[float, float] | None = None):
        extra = {"geolocation": {"latitude": at[0], "longitude": at[1]}, "permissions": ["geolocation"]} if at else {}
        self.context: BrowserContext = browser.new_context(
            locale=locale,
            viewport=viewport,
            device_scale_factor=2,
            **extra,  # type: ignore[arg-type]
        )
        self.urls: list[str] = []
        self.context.on("request", lambda req: self.urls.append(req.url))
        self.page: Page = self.context.new_page()

    def outside(self) -> list[str]:
        return [
            u
            for u in self.urls
            if urlparse(u).scheme not in ("data", "blob") and urlparse(u).hostname not in ("127.0.0.1", "localhost")
        ]

    def login(self, base: str, token: str, home: str) -> Page:
        return login(self.page, base, token, home)

    def close(self) -> None:
        self.context.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
