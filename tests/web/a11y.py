"""What the accessibility tests share (tests/web/test_accessibility_*_browser.py): the marks that skip them
without a browser or axe-core, their languages and page sizes, the real dispatch service on a real broker with a
provisioned ring, gateways online and Anna on duty near the Breestraat, a browser context in a language and a
size, an alarm from the ring, and every open incident closed."""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, ViewportSize

from harness.brokers import start_broker
from harness.dispatch import LiveService
from protocol.constants import EVENT_SOS
from tests.web import axe
from tests.web.conftest import NEEDS_BROWSER
from tests.web.live import ANNA, OPERATOR, Gateways, Ring, city, web_service
from tests.web.pages import DESK, PHONE, until

NEEDS_AXE = [*NEEDS_BROWSER, pytest.mark.skipif(not axe.AXE.is_file(), reason="needs axe-core: run `npm ci`")]
ANNA_AT = (52.1575, 4.4868)  # by the Pieterskerk: alarms heard at the Breestraat reach her first
LOCALES = {"nl": "nl-NL", "en": "en-GB"}
SIZES = {"phone": PHONE, "desk": DESK}


@dataclass
class World:
    """The service, its gateways online and the ring that raises the alarms."""

    svc: LiveService
    gateways: Gateways
    ring: Ring


@contextmanager
def served(tmp: Path) -> Iterator[World]:
    """The service in ``tmp`` with its broker, the ring, the gateways online and Anna on duty: one per test module."""
    anna = {"name": "Anna de Vries", "language": "nl", "skills": ["first_aid", "patrol"]}
    with (
        start_broker(tmp / "broker") as broker,
        _roomy(web_service(broker, tmp)) as svc,
        city(broker, svc, (81,), {"anna": anna}) as town,
    ):
        with svc.http(ANNA) as a:
            assert a.put("/api/v1/me/duty", json={"on_duty": True, "lat": ANNA_AT[0], "lon": ANNA_AT[1]}).is_success
        yield World(svc, town.gateways, town.rings[81])


def _roomy(svc: LiveService) -> LiveService:
    # Every language and size asks the walk page once or more from 127.0.0.1: room for all of them.
    svc.settings = svc.settings.model_copy(update={"walk_per_address_hour": 1000, "walk_per_phone_hour": 100})
    return svc


def context(browser: Browser, lang: str, size: ViewportSize, **extra: Any) -> BrowserContext:
    """A browser context in ``lang`` ("nl" or "en") at ``size``, on Amsterdam's clock."""
    return browser.new_context(
        locale=LOCALES[lang], viewport=size, device_scale_factor=1, timezone_id="Europe/Amsterdam", **extra
    )


def alarm(world: World) -> str:
    """An SOS from the ring, heard at the Breestraat: offered to Anna. Its incident id."""
    d = world.svc.dispatcher
    assert d is not None
    before = set(d.state.incidents)
    frame, _ = world.ring.frame(EVENT_SOS)
    world.gateways.uplink("gw-breestraat", frame, rssi=-70)
    until(lambda: set(d.state.incidents) - before)
    (iid,) = set(d.state.incidents) - before
    return iid


def close_all(world: World) -> None:
    """Resolve whatever is still open, so the next alarm is a new incident on a clean screen."""
    d = world.svc.dispatcher
    assert d is not None
    with world.svc.http(OPERATOR) as op:
        for inc in list(d.state.incidents.values()):
            if inc.state not in ("resolved", "cancelled"):
                op.post(f"/api/v1/incidents/{inc.id}/resolve", json={})
