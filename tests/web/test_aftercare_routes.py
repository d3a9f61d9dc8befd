"""Aftercare in the web app, over HTTP against the real service on SQLite: the printable page is public, in either
language, with the 112 notice, and a clear 404 for an unknown referral; the responder sees the chosen referral's
contact details in the resolve form and again after resolving; the board names the referral."""

import re
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from basestation.dispatch import i18n
from basestation.dispatch.core.referrals import REFERRALS
from basestation.dispatch.service import Dispatcher
from basestation.dispatch.settings import DispatchSettings
from basestation.dispatch.web import screens
from tests.dispatch.conftest import bearer, serve

OPERATOR = "operator-token-0123456789"
ANNA = "responder-token-0123456789"
NOTICE = {
    "nl": "Bij nood: bel 112. Nightwatch vervangt 112 niet.",
    "en": "In an emergency, call 112. Nightwatch does not replace 112.",
}
PIETERSKERK = (52.1575, 4.4856)

Scenario = Callable[[httpx.AsyncClient, Dispatcher], Awaitable[None]]


def _run(tmp_path: Path, scenario: Scenario) -> None:
    settings = DispatchSettings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'd.db'}",
        tokens={OPERATOR: "operator", ANNA: "responder:anna"},
    )

    async def main(d: Dispatcher, http: httpx.AsyncClient) -> None:
        r = await http.put(
            "/api/v1/responders/anna", json={"name": "Anna", "skills": ["patrol"]}, headers=bearer(OPERATOR)
        )
        assert r.status_code == 200, r.text
        await scenario(http, d)

    serve(settings, main)


