"""Every message a person reads, in Dutch and English. Responders read them at night on a phone: short, the
kind of help first, and duress spelled out so nobody mistakes it for a false alarm."""

from typing import Any

LANGUAGES = ("nl", "en")

_KIND = {
    "sos": {"nl": "Noodoproep", "en": "Emergency alarm"},
    "escort": {"nl": "Verzoek: loop mee naar huis", "en": "Request: walk me home"},
    "worried": {"nl": "Zorgmelding: ga even kijken", "en": "Welfare check: go and see"},
}
_FORCED = {"nl": "GEDWONGEN ANNULERING - neem dit serieus", "en": "FORCED CANCEL - treat as real"}
_STATE = {
    "open": {"nl": "nieuw", "en": "new"},
    "offered": {"nl": "wacht op een hulpverlener", "en": "waiting for a responder"},
    "accepted": {"nl": "hulp is onderweg", "en": "help is on the way"},
    "on_the_way": {"nl": "hulp is onderweg", "en": "help is on the way"},
    "resolved": {"nl": "afgehandeld", "en": "resolved"},
    "cancelled": {"nl": "geannuleerd door de drager - niet meer nodig", "en": "cancelled by the wearer - stand down"},
    "escalated": {"nl": "opgeschaald: niemand heeft geaccepteerd", "en": "escalated: nobody accepted"},
}
_RADIUS = {"nl": "binnen {r} m", "en": "within {r} m"}
_NO_LOCATION = {"nl": "locatie nog onbekend", "en": "location not known yet"}


def incident_text(doc: dict[str, Any]) -> dict[str, dict[str, str]]:
    """{"nl": {"title", "body"}, "en": {...}} for an incident snapshot."""
    out = {}
    for lang in LANGUAGES:
        title = _KIND[doc["kind"]][lang]
        if doc.get("forced"):
            title = f"{title} - {_FORCED[lang]}"
        loc = doc.get("location")
        where = _RADIUS[lang].format(r=round(loc["radius_m"])) if loc else _NO_LOCATION[lang]
        out[lang] = {"title": title, "body": f"{_STATE[doc['state']][lang]}; {where}"}
    return out
