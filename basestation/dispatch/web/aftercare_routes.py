"""The printable aftercare page: one referral's card with how to reach it, the other referrals below it.

Public on purpose: the responder hands its address to the person, who has no token, and the page holds nothing
about anyone. GET /ui/aftercare lists every referral; GET /ui/aftercare/{referral_id} puts the chosen one first
(404 with the full list for an id that is not known). The language is the app's (cookie, then the browser's
preference); ``?lang=nl|en`` wins over both, so a printed or shared address keeps the language it was given in.

``install`` also gives the web app's templates ``aftercare(referral_id, lang)``: the responder's resolve form and the
operator's board show a referral through it, as this page does.
"""

import time
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response, status

from basestation.dispatch import i18n
from basestation.dispatch.core import referrals
from basestation.dispatch.web.render import templates

router = APIRouter(prefix="/ui", include_in_schema=False)


def page_lang(request: Request, asked: str | None) -> str:
    if asked in i18n.LANGUAGES:
        return str(asked)
    return i18n.choose(request.cookies.get(i18n.COOKIE), request.headers.get("accept-language"))


def groups(cards: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    """``cards`` under their group, in the catalogue's order of groups; empty groups left out."""
    out = [(g, [c for c in cards if c["group"] == g]) for g in referrals.GROUPS]
    return [(g, items) for g, items in out if items]


def _page(request: Request, lang: str, chosen: dict[str, Any] | None, unknown: str | None = None) -> Response:
    others = [c for c in referrals.everything(lang) if chosen is None or c["id"] != chosen["id"]]
    ctx = {
        "lang": lang,
        "t": i18n.translator(lang),
        "languages": i18n.LANGUAGES,
        "strings": i18n.catalogue(lang),
        "now_ms": time.time_ns() // 1_000_000,
        "notice_112": i18n.both(lang, *i18n.NOTICE_112),
        "page": "aftercare",
        "chosen": chosen,
        "groups": groups(others),
        "unknown": unknown,
    }
    return templates.TemplateResponse(
        request,
        "aftercare.html",
        ctx,
        status_code=status.HTTP_404_NOT_FOUND if unknown else status.HTTP_200_OK,
        # Asked again each time: the language switch must show at once what a cookie now says.
        headers={"Cache-Control": "no-cache", "Vary": "Cookie, Accept-Language"},
    )


@router.get("/aftercare")
async def all_aftercare(request: Request, lang: str | None = None) -> Response:
    return _page(request, page_lang(request, lang), None)


@router.get("/aftercare/{referral_id}")
async def one_aftercare(request: Request, referral_id: str, lang: str | None = None) -> Response:
    chosen_lang = page_lang(request, lang)
    chosen = referrals.aftercare(referral_id, chosen_lang)
    if chosen is None:
        return _page(request, chosen_lang, None, unknown=referral_id[:64])
    return _page(request, chosen_lang, chosen)


def install(app: FastAPI) -> None:
    templates.env.globals["aftercare"] = referrals.aftercare
    app.include_router(router)
