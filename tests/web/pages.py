"""What the browser tests do on the pages: the page sizes, a browser context on the city's clock, signing in, a form
refused, the one incident the service holds, the 112 notice every page must show, and a session that records
every request its pages make."""

from pathlib import Path
from typing import Any, Self
from urllib.parse import urlparse

from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize

from basestation.dispatch.core.incidents import Incident
from harness.dispatch import LiveService
from tests.dispatch.conftest import wait_for

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
PHONE = ViewportSize(width=390, height=844)
DESK = ViewportSize(width=1440, height=900)
NOTICE = {
    "nl": "Bij nood: bel 112. Nightwatch vervangt 112 niet.",
    "en": "In an emergency, call 112. Nightwatch does not replace 112.",
}


def located(at: tuple[float, float]) -> dict[str, Any]:
    """A browser context's options for a device at ``at`` (latitude, longitude) that lets the pages know where."""
    return {"geolocation": {"latitude": at[0], "longitude": at[1]}, "permissions": ["geolocation"]}


def new_context(
    browser: Browser, locale: str, viewport: ViewportSize, at: tuple[float, float] | None = None, **extra: Any
) -> BrowserContext:
    """A context with the city's time zone, drawn at twice the pixels for the screenshots; at ``at``, if given."""
    if at is not None:
        here = located(at)
        extra |= {**here, "permissions": [*extra.get("permissions", []), *here["permissions"]]}
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
        extra = located(at) if at else {}
        self.context: BrowserContext = browser.new_context(
            locale=locale,
            viewport=viewport,
            device_scale_factor=2,
            **extra,
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
