"""The push notifications a person reads, in Dutch and English (their words are in the web app's catalogues,
notify.*). Responders read them at night on a phone: short, the kind of help first, and duress spelled out so
nobody mistakes it for a false alarm."""

from typing import Any

from basestation.dispatch.i18n import LANGUAGES, N_, text

_KIND = {"sos": N_("notify.kind.sos"), "escort": N_("notify.kind.escort"), "worried": N_("notify.kind.worried")}
_STATE = {
    "open": N_("notify.state.open"),
    "offered": N_("notify.state.offered"),
    "accepted": N_("notify.state.accepted"),
    "on_the_way": N_("notify.state.on_the_way"),
    "resolved": N_("notify.state.resolved"),
    "cancelled": N_("notify.state.cancelled"),
    "escalated": N_("notify.state.escalated"),
}


def incident_text(doc: dict[str, Any]) -> dict[str, dict[str, str]]:
    """{"nl": {"title", "body"}, "en": {...}} for an incident snapshot."""
    out = {}
    # The keys looked up apart: extraction would read "kind" in text(lang, _KIND[doc["kind"]]) as a key.
    kind, state = _KIND[doc["kind"]], _STATE[doc["state"]]
    for lang in LANGUAGES:
        title = text(lang, kind)
        if doc.get("forced"):
            title += " - " + text(lang, "notify.forced")
        loc = doc.get("location")
        where = text(lang, "notify.within", r=round(loc["radius_m"])) if loc else text(lang, "notify.no_location")
        out[lang] = {"title": title, "body": text(lang, state) + "; " + where}
    return out
