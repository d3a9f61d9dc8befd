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

from babel.dates import format_date

from basestation.dispatch.core.effects import Effects, NoticeRow, Push
from basestation.dispatch.core.incidents import Event
from basestation.dispatch.i18n import LANGUAGES, N_, plural, text

EVENT = "handed_to_112"

# What happened, in the words a 112 call-taker needs: the kind first, and a duress spelled out so that nobody takes
# the cancel it looks like for a false alarm. The words are the web app's catalogues' (handover.what.*, .status.*,
# .script.*), as every text a person reads.
_WHAT = {
    "sos": N_("handover.what.sos"),
    "escort": N_("handover.what.escort"),
    "duress": N_("handover.what.duress"),
    "worried": N_("handover.what.worried"),
}
_STATUS = {
    "open": N_("handover.status.open"),
    "offered": N_("handover.status.offered"),
    "accepted": N_("handover.status.accepted"),
    "on_the_way": N_("handover.status.on_the_way"),
    "escalated": N_("handover.status.escalated"),
    "resolved": N_("handover.status.resolved"),
    "cancelled": N_("handover.status.cancelled"),
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
    what = _what(lang, f["kind"])
    if f["kind"] != f["incident_kind"]:
        what += text(lang, "handover.what.first", what=_what(lang, f["incident_kind"]))
    lines = [
        text(lang, "handover.script.intro"),
        text(lang, "handover.script.what", what=what),
        text(lang, "handover.script.where", where=_where(lang, f)),
    ]
    # The weekday and the month in the language's own words, from Babel's locale data: "maandag 7 december 2026".
    day = format_date(opened, "EEEE d MMMM y", locale=lang)
    clock = f"{opened.hour:02d}:{opened.minute:02d}"
    ago = _ago(lang, minutes)
    lines.append(text(lang, "handover.script.since", clock=clock, day=day, zone=f["timezone"], ago=ago))
    people = [p["name"] for p in f["responders"]]
    if people:
        if f["eta_min"]:  # the first to accept gave the estimate
            people[0] = text(lang, "handover.script.eta", name=people[0], n=f["eta_min"])
        lines.append(text(lang, "handover.script.coming", who="; ".join(people)))
    else:
        lines.append(text(lang, "handover.script.nobody"))
    if f["callback_number"] and f["caller_name"]:
        lines.append(text(lang, "handover.script.callback_name", number=f["callback_number"], name=f["caller_name"]))
    elif f["callback_number"]:
        lines.append(text(lang, "handover.script.callback", number=f["callback_number"]))
    status_key = _STATUS.get(f["state"])  # apart: extraction would read "state" in text(lang, _STATUS[f["state"]])
    status = text(lang, status_key) if status_key else f["state"]
    lines += [
        text(lang, "handover.script.status", status=status),
        text(lang, "handover.script.reference", id=f["incident_id"]),
    ]
    return "\n".join(lines)


def _what(lang: str, kind: str) -> str:
    return text(lang, _WHAT[kind]) if kind in _WHAT else text(lang, "handover.what.other", kind=kind)


def _where(lang: str, f: Mapping[str, Any]) -> str:
    parts = [f["address"]] if f["address"] else []
    loc = f["location"]
    if loc is not None:
        coords = text(lang, "handover.script.coords", lat=f"{loc['lat']:.5f}", lon=f"{loc['lon']:.5f}")
        if loc["radius_m"] is not None:
            coords += ", " + text(lang, "handover.script.radius", r=loc["radius_m"])
        parts.append(coords)
    return "; ".join(parts) if parts else text(lang, "handover.script.no_location")


def _ago(lang: str, minutes: int) -> str:
    if minutes >= 60:
        return text(lang, "handover.script.ago_h", h=minutes // 60, m=minutes % 60)
    if minutes >= 1:
        return plural(lang, "handover.script.ago", minutes)
    return text(lang, "handover.script.ago_0")


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
