"""What each screen shows, worked out from incident documents (pure: no I/O, an explicit ``now_ms``).

The templates only lay it out. Responders see an alarm full-screen while it waits for their answer, a card for
each alarm they accepted, a stand-down for each alarm the wearer cancelled after it reached them, and the aftercare
chosen for each alarm they accepted that was resolved with a referral.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from basestation.dispatch.core.geo import distance_m

T = Callable[..., str]
WAITING = ("open", "offered", "escalated")
ENGAGED = ("accepted", "on_the_way")
STAND_DOWN_FOR_MS = 15 * 60_000  # long enough to be seen after a walk, short enough not to pile up
AFTERCARE_FOR_MS = 30 * 60_000  # the responder may still be with the person, showing them where to turn


@dataclass(frozen=True, slots=True)
class Position:
    lat: float
    lon: float


@dataclass(slots=True)
class Card:
    id: str
    kind: str  # sos, escort, duress (a forced cancel shows as duress: it must never look like a false alarm)
    state: str
    press_ms: int
    location: dict[str, float] | None
    distance_m: float | None
    accepted_by: list[str]
    route_url: str | None = None
    # A phone intake's: where and what for everyone offered it; who called only for a responder who accepted.
    address: str | None = None
    notes: str | None = None
    callback_number: str | None = None
    caller_name: str | None = None
    referral: str | None = None
    destination: str | None = None  # a walk-me-home request's: where the person is going
    arrived_ms: int = 0


@dataclass(slots=True)
class ResponderScreen:
    alarm: Card | None = None
    waiting: int = 0  # alarms behind the one on screen
    engaged: list[Card] = field(default_factory=list)
    stand_down: list[Card] = field(default_factory=list)
    aftercare: list[Card] = field(default_factory=list)


def kind_of(doc: dict[str, Any]) -> str:
    return "duress" if doc.get("forced") else str(doc["kind"])


def route_url(me: Position | None, loc: dict[str, float] | None) -> str | None:
    """An OpenStreetMap walking route. Only a link: the page itself never asks anything of an outside server."""
    if loc is None:
        return None
    lat, lon = f"{loc['lat']:.5f}", f"{loc['lon']:.5f}"
    if me is None:
        return "https://www.openstreetmap.org/?" + urlencode({"mlat": lat, "mlon": lon})
    query = urlencode({"engine": "fossgis_osrm_foot", "route": f"{me.lat:.5f},{me.lon:.5f};{lat},{lon}"})
    return f"https://www.openstreetmap.org/directions?{query}"


def card(doc: dict[str, Any], names: dict[str, str], me: Position | None, you: str | None) -> Card:
    loc = doc.get("location")
    dist = distance_m(me.lat, me.lon, loc["lat"], loc["lon"]) if me is not None and loc else None
    others = [names.get(r, r) for r in doc.get("accepted_by", ()) if r != you]
    accepted = you is not None and you in doc.get("accepted_by", ())
    return Card(
        id=doc["id"],
        kind=kind_of(doc),
        state=doc["state"],
        press_ms=int(doc.get("press_ms") or doc["opened_ms"]),
        location=loc,
        distance_m=dist,
        accepted_by=others,
        route_url=route_url(me, loc),
        address=doc.get("address"),
        notes=doc.get("notes"),
        callback_number=doc.get("callback_number") if accepted else None,
        caller_name=doc.get("caller_name") if accepted else None,
        referral=doc.get("referral"),
        destination=doc.get("destination"),
        arrived_ms=int(doc.get("arrived_ms") or 0),
    )


def responder_screen(
    docs: list[dict[str, Any]], rid: str, names: dict[str, str], me: Position | None, now_ms: int
) -> ResponderScreen:
    """``docs`` are full incident documents (newest first); only those offered to or accepted by ``rid`` count."""
    out = ResponderScreen()
    alarms: list[Card] = []
    for doc in docs:
        mine = rid in doc.get("offered_to", ()) or rid in doc.get("accepted_by", ())
        if not mine:
            continue
        state = doc["state"]
        if rid in doc.get("accepted_by", ()) and state in ENGAGED:
            out.engaged.append(card(doc, names, me, rid))
        elif state == "cancelled" and now_ms - int(doc.get("updated_ms") or 0) <= STAND_DOWN_FOR_MS:
            out.stand_down.append(card(doc, names, me, rid))
        elif (
            state == "resolved"
            and doc.get("referral")
            and rid in doc.get("accepted_by", ())
            and now_ms - int(doc.get("updated_ms") or 0) <= AFTERCARE_FOR_MS
        ):
            out.aftercare.append(card(doc, names, me, rid))
        elif state not in ("resolved", "cancelled") and rid not in doc.get("declined_by", ()):
            # Accepted by someone else still shows: a second responder may go too, and sees who is coming.
            alarms.append(card(doc, names, me, rid))
    # The most urgent first: a duress before an SOS before an escort, then the oldest press.
    order = {"duress": 0, "sos": 1, "escort": 2, "worried": 2}
    alarms.sort(key=lambda c: (order.get(c.kind, 3), c.press_ms))
    if alarms:
        out.alarm, out.waiting = alarms[0], len(alarms) - 1
    return out


def duration(t: T, seconds: float) -> str:
    s = max(0, int(seconds))
    if s < 60:
        return t("unit.s", s=s)
    if s < 3600:
        return t("unit.min_s", m=s // 60, s=s % 60)
    return t("unit.h_min", h=s // 3600, m=(s % 3600) // 60)


def distance(t: T, metres: float | None) -> str:
    if metres is None:
        return t("alarm.unknown")
    if metres < 1000:
        return t("unit.m", n=int(round(metres, -1)))
    return t("unit.km", n=f"{metres / 1000:.1f}".replace(".", t("a11y.decimal")))


def event_text(t: T, ev: dict[str, Any], names: dict[str, str]) -> str:
    kind, data = ev["kind"], ev.get("data") or {}
    if kind == "offered" and data.get("by") == "operator":
        kind = "assigned"
    elif kind == "ack_queued" and data.get("state") in ("unavailable", "closed"):
        kind = f"ack_queued_{data['state']}"  # what the key ring was told
    try:
        label = t(f"event.{kind}")
    except KeyError:
        label = t("event.other", kind=kind)
    who = data.get("responder") or data.get("by")
    many = data.get("responders")
    if many:
        label += ": " + ", ".join(names.get(r, r) for r in many)
    elif who == "operator":
        label += ": " + t("nav.operator") + (f" ({data['operator']})" if data.get("operator") else "")
    elif who in ("duress", "unavailable", "caller"):
        label += ": " + t(f"event.{who}")
    elif who and who != "wearer":
        label += ": " + names.get(str(who), str(who))
    return label


def notice_text(t: T, notice: dict[str, Any]) -> str:
    try:
        return t(f"notice.{notice['kind']}", subject=notice.get("subject", ""))
    except KeyError:
        return t("notice.other", kind=notice["kind"], subject=notice.get("subject", ""))


@dataclass(slots=True)
class Throughput:
    """Uplinks per second between two looks at /healthz's counters (the counters only ever grow)."""

    last_total: int | None = None
    last_ms: int = 0
    rate: float | None = None

    def update(self, total: int, now_ms: int) -> float | None:
        if self.last_total is not None and now_ms > self.last_ms:
            self.rate = max(0, total - self.last_total) * 1000 / (now_ms - self.last_ms)
        self.last_total, self.last_ms = total, now_ms
        return self.rate


def health_figures(health: dict[str, Any], meter: Throughput, now_ms: int) -> dict[str, Any]:
    total = sum(int(n) for n in health.get("outcomes", {}).values())
    return {
        "throughput": meter.update(total, now_ms),
        "queue": int(health["writer"]["depth"]) + int(health.get("unresolved_queue", 0)),
        "p99_ms": health.get("pipeline_p99_ms"),
        "open": health.get("open_incidents", 0),
    }
