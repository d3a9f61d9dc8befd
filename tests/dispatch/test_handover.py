"""The hand-over script (pure): for each kind and state, with and without a location, a responder on the way and a
callback number, the lines a 112 call-taker hears in Dutch and English, and the fields beside them."""

from typing import Any

import pytest

from basestation.dispatch import i18n
from basestation.dispatch.core import handover
from basestation.dispatch.core.effects import NoticeRow, Push
from basestation.dispatch.core.incidents import Event, Incident, Kind, State
from basestation.dispatch.web import screens

ZONE = "Europe/Amsterdam"
# Saturday 14 March 2026, 23:41:07 in Amsterdam (CET, UTC+1); 2 August 2026 is summer time (CEST, UTC+2).
WINTER_MS = 1_773_528_067_000
SUMMER_MS = 1_785_621_600_000  # Sunday 2 August 2026, 00:00:00 CEST
NAMES = {"anna": "Anna de Vries", "ben": "Ben Okafor"}
HERE = {"lat": 52.158912, "lon": 4.48941, "radius_m": 34.6}


def _doc(kind: str = Kind.SOS, state: str = State.OFFERED, **extra: Any) -> dict[str, Any]:
    inc = Incident("42-1", 42, 1, Kind(kind), State(state), WINTER_MS, WINTER_MS)
    doc = inc.to_dict()
    doc.update(extra)
    return doc


def _build(doc: dict[str, Any], minutes: float = 12.1) -> handover.Handover:
    return handover.build(doc, NAMES, ZONE, int(doc["opened_ms"] + minutes * 60_000))


WHAT = [
    (_doc(Kind.SOS), "sos", "Wat: noodoproep (SOS).", "What: emergency alarm (SOS)."),
    (_doc(Kind.ESCORT), "escort", "Wat: verzoek om begeleiding naar huis.", "What: request to be walked home."),
    (
        _doc(Kind.SOS, forced=True),
        "duress",
        "Wat: alarm onder dwang: de persoon werd gedwongen het alarm te annuleren; behandel het als echt;"
        " eerst gemeld als: noodoproep (SOS).",
        "What: alarm under duress: the person was forced to cancel the alarm; treat it as real;"
        " first reported as: emergency alarm (SOS).",
    ),
    (
        _doc(Kind.ESCORT, State.ACCEPTED, forced=True, accepted_by=["anna"]),
        "duress",
        "eerst gemeld als: verzoek om begeleiding naar huis.",
        "first reported as: request to be walked home.",
    ),
    # A kind a phone intake may add, in words; one nobody taught the script, as it is.
    ({**_doc(), "kind": "worried"}, "worried", "Wat: zorgmelding", "What: someone is worried about a person."),
    ({**_doc(), "kind": "drone"}, "drone", "Wat: melding (drone).", "What: report (drone)."),
]


@pytest.mark.parametrize(("doc", "kind", "nl", "en"), WHAT)
def test_what_happened_in_plain_words(doc: dict[str, Any], kind: str, nl: str, en: str) -> None:
    h = _build(doc)
    assert h.fields["kind"] == kind and h.fields["forced"] == bool(doc["forced"])
    assert h.fields["incident_kind"] == doc["kind"]
    assert nl in h.script["nl"] and en in h.script["en"]


STATES = [
    (State.OPEN, "nieuw, nog aan niemand aangeboden", "new, not yet offered to anyone"),
    (State.OFFERED, "wacht op een hulpverlener", "waiting for a patrol member to accept"),
    (State.ACCEPTED, "een hulpverlener heeft geaccepteerd", "a patrol member accepted"),
    (State.ON_THE_WAY, "een hulpverlener is onderweg", "a patrol member is on the way"),
    (State.ESCALATED, "opgeschaald: niemand van de patrouille nam het aan", "escalated: nobody took it"),
    (State.RESOLVED, "door Nightwatch afgesloten", "closed by Nightwatch"),
    (State.CANCELLED, "door de persoon geannuleerd", "cancelled by the person"),
]


@pytest.mark.parametrize(("state", "nl", "en"), STATES)
@pytest.mark.parametrize("kind", [Kind.SOS, Kind.ESCORT])
def test_every_state_of_every_kind_has_a_script(state: State, kind: Kind, nl: str, en: str) -> None:
    h = _build(_doc(kind, state))
    assert f"Status bij Nightwatch: {nl}." in h.script["nl"]
    assert f"Status at Nightwatch: {en}." in h.script["en"]
    assert h.fields["state"] == state.value
    for lang, intro, ref in (("nl", "Ik draag een melding over aan 112.", "Ons kenmerk: melding 42-1."),
                             ("en", "handing an incident over to 112.", "Our reference: incident 42-1.")):  # fmt: skip
        lines = h.script[lang].splitlines()
        assert lines[0].endswith(intro) and lines[-1] == ref


