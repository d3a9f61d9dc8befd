"""The web app's pure parts: the keys built at run time, the language choice, and what a responder's screen
shows for each incident state."""

import pytest

from basestation.dispatch import i18n, i18n_keys
from basestation.dispatch.core import walk
from basestation.dispatch.core.incidents import Kind, State
from basestation.dispatch.core.referrals import GROUPS
from basestation.dispatch.web import screens

T0 = 1_800_000_000_000


def test_every_key_built_at_run_time_is_listed_for_extraction_and_in_both_catalogues() -> None:
    # Keys built from a state, a kind, a language, a contact's kind, a group, a source or a walk's status.
    built = {f"state.{s.value}" for s in State}
    kinds = [*(k.value for k in Kind), "duress"]
    built |= {f"kind.{k}" for k in kinds} | {f"kind.short.{k}" for k in kinds}
    built |= {f"lang.{lang}" for lang in i18n.LANGUAGES}
    # An aftercare card's contact kinds and the catalogue's groups.
    built |= {f"aftercare.{kind}" for kind in ("phone", "email", "web")}
    built |= {f"aftercare.group.{group}" for group in GROUPS}
    # Where a request without a ring came from, and what its person's page says (walk.person_view).
    built |= {f"desk.source.{source}" for source in ("phone", *walk.SOURCES)}
    statuses = ("looking", "nobody", "coming", "arrived", "done", "cancelled")
    built |= {f"walk.status.{status}" for status in statuses}
    # Extraction finds them only as listed (i18n_keys.py); the event, notice and skill families are the API's.
    assert built <= set(i18n_keys.BUILT)
    for lang in i18n.LANGUAGES:
        assert set(i18n_keys.BUILT) - set(i18n.CATALOGUES[lang]) == set(), lang


@pytest.mark.parametrize(
    ("cookie", "accept", "expected"),
    [
        (None, None, "nl"),
        (None, "en-US,en;q=0.9", "en"),
        (None, "de-DE,de;q=0.9,en;q=0.5", "en"),
        (None, "en;q=0.4,nl;q=0.8", "nl"),
        (None, "nl;q=0,en;q=0.1", "en"),
        (None, "fr-FR", "nl"),
        (None, "en;q=bogus,nl", "nl"),
        ("en", "nl-NL", "en"),
        ("xx", "en", "en"),
    ],
)
def test_language_choice(cookie: str | None, accept: str | None, expected: str) -> None:
    assert i18n.choose(cookie, accept) == expected


def _doc(id: str, state: str, offered: list[str], accepted: list[str] = [], **kw: object) -> dict[str, object]:  # noqa: B006
    doc: dict[str, object] = {
        "id": id,
        "kind": "sos",
        "state": state,
        "forced": False,
        "opened_ms": T0,
        "press_ms": T0 - 2000,
        "updated_ms": T0,
        "location": {"lat": 52.1589, "lon": 4.4894, "radius_m": 40.0},
        "offered_to": offered,
        "accepted_by": accepted,
        "declined_by": [],
    }
    return {**doc, **kw}


NAMES = {"anna": "Anna", "ben": "Ben"}
ME = screens.Position(52.1575, 4.4868)


def test_an_offered_alarm_takes_the_screen_with_distance_and_who_else_accepted() -> None:
    docs = [_doc("1-1", "accepted", ["ben", "anna"], ["ben"]), _doc("2-1", "offered", ["ben"])]
    s = screens.responder_screen(docs, "anna", NAMES, ME, T0)
    assert s.alarm is not None and s.alarm.id == "1-1" and s.waiting == 0
    assert s.alarm.accepted_by == ["Ben"]
    assert s.alarm.distance_m is not None and 200 < s.alarm.distance_m < 300
    assert s.alarm.route_url is not None and "route=52.15750%2C4.48680%3B52.15890%2C4.48940" in s.alarm.route_url


def test_a_duress_comes_before_an_older_sos_and_declined_alarms_leave_the_screen() -> None:
    docs = [
        _doc("3-1", "offered", ["anna"], forced=True, press_ms=T0),
        _doc("4-1", "offered", ["anna"], press_ms=T0 - 60_000),
        _doc("5-1", "offered", ["anna"], declined_by=["anna"]),
    ]
    s = screens.responder_screen(docs, "anna", NAMES, None, T0)
    assert s.alarm is not None and (s.alarm.id, s.alarm.kind, s.waiting) == ("3-1", "duress", 1)
    assert s.alarm.distance_m is None and s.alarm.route_url is not None and "mlat=52.15890" in s.alarm.route_url


def test_accepted_alarms_become_cards_and_cancelled_ones_stand_down_for_a_while() -> None:
    docs = [
        _doc("6-1", "on_the_way", ["anna"], ["anna"]),
        _doc("7-1", "cancelled", ["anna"], updated_ms=T0 - 60_000),
        _doc("8-1", "cancelled", ["anna"], updated_ms=T0 - screens.STAND_DOWN_FOR_MS - 1),
        _doc("9-1", "resolved", ["anna"], ["anna"]),
        _doc("10-1", "offered", ["ben"]),
    ]
    s = screens.responder_screen(docs, "anna", NAMES, ME, T0)
    assert s.alarm is None
    assert [c.id for c in s.engaged] == ["6-1"]
    assert [c.id for c in s.stand_down] == ["7-1"]


def test_texts_for_time_distance_events_and_notices() -> None:
    en, nl = i18n.translator("en"), i18n.translator("nl")
    assert screens.duration(en, 42.9) == "42 s"
    assert screens.duration(nl, 125) == "2 min 5 s"
    assert screens.duration(nl, 7260) == "2 u 1 min"
    assert screens.distance(en, 243.0) == "240 m"
    assert screens.distance(en, 1520.0) == "1.5 km"
    assert screens.distance(nl, None) == "onbekend"
    ev = {"kind": "offered", "data": {"responders": ["anna"], "by": "operator"}}
    assert screens.event_text(en, ev, NAMES) == "assigned by the operator: Anna"
    assert screens.event_text(nl, {"kind": "escalated", "data": {"by": "operator"}}, NAMES) == "opgeschaald: Meldkamer"
    assert screens.event_text(en, {"kind": "new_thing", "data": {}}, NAMES) == "event: new_thing"
    assert screens.notice_text(nl, {"kind": "gateway_offline", "subject": "gw-a"}) == "Gateway gw-a is offline"
    assert screens.notice_text(en, {"kind": "odd", "subject": "x"}) == "Notice odd: x"


def test_throughput_is_the_rate_between_two_looks() -> None:
    meter = screens.Throughput()
    health = {"outcomes": {"accepted": 10, "duplicate": 5}, "writer": {"depth": 3}, "unresolved_queue": 2}
    first = screens.health_figures(health, meter, T0)
    assert first["throughput"] is None and first["queue"] == 5
    health["outcomes"] = {"accepted": 40, "duplicate": 15}
    assert screens.health_figures(health, meter, T0 + 2000)["throughput"] == pytest.approx(20.0)
