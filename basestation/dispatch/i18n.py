"""How a request's language is chosen, and the words in it: the gettext catalogues in locale/ (one .po file per
language, managed with Babel: `make i18n`, docs/dispatch.md "Words and languages"), read once at import. The
templates, the scripts (through the page's catalogue, #nw-strings) and the Python code all look words up here by
the same keys.

Dutch is the default: the key rings are handed out in Leiden. A browser that prefers English gets English; the
language switch stores the choice in a cookie, which wins over the browser's preference.
"""

import gettext
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from babel.messages.pofile import read_po

LANGUAGES = ("nl", "en")
DEFAULT = "nl"
COOKIE = "nightwatch_lang"
LOCALE = Path(__file__).parent / "locale"
DOMAIN = "messages"


def N_(key: str) -> str:  # noqa: N802 - gettext's name for a key marked for extraction, looked up later
    return key


@dataclass(frozen=True, slots=True)
class Catalogue:
    texts: dict[str, str]  # key -> text
    plurals: dict[str, tuple[str, ...]]  # key -> its plural forms, in the language's order
    form: Callable[[int], int]  # a count -> the index of its form, the catalogue's Plural-Forms


def load(lang: str) -> Catalogue:
    """One language's catalogue. As msgfmt would compile it: a fuzzy or empty entry is left out, so looking it up
    fails like a missing key."""
    with (LOCALE / lang / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as f:
        catalog = read_po(f, locale=lang, domain=DOMAIN)
    texts: dict[str, str] = {}
    plurals: dict[str, tuple[str, ...]] = {}
    for m in catalog:
        if not m.id or m.fuzzy:
            continue
        if isinstance(m.id, str) and isinstance(m.string, str) and m.string:
            texts[m.id] = m.string
        elif isinstance(m.id, tuple) and isinstance(m.string, tuple) and all(m.string):
            plurals[m.id[0]] = tuple(m.string)
    return Catalogue(texts, plurals, gettext.c2py(catalog.plural_expr))


# Read once, in the process that serves: a few hundred entries take milliseconds, and no compiled .mo is kept.
_LOADED = {lang: load(lang) for lang in LANGUAGES}
CATALOGUES: dict[str, dict[str, str]] = {lang: c.texts for lang, c in _LOADED.items()}
PLURALS: dict[str, dict[str, tuple[str, ...]]] = {lang: c.plurals for lang, c in _LOADED.items()}
NOTICE_112 = (N_("n112.call"), N_("n112.not"))


def choose(cookie: str | None, accept_language: str | None) -> str:
    """The cookie's language if valid, else the browser's first supported preference, else Dutch."""
    if cookie in LANGUAGES:
        return str(cookie)
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        lang = tag.strip().lower().split("-")[0]
        if lang in LANGUAGES and q > 0:
            ranked.append((-q, i, lang))
    return min(ranked)[2] if ranked else DEFAULT


def text(lang: str, key: str, **values: object) -> str:
    """One string; a missing key is a bug and raises, so the tests catch it."""
    s = CATALOGUES[lang][key]
    return s.format(**values) if values else s


def plural(lang: str, key: str, n: int, **values: object) -> str:
    """The form of ``key`` for the count ``n`` (given to the text as {n}), by the language's plural rule."""
    c = _LOADED[lang]
    return c.plurals[key][c.form(n)].format(n=n, **values)


def translator(lang: str) -> Callable[..., str]:
    def t(key: str, **values: object) -> str:
        return text(lang, key, **values)

    return t


def both(lang: str, *keys: str) -> list[tuple[str, str]]:
    """Each language's text of ``keys`` joined, the page's own language first: for what everyone must be able to
    read whichever language the page is in."""
    order = sorted(LANGUAGES, key=lambda code: code != lang)
    return [(code, " ".join(text(code, key) for key in keys)) for code in order]


def number(lang: str, value: float, digits: int = 0) -> str:
    """A number as the page's language writes it: 3,8 and 1.234 in Dutch, 3.8 and 1,234 in English."""
    marks = {",": text(lang, "a11y.thousands"), ".": text(lang, "a11y.decimal")}
    return "".join(marks.get(c, c) for c in f"{value:,.{digits}f}")


def skill(lang: str, skill_id: str) -> str:
    """A responder's skill in words; one added to the API before it has words here shows as its id."""
    key = f"a11y.skill.{skill_id}"
    return text(lang, key) if key in CATALOGUES[lang] else skill_id.replace("_", " ")


# The families no page script shows: the card, the telephony hook's answers, push notifications, the 112 script and
# the referrals (which reach the page through the templates). Left out of what every page carries.
SERVER_ONLY = ("card.", "hook.", "notify.", "handover.script.", "handover.what.", "handover.status.", "referral.")


def catalogue(lang: str) -> dict[str, str]:
    """The strings of one language the page's scripts may show (they format {placeholders} themselves); the
    plural entries are the server's only."""
    return {key: s for key, s in CATALOGUES[lang].items() if not key.startswith(SERVER_ONLY)}
