"""The hand-over to 112: the script an operator reads out, in Dutch and English, and the record of who did it.

Nightwatch is no replacement for 112. When an incident needs the emergency services, whatever state it is in, the
operator calls 112 and reads what happened, where, since when, who is on the way and how to call back. The
monitoring centre gets the same script and fields by its webhook (notify.py).

Pure: it takes an incident document (``Incident.to_dict()``, or the stored snapshot), responders' names, the
service's time zone and an explicit ``now``. It reads three optional fields an incident may carry (a phone intake
sets them) and shows each only when present: ``address``, ``callback_number`` and ``caller_name``.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from basestation.dispatch.core.effects import Effects, NoticeRow, Push
from basestation.dispatch.core.incidents import Event

LANGUAGES = ("nl", "en")
EVENT = "handed_to_112"

# What happened, in the words a 112 call-taker needs: the kind first, and a duress spelled out so that nobody takes
# the cancel it looks like for a false alarm.
_WHAT = {
    "sos": {"nl": "noodoproep (SOS)", "en": "emergency alarm (SOS)"},
    "escort": {"nl": "verzoek om begeleiding naar huis", "en": "request to be walked home"},
    "duress": {
        "nl": "alarm onder dwang: de persoon werd gedwongen het alarm te annuleren; behandel het als echt",
        "en": "alarm under duress: the person was forced to cancel the alarm; treat it as real",
    },
    "worried": {
        "nl": "zorgmelding: iemand maakt zich zorgen om een persoon",
        "en": "someone is worried about a person",
    },
}
_WHAT_OTHER = {"nl": "melding ({kind})", "en": "report ({kind})"}
_FIRST = {"nl": "; eerst gemeld als: {what}", "en": "; first reported as: {what}"}
_STATUS = {
    "open": {"nl": "nieuw, nog aan niemand aangeboden", "en": "new, not yet offered to anyone"},
    "offered": {"nl": "wacht op een hulpverlener", "en": "waiting for a patrol member to accept"},
    "accepted": {"nl": "een hulpverlener heeft geaccepteerd", "en": "a patrol member accepted"},
    "on_the_way": {"nl": "een hulpverlener is onderweg", "en": "a patrol member is on the way"},
    "escalated": {"nl": "opgeschaald: niemand van de patrouille nam het aan", "en": "escalated: nobody took it"},
    "resolved": {"nl": "door Nightwatch afgesloten", "en": "closed by Nightwatch"},
    "cancelled": {"nl": "door de persoon geannuleerd", "en": "cancelled by the person"},
}
_WEEKDAYS = {
    "nl": ("maandag", "dinsdag", "woensdag", "donderdag", "vrijdag", "zaterdag", "zondag"),
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
}
_MONTHS = {
    "nl": ("januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus", "september", "oktober",
           "november", "december"),
    "en": ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"),
}  # fmt: skip
_LINES = {
    "nl": {
        "intro": "Hier de meldkamer van Nightwatch, de nachtpatrouille. Ik draag een melding over aan 112.",
        "what": "Wat: {what}.",
        "where": "Waar: {where}.",
        "address": "{address}",
        "coords": "coördinaten {lat}, {lon} (breedte, lengte)",
        "radius": "tot op ongeveer {r} m nauwkeurig",
        "no_location": "locatie nog onbekend",
        "since": "Sinds: {clock} uur, {day} ({zone}), {ago}.",
        "ago": "{n} minuten geleden",
        "ago_1": "1 minuut geleden",
        "ago_0": "minder dan een minuut geleden",
        "ago_h": "{h} uur en {m} minuten geleden",
        "coming": "Onderweg: {who}.",
        "eta": "{name}, verwacht over ongeveer {n} minuten",
        "nobody": "Onderweg: niemand van de patrouille.",
        "callback": "Terugbelnummer: {number}.",
        "callback_name": "Terugbelnummer: {number} ({name}).",
        "status": "Status bij Nightwatch: {status}.",
        "reference": "Ons kenmerk: melding {id}.",
    },
    "en": {
        "intro": "This is the Nightwatch night-patrol operator, handing an incident over to 112.",
        "what": "What: {what}.",
        "where": "Where: {where}.",
        "address": "{address}",
        "coords": "coordinates {lat}, {lon} (latitude, longitude)",
        "radius": "accurate to about {r} m",
        "no_location": "location not known yet",
        "since": "Since: {clock}, {day} ({zone}), {ago}.",
        "ago": "{n} minutes ago",
        "ago_1": "1 minute ago",
        "ago_0": "less than a minute ago",
        "ago_h": "{h} h {m} min ago",
        "coming": "On the way: {who}.",
        "eta": "{name}, expected in about {n} minutes",
        "nobody": "On the way: nobody from the patrol.",
        "callback": "Callback number: {number}.",
        "callback_name": "Callback number: {number} ({name}).",
        "status": "Status at Nightwatch: {status}.",
        "reference": "Our reference: incident {id}.",
    },
}


@dataclass(frozen=True, slots=True)
class Handover:
    script: dict[str, str]  # {"nl": ..., "en": ...}: one line per fact, ready to read out
    fields: dict[str, Any]  # the same facts, structured, for the monitoring centre's systems

    def to_dict(self) -> dict[str, Any]:
        return {"script": dict(self.script), "fields": dict(self.fields)}


def kind_of(doc: Mapping[str, Any]) -> str:
    """A forced cancel is a duress whatever was pressed before it: it must never read as a false alarm."""
    return "duress" if doc.get("forced") else str(doc["kind"])


def build(doc: Mapping[str, Any], names: Mapping[str, str], timezone: str, now_ms: int) -> Handover:
    """The script and its fields for an incident document. ``names`` maps responder ids to names (an id not in it
    is shown as it is); ``timezone`` is an IANA name, the service's ``timezone`` setting."""
    kind = kind_of(doc)
    loc = doc.get("location")
    opened = datetime.fromtimestamp(int(doc["opened_ms"]) / 1000, ZoneInfo(timezone))
    accepted = [str(r) for r in doc.get("accepted_by") or ()]
    eta = int(doc.get("eta_min") or 0) or None  # 0: the responder gave none
    address = _text(doc.get("address"))
    callback, caller = _text(doc.get("callback_number")), _text(doc.get("caller_name"))
    fields: dict[str, Any] = {
        "incident_id": doc["id"],
        "kind": kind,
        "incident_kind": doc["kind"],
        "forced": bool(doc.get("forced")),
        "state": doc["state"],
        "opened_ms": int(doc["opened_ms"]),
        "opened_local": opened.isoformat(timespec="seconds"),
        "timezone": timezone,
        "address": address,
        "location": None
        if loc is None
        else {"lat": loc["lat"], "lon": loc["lon"], "radius_m": _metres(loc.get("radius_m"))},
        "responders": [{"id": r, "name": names.get(r, r)} for r in accepted],
        "eta_min": eta if accepted else None,
        "callback_number": callback,
        "caller_name": caller,
    }
    minutes = max(0, now_ms - int(doc["opened_ms"])) // 60_000
    return Handover({lang: _script(lang, fields, opened, minutes) for lang in LANGUAGES}, fields)