WHERE = [
    ({"location": None}, "Waar: locatie nog onbekend.", "Where: location not known yet.", None),
    (
        {"location": HERE},
        "Waar: coördinaten 52.15891, 4.48941 (breedte, lengte), tot op ongeveer 35 m nauwkeurig.",
        "Where: coordinates 52.15891, 4.48941 (latitude, longitude), accurate to about 35 m.",
        {"lat": 52.158912, "lon": 4.48941, "radius_m": 35},
    ),
    (
        {"location": {**HERE, "radius_m": None}},
        "Waar: coördinaten 52.15891, 4.48941 (breedte, lengte).",
        "Where: coordinates 52.15891, 4.48941 (latitude, longitude).",
        {"lat": 52.158912, "lon": 4.48941, "radius_m": None},
    ),
    (
        {"location": HERE, "address": "Breestraat 12, Leiden"},
        "Waar: Breestraat 12, Leiden; coördinaten 52.15891, 4.48941",
        "Where: Breestraat 12, Leiden; coordinates 52.15891, 4.48941",
        {"lat": 52.158912, "lon": 4.48941, "radius_m": 35},
    ),
    ({"address": "  Stationsplein 1  "}, "Waar: Stationsplein 1.", "Where: Stationsplein 1.", None),
    ({"address": "   "}, "Waar: locatie nog onbekend.", "Where: location not known yet.", None),
]


@pytest.mark.parametrize(("extra", "nl", "en", "location"), WHERE)
def test_where_gives_the_address_if_known_then_coordinates_and_uncertainty(
    extra: dict[str, Any], nl: str, en: str, location: dict[str, float] | None
) -> None:
    h = _build(_doc(**extra))
    assert nl in h.script["nl"] and en in h.script["en"]
    assert h.fields["location"] == location
    assert h.fields["address"] == ((extra.get("address") or "").strip() or None)


@pytest.mark.parametrize(
    ("opened_ms", "minutes", "nl", "en", "local"),
    [
        (
            WINTER_MS,
            12.9,
            "Sinds: 23:41 uur, zaterdag 14 maart 2026 (Europe/Amsterdam), 12 minuten geleden.",
            "Since: 23:41, Saturday 14 March 2026 (Europe/Amsterdam), 12 minutes ago.",
            "2026-03-14T23:41:07+01:00",
        ),
        (
            SUMMER_MS,
            0.5,
            "Sinds: 00:00 uur, zondag 2 augustus 2026 (Europe/Amsterdam), minder dan een minuut geleden.",
            "Since: 00:00, Sunday 2 August 2026 (Europe/Amsterdam), less than a minute ago.",
            "2026-08-02T00:00:00+02:00",
        ),
        (WINTER_MS, 1, "1 minuut geleden.", "1 minute ago.", "2026-03-14T23:41:07+01:00"),
        (WINTER_MS, 75, "1 uur en 15 minuten geleden.", "1 h 15 min ago.", "2026-03-14T23:41:07+01:00"),
    ],
)
def test_since_is_the_opening_on_the_local_clock(opened_ms: int, minutes: float, nl: str, en: str, local: str) -> None:
    h = _build(_doc(opened_ms=opened_ms), minutes)
    assert nl in h.script["nl"] and en in h.script["en"]
    assert h.fields["opened_local"] == local and h.fields["timezone"] == ZONE and h.fields["opened_ms"] == opened_ms


COMING = [
    ({}, "Onderweg: niemand van de patrouille.", "On the way: nobody from the patrol.", [], None),
    (
        {"state": "accepted", "accepted_by": ["anna"], "eta_min": 4},
        "Onderweg: Anna de Vries, verwacht over ongeveer 4 minuten.",
        "On the way: Anna de Vries, expected in about 4 minutes.",
        [{"id": "anna", "name": "Anna de Vries"}],
        4,
    ),
    (
        {"state": "on_the_way", "accepted_by": ["anna"], "eta_min": 0},  # 0: no estimate given
        "Onderweg: Anna de Vries.",
        "On the way: Anna de Vries.",
        [{"id": "anna", "name": "Anna de Vries"}],
        None,
    ),
    (
        {"state": "accepted", "accepted_by": ["ben", "anna", "gone"], "eta_min": 7},
        "Onderweg: Ben Okafor, verwacht over ongeveer 7 minuten; Anna de Vries; gone.",
        "On the way: Ben Okafor, expected in about 7 minutes; Anna de Vries; gone.",
        [{"id": "ben", "name": "Ben Okafor"}, {"id": "anna", "name": "Anna de Vries"}, {"id": "gone", "name": "gone"}],
        7,
    ),
]


