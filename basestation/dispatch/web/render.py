"""Rendering the web app's pages and partials: the templates, the page's language, and what every template gets
(its words, the 112 notice, numbers and skills in that language). The page routes (routes.py, walk_routes.py,
aftercare_routes.py) import this; none of them imports another."""

import time
from pathlib import Path
from typing import Any

from fastapi import Request, Response
from fastapi.templating import Jinja2Templates

from basestation.dispatch import i18n

WEB = Path(__file__).parent
templates = Jinja2Templates(directory=WEB / "templates")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def page_language(request: Request) -> str:
    return i18n.choose(request.cookies.get(i18n.COOKIE), request.headers.get("accept-language"))


def render(request: Request, name: str, **ctx: Any) -> Response:
    lang = page_language(request)
    base = {
        "lang": lang,
        "t": i18n.translator(lang),
        "languages": i18n.LANGUAGES,
        "strings": i18n.catalogue(lang),
        "now_ms": now_ms(),
        "notice_112": i18n.both(lang, *i18n.NOTICE_112),
        "number": lambda value, digits=0: i18n.number(lang, value, digits),
        "skill": lambda skill_id: i18n.skill(lang, skill_id),
    }
    return templates.TemplateResponse(request, name, {**base, **ctx}, headers={"Cache-Control": "no-store"})