def _text(v: Any) -> str | None:
    """An optional text field: absent, not text, or blank all mean not known."""
    if not isinstance(v, str) or not v.strip():
        return None
    return v.strip()


def _metres(r: Any) -> int | None:
    return None if r is None else round(float(r))


def _script(lang: str, f: Mapping[str, Any], opened: datetime, minutes: int) -> str:
    s = _LINES[lang]
    what = _what(lang, f["kind"])
    if f["kind"] != f["incident_kind"]:
        what += _FIRST[lang].format(what=_what(lang, f["incident_kind"]))
    lines = [s["intro"], s["what"].format(what=what), s["where"].format(where=_where(lang, f))]
    day = f"{_WEEKDAYS[lang][opened.weekday()]} {opened.day} {_MONTHS[lang][opened.month - 1]} {opened.year}"
    clock = f"{opened.hour:02d}:{opened.minute:02d}"
    lines.append(s["since"].format(clock=clock, day=day, zone=f["timezone"], ago=_ago(lang, minutes)))
    people = [p["name"] for p in f["responders"]]
    if people:
        if f["eta_min"]:
            people[0] = s["eta"].format(name=people[0], n=f["eta_min"])  # the first to accept gave the estimate
        lines.append(s["coming"].format(who="; ".join(people)))
    else:
        lines.append(s["nobody"])
    if f["callback_number"]:
        key = "callback_name" if f["caller_name"] else "callback"
        lines.append(s[key].format(number=f["callback_number"], name=f["caller_name"]))
    status = _STATUS.get(f["state"], {}).get(lang, f["state"])
    lines += [s["status"].format(status=status), s["reference"].format(id=f["incident_id"])]
    return "\n".join(lines)


def _what(lang: str, kind: str) -> str:
    return _WHAT[kind][lang] if kind in _WHAT else _WHAT_OTHER[lang].format(kind=kind)


def _where(lang: str, f: Mapping[str, Any]) -> str:
    s = _LINES[lang]
    parts = [f["address"]] if f["address"] else []
    loc = f["location"]
    if loc is not None:
        coords = s["coords"].format(lat=f"{loc['lat']:.5f}", lon=f"{loc['lon']:.5f}")
        if loc["radius_m"] is not None:
            coords += ", " + s["radius"].format(r=loc["radius_m"])
        parts.append(coords)
    return "; ".join(parts) if parts else s["no_location"]


def _ago(lang: str, minutes: int) -> str:
    s = _LINES[lang]
    if minutes >= 60:
        return s["ago_h"].format(h=minutes // 60, m=minutes % 60)
    if minutes > 1:
        return s["ago"].format(n=minutes)
    return s["ago_1"] if minutes == 1 else s["ago_0"]


def record(incident_id: str, at_ms: int, operator: str | None, handover: Handover, centre: bool) -> Effects:
    """The audit trail of a hand-over: an entry in the incident's log (who, when, what was handed over, whether the
    monitoring centre was sent it) and a notice every operator's board shows. It changes no state: 112 taking over
    does not stand the patrol down, and the incident may be handed over again as it changes."""
    who: dict[str, Any] = {"by": "operator"} if operator is None else {"by": "operator", "operator": operator}
    eff = Effects()
    # The fields nested, not spread: the log's readers (screens.event_text) give "responders" and "state" a meaning.
    data = {**who, "monitoring_centre": centre, "fields": handover.fields}
    eff.durable.append(Event(incident_id, at_ms, EVENT, data))
    row = NoticeRow(EVENT, incident_id, at_ms, who)
    eff.durable.append(row)
    eff.pushes.append(Push("notice", {"kind": row.kind, "subject": row.subject, "at_ms": row.at_ms, **row.data}))
    return eff
