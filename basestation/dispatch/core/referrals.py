"""Aftercare a responder can point a person to when closing an incident, with how to reach it, in Dutch and English.

Victim support comes first: the people a patrol meets at night may have been attacked, and the students' petition
for a safer Leiden asks for better help "for students and victims". Then the student well-being resources on
Leiden University's well-being page, and last the two programmes that are for student associations rather than for
one person. A contact is written here only when it is certain; an unknown one stays empty. The words (name, what
it is for, hours, how to reach it) are in the web app's gettext catalogues, under referral.<id>.

Ids are stored with resolved incidents: an id, once used, keeps its meaning and is never removed.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from basestation.dispatch.i18n import LANGUAGES, N_, text

GROUPS = ("victims", "students", "associations")

Text = Mapping[str, str]  # one text per language in LANGUAGES


def _texts(key: str) -> Text:
    """A text in every language, from the web app's catalogues (referral.<id>.<field>)."""
    return {lang: text(lang, key) for lang in LANGUAGES}


@dataclass(frozen=True, slots=True)
class Referral:
    id: str
    group: str  # one of GROUPS
    name: Text
    about: Text  # one line: what it is for, and for whom
    phone: str | None = None  # as written for people to dial
    free_call: bool = False
    hours: Text | None = None  # when the phone is answered
    email: str | None = None
    web: str | None = None  # a host name; the page links it over https
    reach: Text | None = None  # how to reach it when it has no address of its own

    def contact(self) -> str | None:
        return self.phone or self.email or self.web


WELLBEING_EMAIL = "studentwellbeing@sea.leidenuniv.nl"

ENTRIES: tuple[Referral, ...] = (
    Referral(
        id="slachtofferhulp",
        group="victims",
        name=_texts(N_("referral.slachtofferhulp.name")),
        about=_texts(N_("referral.slachtofferhulp.about")),
        phone="0900 0101",
        web="slachtofferhulp.nl",
    ),
    Referral(
        id="centrum-seksueel-geweld",
        group="victims",
        name=_texts(N_("referral.centrum_seksueel_geweld.name")),
        about=_texts(N_("referral.centrum_seksueel_geweld.about")),
        phone="0800 0188",
        free_call=True,
        hours=_texts(N_("referral.centrum_seksueel_geweld.hours")),
        web="centrumseksueelgeweld.nl",
    ),
    Referral(
        id="wellbeing-office",
        group="students",
        name=_texts(N_("referral.wellbeing_office.name")),
        about=_texts(N_("referral.wellbeing_office.about")),
        email=WELLBEING_EMAIL,
    ),
    Referral(
        id="wellbeing-roadmap",
        group="students",
        name=_texts(N_("referral.wellbeing_roadmap.name")),
        about=_texts(N_("referral.wellbeing_roadmap.about")),
        email=WELLBEING_EMAIL,
    ),
    Referral(
        id="peer-listener",
        group="students",
        name=_texts(N_("referral.peer_listener.name")),
        about=_texts(N_("referral.peer_listener.about")),
        reach=_texts(N_("referral.peer_listener.reach")),
    ),
    Referral(
        id="ggd-social-safety",
        group="associations",
        name=_texts(N_("referral.ggd_social_safety.name")),
        about=_texts(N_("referral.ggd_social_safety.about")),
        web="ggdhm.nl",
    ),
    Referral(
        id="are-you-ok",
        group="associations",
        name=_texts(N_("referral.are_you_ok.name")),
        about=_texts(N_("referral.are_you_ok.about")),
        web="rutgers.nl",
    ),
)

BY_ID: dict[str, Referral] = {r.id: r for r in ENTRIES}


def _doc(r: Referral) -> dict[str, Any]:
    return {
        "id": r.id,
        **{lang: r.name[lang] for lang in LANGUAGES},
        "contact": r.contact(),
        "group": r.group,
        "about": dict(r.about),
        "phone": r.phone,
        "free_call": r.free_call,
        "hours": dict(r.hours) if r.hours else None,
        "email": r.email,
        "web": r.web,
        "reach": dict(r.reach) if r.reach else None,
    }


# What GET /api/v1/referrals lists: id, "nl", "en" and "contact" as ever, and the fields after them.
REFERRALS: dict[str, dict[str, Any]] = {r.id: _doc(r) for r in ENTRIES}


def catalogue() -> list[dict[str, Any]]:
    return [dict(doc) for doc in REFERRALS.values()]


FREE_CALL: Text = _texts(N_("referral.free_call"))


def aftercare(referral_id: str, lang: str) -> dict[str, Any] | None:
    """What a person needs to read about one referral, in one language; None for an id that is not known.

    ``lang`` is "nl" or "en" (anything else gives Dutch, the default of the web app). The shape::

        {
            "id": "centrum-seksueel-geweld",
            "lang": "en",
            "group": "victims",                     # victims, students or associations
            "name": "Centrum Seksueel Geweld (centre for sexual violence)",
            "about": "Help after sexual violence: ...",  # one line: what it is for
            "contacts": [                           # in the order to try them; may be empty
                {"kind": "phone", "text": "0800 0188", "href": "tel:08000188", "note": "free, day and night"},
                {"kind": "web", "text": "centrumseksueelgeweld.nl",
                 "href": "https://centrumseksueelgeweld.nl", "note": None},
            ],                                      # kind is phone, email or web; note is None or a short text
            "reach": None,                          # how to reach it when there is no address, else None
            "url": "/ui/aftercare/centrum-seksueel-geweld?lang=en",  # the printable page
        }

    Every referral has at least one contact or a ``reach``.
    """
    r = BY_ID.get(referral_id)
    if r is None:
        return None
    lang = lang if lang in LANGUAGES else LANGUAGES[0]
    contacts: list[dict[str, str | None]] = []
    if r.phone:
        notes = ([FREE_CALL[lang]] if r.free_call else []) + ([r.hours[lang]] if r.hours else [])
        contacts.append(
            {
                "kind": "phone",
                "text": r.phone,
                "href": "tel:" + r.phone.replace(" ", ""),
                "note": ", ".join(notes) or None,
            }
        )
    if r.email:
        contacts.append({"kind": "email", "text": r.email, "href": "mailto:" + r.email, "note": None})
    if r.web:
        contacts.append({"kind": "web", "text": r.web, "href": "https://" + r.web, "note": None})
    return {
        "id": r.id,
        "lang": lang,
        "group": r.group,
        "name": r.name[lang],
        "about": r.about[lang],
        "contacts": contacts,
        "reach": r.reach[lang] if r.reach else None,
        "url": f"/ui/aftercare/{r.id}?lang={lang}",
    }


def everything(lang: str) -> list[dict[str, Any]]:
    """``aftercare`` of every referral, victim support first."""
    return [care for r in ENTRIES if (care := aftercare(r.id, lang)) is not None]