def _text(html: str) -> str:
    """The page's words, tags and spacing aside."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _notice_in_both(html: str) -> None:
    words = _text(html)
    assert NOTICE["nl"] in words and NOTICE["en"] in words
    assert 'href="tel:112"' in html and "data-notice-112" in html


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_the_printable_page_needs_no_token_and_speaks_the_language_asked(tmp_path: Path, lang: str) -> None:
    other = "en" if lang == "nl" else "nl"

    async def scenario(http: httpx.AsyncClient, d: Dispatcher) -> None:
        r = await http.get(f"/ui/aftercare/centrum-seksueel-geweld?lang={lang}")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        html = r.text
        assert f'<html lang="{lang}" data-page="aftercare"' in html
        _notice_in_both(html)
        words = _text(html)
        assert i18n.text(lang, "aftercare.title") in words and i18n.text(lang, "aftercare.print") in words
        assert "data-print" in html
        # The chosen one first, with its numbers; then every other referral below it, none twice.
        chosen = html.index('data-chosen="centrum-seksueel-geweld"')
        assert 'href="tel:08000188"' in html[chosen:] and "0800 0188" in html
        assert REFERRALS["centrum-seksueel-geweld"]["about"][lang] in html
        assert REFERRALS["centrum-seksueel-geweld"]["about"][other] not in html
        for rid, doc in REFERRALS.items():
            assert html.count(f'data-aftercare="{rid}"') == 1, rid
            assert html.index(f'data-aftercare="{rid}"') >= chosen
            assert doc[lang] in html
        assert 'href="tel:09000101"' in html and 'href="mailto:studentwellbeing@sea.leidenuniv.nl"' in html
        # Nothing about anyone, and none of the signed-in parts.
        assert "data-logout" not in html and "hx-get" not in html
        assert i18n.text(lang, "aftercare.private") in words

    _run(tmp_path, scenario)


def test_the_page_takes_the_apps_language_and_lists_everything(tmp_path: Path) -> None:
    async def scenario(http: httpx.AsyncClient, d: Dispatcher) -> None:
        r = await http.get("/ui/aftercare", headers={"Accept-Language": "en-GB,en;q=0.9"})
        assert r.status_code == 200 and '<html lang="en"' in r.text and "data-chosen" not in r.text
        assert all(f'data-aftercare="{rid}"' in r.text for rid in REFERRALS)
        groups = re.findall(r'data-group="([a-z]+)"', r.text)
        assert groups == ["victims", "students", "associations"]
        r = await http.get("/ui/aftercare/slachtofferhulp", headers={"Accept-Language": "nl-NL"})
        assert '<html lang="nl"' in r.text and "Slachtofferhulp Nederland" in r.text
        # The language switch returns to the page, and its cookie wins over the browser, ?lang over both.
        r = await http.get("/ui/lang/en", params={"next": "/ui/aftercare/slachtofferhulp"})
        assert r.status_code == 303 and r.headers["location"] == "/ui/aftercare/slachtofferhulp"
        r = await http.get("/ui/aftercare/slachtofferhulp", headers={"Accept-Language": "nl-NL"})
        assert '<html lang="en"' in r.text and "Victim Support Netherlands" in r.text
        r = await http.get("/ui/aftercare/slachtofferhulp?lang=nl")
        assert '<html lang="nl"' in r.text
        r = await http.get("/ui/aftercare/slachtofferhulp?lang=de")  # not ours: the app's choice
        assert '<html lang="en"' in r.text

    _run(tmp_path, scenario)


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_an_unknown_referral_is_a_clear_404_with_everything_listed(tmp_path: Path, lang: str) -> None:
    async def scenario(http: httpx.AsyncClient, d: Dispatcher) -> None:
        r = await http.get(f"/ui/aftercare/huisarts?lang={lang}")
        assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
        words = _text(r.text)
        assert i18n.text(lang, "aftercare.unknown") in words
        assert i18n.text(lang, "aftercare.unknown_body", id="huisarts") in words
        assert all(f'data-aftercare="{rid}"' in r.text for rid in REFERRALS)
        _notice_in_both(r.text)
        r = await http.get(f"/ui/aftercare/<script>alert(1)</script>?lang={lang}")
        assert r.status_code == 404 and "<script>alert(1)" not in r.text

    _run(tmp_path, scenario)


def test_the_referrals_api_still_lists_ids_and_labels(tmp_path: Path) -> None:
    async def scenario(http: httpx.AsyncClient, d: Dispatcher) -> None:
        assert (await http.get("/api/v1/referrals")).status_code == 401
        r = await http.get("/api/v1/referrals", headers=bearer(ANNA))
        assert r.status_code == 200
        docs = r.json()
        assert [d["id"] for d in docs] == list(REFERRALS)
        office = next(d for d in docs if d["id"] == "wellbeing-office")
        assert office["nl"] == "Student Well-being Office van de Universiteit Leiden"
        assert office["en"] == "Leiden University Student Well-being Office"
        assert office["contact"] == office["email"] == "studentwellbeing@sea.leidenuniv.nl"
        csg = next(d for d in docs if d["id"] == "centrum-seksueel-geweld")
        assert (csg["phone"], csg["free_call"], csg["hours"]["en"]) == ("0800 0188", True, "day and night")

    _run(tmp_path, scenario)


def test_the_responder_sees_the_contact_details_before_and_after_resolving(tmp_path: Path) -> None:
    async def scenario(http: httpx.AsyncClient, d: Dispatcher) -> None:
        duty = {"on_duty": True, "lat": PIETERSKERK[0], "lon": PIETERSKERK[1]}
        assert (await http.put("/api/v1/me/duty", json=duty, headers=bearer(ANNA))).status_code == 200
        call = {"kind": "worried", "callback_number": "+31 6 1234 5678", "lat": PIETERSKERK[0], "lon": PIETERSKERK[1]}
        r = await http.post("/api/v1/incidents", json=call, headers=bearer(OPERATOR))
        assert r.status_code in (200, 201), r.text
        iid = r.json()["id"]
        assert (
            await http.post(f"/api/v1/incidents/{iid}/accept", json={"eta_min": 3}, headers=bearer(ANNA))
        ).is_success

        en = {**bearer(ANNA), "Accept-Language": "en"}
        form = (await http.get("/ui/partials/responder", headers=en)).text
        assert f'data-resolve="{iid}"' in form and "data-referral-select" in form
        # Every referral's card is in the form, waiting to be shown; each links to its printable page.
        for rid in REFERRALS:
            assert f'data-referral-care="{rid}"' in form and f'href="/ui/aftercare/{rid}?lang=en"' in form
        assert 'href="tel:08000188"' in form and "free, day and night" in form
        assert '<optgroup label="Support for victims">' in form
        assert 'href="/ui/aftercare?lang=en"' in form

        r = await http.post(
            f"/api/v1/incidents/{iid}/resolve", json={"referral": "slachtofferhulp"}, headers=bearer(ANNA)
        )
        assert r.status_code == 200, r.text
        after = (await http.get("/ui/partials/responder", headers=en)).text
        assert f'data-aftercare-id="{iid}"' in after and f'data-dismiss="care:{iid}"' in after
        card = after[after.index(f'data-aftercare-id="{iid}"') :]
        assert "Aftercare for the person" in card and 'href="tel:09000101"' in card
        assert 'href="/ui/aftercare/slachtofferhulp?lang=en"' in card
        assert f'data-resolve="{iid}"' not in after

        board = (await http.get("/ui/partials/board", headers={**bearer(OPERATOR), "Accept-Language": "nl"})).text
        named = board[board.index('data-referral="slachtofferhulp"') :]
        assert named.split("</dd>")[0].endswith("Slachtofferhulp Nederland</a>")

    _run(tmp_path, scenario)


def test_a_referral_unknown_to_this_version_shows_as_its_id_on_the_board(tmp_path: Path) -> None:
    async def scenario(http: httpx.AsyncClient, d: Dispatcher) -> None:
        call = {"kind": "escort", "callback_number": "+31 6 1234 5678", "lat": PIETERSKERK[0], "lon": PIETERSKERK[1]}
        iid = (await http.post("/api/v1/incidents", json=call, headers=bearer(OPERATOR))).json()["id"]
        assert (await http.post(f"/api/v1/incidents/{iid}/resolve", json={}, headers=bearer(OPERATOR))).is_success
        d.state.incidents[iid].referral = "huisarts"  # as an older store may hold
        board = (await http.get("/ui/partials/board", headers=bearer(OPERATOR))).text
        assert '<dd data-referral="huisarts">huisarts</dd>' in board

    _run(tmp_path, scenario)


def test_the_responders_screen_keeps_the_aftercare_a_while_for_those_who_went() -> None:
    resolved = {
        "id": "7-1",
        "kind": "sos",
        "state": "resolved",
        "opened_ms": 0,
        "press_ms": 0,
        "updated_ms": 1_000,
        "offered_to": ["anna", "ben"],
        "accepted_by": ["anna"],
        "referral": "centrum-seksueel-geweld",
    }
    now = 1_000 + screens.AFTERCARE_FOR_MS
    shown = screens.responder_screen([resolved], "anna", {}, None, now)
    assert [(c.id, c.referral) for c in shown.aftercare] == [("7-1", "centrum-seksueel-geweld")]
    assert not shown.engaged and not shown.stand_down and shown.alarm is None
    assert not screens.responder_screen([resolved], "anna", {}, None, now + 1).aftercare  # long enough
    assert not screens.responder_screen([resolved], "ben", {}, None, now).aftercare  # offered, never went
    assert not screens.responder_screen([{**resolved, "referral": None}], "anna", {}, None, now).aftercare
    assert not screens.responder_screen([{**resolved, "state": "cancelled"}], "anna", {}, None, now).aftercare