@pytest.mark.parametrize(("extra", "nl", "en", "responders", "eta"), COMING)
def test_who_is_on_the_way_with_the_first_responders_estimate(
    extra: dict[str, Any], nl: str, en: str, responders: list[dict[str, str]], eta: int | None
) -> None:
    h = _build(_doc(**extra))
    assert nl in h.script["nl"].splitlines() and en in h.script["en"].splitlines()
    assert h.fields["responders"] == responders and h.fields["eta_min"] == eta


CALLBACK = [
    ({}, None, None),
    ({"callback_number": "+31 6 1234 5678"}, "Terugbelnummer: +31 6 1234 5678.", "Callback number: +31 6 1234 5678."),
    (
        {"callback_number": "071 555 0199", "caller_name": "Sam"},
        "Terugbelnummer: 071 555 0199 (Sam).",
        "Callback number: 071 555 0199 (Sam).",
    ),
    ({"callback_number": "", "caller_name": "Sam"}, None, None),  # a name with no number to call is no callback
]


@pytest.mark.parametrize(("extra", "nl", "en"), CALLBACK)
def test_the_callback_number_is_shown_only_when_there_is_one(
    extra: dict[str, Any], nl: str | None, en: str | None
) -> None:
    h = _build(_doc(**extra))
    if nl is None or en is None:
        assert "Terugbelnummer" not in h.script["nl"] and "Callback" not in h.script["en"]
        assert h.fields["callback_number"] is None
        return
    assert nl in h.script["nl"].splitlines() and en in h.script["en"].splitlines()
    assert h.fields["callback_number"] == extra["callback_number"]
    assert h.fields["caller_name"] == extra.get("caller_name")


def test_a_full_script_reads_in_order() -> None:
    doc = _doc(
        Kind.SOS, State.ON_THE_WAY, location=HERE, accepted_by=["anna"], eta_min=4, callback_number="06 1234 5678"
    )
    assert _build(doc).script["en"].splitlines() == [
        "This is the Nightwatch night-patrol operator, handing an incident over to 112.",
        "What: emergency alarm (SOS).",
        "Where: coordinates 52.15891, 4.48941 (latitude, longitude), accurate to about 35 m.",
        "Since: 23:41, Saturday 14 March 2026 (Europe/Amsterdam), 12 minutes ago.",
        "On the way: Anna de Vries, expected in about 4 minutes.",
        "Callback number: 06 1234 5678.",
        "Status at Nightwatch: a patrol member is on the way.",
        "Our reference: incident 42-1.",
    ]


@pytest.mark.parametrize(
    ("operator", "by"), [(None, {"by": "operator"}), ("mira", {"by": "operator", "operator": "mira"})]
)
def test_the_record_logs_who_and_when_and_tells_the_operators(operator: str | None, by: dict[str, str]) -> None:
    h = _build(_doc(location=HERE))
    eff = handover.record("42-1", WINTER_MS + 5, operator, h, centre=True)
    event, notice = eff.durable
    assert isinstance(event, Event) and isinstance(notice, NoticeRow)
    assert (event.incident_id, event.at_ms, event.kind) == ("42-1", WINTER_MS + 5, "handed_to_112")
    assert event.data == {**by, "monitoring_centre": True, "fields": h.fields}
    assert (notice.kind, notice.subject, notice.data) == ("handed_to_112", "42-1", by)
    assert eff.pushes == [Push("notice", {"kind": "handed_to_112", "subject": "42-1", "at_ms": WINTER_MS + 5, **by})]


def test_the_board_names_the_operator_who_handed_over() -> None:
    en = i18n.translator("en")
    ev = {"kind": "handed_to_112", "data": {"by": "operator", "operator": "mira", "fields": {"responders": []}}}
    assert screens.event_text(en, ev, NAMES) == "handed over to 112: Operator (mira)"
    ev = {"kind": "handed_to_112", "data": {"by": "operator"}}
    assert screens.event_text(i18n.translator("nl"), ev, NAMES) == "overgedragen aan 112: Meldkamer"
    assert screens.notice_text(en, {"kind": "handed_to_112", "subject": "42-1"}) == "Alarm 42-1 handed over to 112"
