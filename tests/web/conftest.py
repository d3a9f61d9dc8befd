"""What the browser tests share with pytest: Debian's Chromium driven by Playwright, one browser per test module, and
the marks that skip them where it or the web app's npm packages or Mosquitto are missing. What they do on the pages
is tests/web/pages.py's."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from basestation.dispatch.web.routes import VENDOR
from harness.mosquitto import mosquitto_binary

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
