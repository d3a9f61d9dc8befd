"""The wearer's card: one printable A4 page per key ring, in Dutch and English.

It tells the wearer what to press and what the ring's answers mean, that Nightwatch does not replace 112, the
night patrol's number, and (as a QR code) the walk-me-home page for when the ring is not at hand.

What to press and what the ring does back are read from the firmware's own tables (``firmware.config.DEFAULTS``
for the words and timings, ``firmware.feedback.PATTERNS`` for the pulses and colours), so the card says what the
ring does even after a timing or a pattern changes. Only what each answer *means* is written here.

``content()`` is pure data; ``card_pdf.render()`` lays it out with reportlab and returns the PDF's bytes.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from basestation.dispatch import i18n
from basestation.dispatch.settings import PATROL_PHONE_PLACEHOLDER, PUBLIC_URL_PLACEHOLDER
from firmware import feedback
from firmware.config import DEFAULTS

Lang = Literal["nl", "en"]
LANGS: tuple[Lang, ...] = ("nl", "en")
LABEL_MAX = 120  # as the device registry's column
WALK_PATH = "/walk"
FIRMWARE: Mapping[str, Any] = DEFAULTS  # the ring's defaults; the firmware's dict is untyped


class CardError(ValueError):
    """The card cannot be made as asked (it would not fit on one page)."""


@dataclass(frozen=True, slots=True)
class Text:
    nl: str
    en: str

    def __getitem__(self, lang: Lang) -> str:
        return self.nl if lang == "nl" else self.en


@dataclass(frozen=True, slots=True)
class PressRow:
    action: Text  # what it does: "SOS"
    how: Text  # what the wearer does: "hold for 2 s"
    note: Text  # when it counts, and what follows
    presses: tuple[int, ...]  # each press's length in ms, for the picture


@dataclass(frozen=True, slots=True)
class FeedbackRow:
    pattern: str  # the firmware's pattern name
    feel: Text  # what the motor (and buzzer) do: "3 long pulses"
    light: Text  # what the LED shows: "green, blinking"
    means: Text
    pulses: tuple[int, ...]  # each vibration pulse in ms, for the picture
    colour: str | None  # the LED's colour name (feedback.COLOUR_NAMES); None: dark


@dataclass(frozen=True, slots=True)
class CardContent:
    device_id: int
    label: str | None
    patrol_phone: str
    walk_url: str  # the QR code's payload
    sample: bool  # a placeholder setting is in it: the card says so across the page
    presses: tuple[PressRow, ...]
    feedback: tuple[FeedbackRow, ...]


# -- the words on the card ----------------------------------------------------------------------------------
# The words are in the web app's gettext catalogues (card.*), as every text a person reads. The card shows both
# languages side by side, so a text is looked up in both at once.


def t(key: str, **values: object) -> Text:
    """A text of the card in both its languages."""
    return Text(*(i18n.text(lang, key, **values) for lang in LANGS))


def _each(words: Callable[[Lang], str]) -> Text:
    """A text put together in each language by ``words``."""
    return Text(*(words(lang) for lang in LANGS))


TITLE = t("card.title")
RING = t("card.ring")
NOTICE_112 = t("card.notice_112")
PRESS_HEADING = t("card.press_heading")
FEEDBACK_HEADING = t("card.feedback_heading")
PATROL = t("card.patrol")
WALK = t("card.walk")
KEEP_HOME = t("card.keep_home")
SAMPLE = t("card.sample")

# What each of the ring's answers means; the pulses and lights beside them come from the firmware.
MEANINGS: tuple[tuple[int, Text], ...] = (
    (feedback.ARMING, t("card.means.arming")),
    (feedback.SENDING, t("card.means.sending")),
    (feedback.ESCORT_SENDING, t("card.means.escort_sending")),
    (feedback.NOT_REACHED, t("card.means.not_reached")),
    (feedback.RECEIVED, t("card.means.received")),
    (feedback.HELP, t("card.means.help")),
    (feedback.UNAVAILABLE, t("card.means.unavailable")),
    (feedback.CLOSED, t("card.means.closed")),
    (feedback.CANCELLED, t("card.means.cancelled")),
    (feedback.LOW_BATTERY, t("card.means.low_battery")),
    (feedback.TEST_OK, t("card.means.test_ok")),
    (feedback.TEST_FAILED, t("card.means.test_failed")),
)

_COLOUR_WORDS = {
    "red": t("card.colour.red"),
    "green": t("card.colour.green"),
    "amber": t("card.colour.amber"),
    "blue": t("card.colour.blue"),
}
_DARK = t("card.light.dark")

# Vibration lengths as the hand tells them apart: a tick is felt but hardly counted, a very long one is unmistakable.
TICK_MS = 100
_SHORT_MS = 300
_LONG_MS = 1000
# "3 long pulses": each kind of pulse counted, in the language's plural; a call each, so that extraction finds them.
_PULSE_WORDS: dict[str, Callable[[Lang, int], str]] = {
    "tick": lambda lang, n: i18n.plural(lang, "card.pulse.tick", n),
    "short": lambda lang, n: i18n.plural(lang, "card.pulse.short", n),
    "long": lambda lang, n: i18n.plural(lang, "card.pulse.long", n),
    "very long": lambda lang, n: i18n.plural(lang, "card.pulse.very_long", n),
}


def _seconds(ms: int, lang: Lang) -> str:
    return f"{ms / 1000:g}".replace(".", i18n.text(lang, "a11y.decimal"))


def _duration(seconds: float, lang: Lang) -> str:
    if seconds < 120:
        return f"{seconds:g} s"
    minutes = f"{seconds / 60:.1f}".removesuffix(".0")
    return i18n.text(lang, "card.minutes", n=minutes.replace(".", i18n.text(lang, "a11y.decimal")))


def _pulse_kind(ms: int) -> str:
    if ms < TICK_MS:
        return "tick"
    if ms <= _SHORT_MS:
        return "short"
    return "long" if ms <= _LONG_MS else "very long"


def _runs(items: list[str]) -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    for item in items:
        if out and out[-1][0] == item:
            out[-1] = (item, out[-1][1] + 1)
        else:
            out.append((item, 1))
    return out


def _then(parts: list[str], lang: Lang) -> str:
    return i18n.text(lang, "card.then").join(parts)


def feel(pattern: int) -> Text:
    """The vibration (and sound) a pattern starts with, in words: what the wearer counts."""
    intro, _loop = feedback.PATTERNS[pattern]
    runs = _runs([_pulse_kind(ms) for ms, _led, vibe, _hz in intro if vibe])
    beeps = sum(1 for _ms, _led, _vibe, hz in intro if hz)

    def words(lang: Lang) -> str:
        said = _then([_PULSE_WORDS[kind](lang, n) for kind, n in runs], lang)
        return said + " + " + i18n.plural(lang, "card.beeps", beeps) if beeps else said

    return _each(words)


def _colour(pattern: int) -> str | None:
    intro, loop = feedback.PATTERNS[pattern]
    lit = [led for _ms, led, _vibe, _hz in (*intro, *loop) if led != feedback.OFF]
    return feedback.COLOUR_NAMES[lit[0]] if lit else None


def light(pattern: int) -> Text:
    """The LED's colour, and whether it goes on blinking after the vibration."""
    colour = _colour(pattern)
    if colour is None:
        return _DARK
    _intro, loop = feedback.PATTERNS[pattern]
    word = _COLOUR_WORDS[colour]
    if any(led != feedback.OFF for _ms, led, _vibe, _hz in loop):
        return _each(lambda lang: i18n.text(lang, "card.light.blinking", colour=word[lang]))
    return word


_PRESS_WORDS = {"S": i18n.N_("card.press.short"), "L": i18n.N_("card.press.long")}


def _word_text(word: str, lang: Lang) -> str:
    """A press word ("SSL") in words: "2 short, then 1 long"."""
    return _then([i18n.text(lang, _PRESS_WORDS[p], n=n) for p, n in _runs(list(word))], lang)


def presses(cancel_window_s: float, settings: Mapping[str, Any] = FIRMWARE) -> tuple[PressRow, ...]:
    """The wearer's gestures, from the firmware's settings (a ring provisioned with others gets their card), and
    how long after an alarm a cancel still stands the patrol down (dispatch's ``cancel_window_s``)."""
    hold, arm, click = int(settings["hold_ms"]), int(settings["arm_ms"]), int(settings["click_max_ms"])
    window = _each(lambda lang: _duration(cancel_window_s, lang))

    def how(word: str) -> Text:
        if "L" in word:
            return _each(
                lambda lang: i18n.text(
                    lang,
                    "card.how.with_long",
                    presses=_word_text(word, lang),
                    shortest=_seconds(click, lang),
                    longest=_seconds(hold, lang),
                )
            )
        return _each(lambda lang: i18n.text(lang, "card.how.short_only", presses=_word_text(word, lang)))

    def pictured(word: str) -> tuple[int, ...]:
        return tuple(click // 3 if p == "S" else (click + hold) // 2 for p in word)

    def by_word(action: Text, note: Text, setting: str) -> PressRow:
        """The row of a gesture made by the press word the firmware's ``setting`` names."""
        word = str(settings[setting])
        return PressRow(action, how(word), note, pictured(word))

    return (
        PressRow(
            t("card.sos.action"),
            _each(lambda lang: i18n.text(lang, "card.sos.how", s=_seconds(hold, lang))),
            _each(lambda lang: i18n.text(lang, "card.sos.note", s=_seconds(arm, lang))),
            (hold,),
        ),
        by_word(t("card.escort.action"), t("card.escort.note"), "escort_word"),
        by_word(
            t("card.cancel.action"),
            _each(lambda lang: i18n.text(lang, "card.cancel.note", window=window[lang])),
            "cancel_word",
        ),
        by_word(t("card.duress.action"), t("card.duress.note"), "duress_word"),
        by_word(t("card.test.action"), t("card.test.note"), "test_word"),
    )


def feedback_rows() -> tuple[FeedbackRow, ...]:
    rows = []
    for pattern, means in MEANINGS:
        intro, _loop = feedback.PATTERNS[pattern]
        pulses = tuple(ms for ms, _led, vibe, _hz in intro if vibe)
        rows.append(
            FeedbackRow(feedback.PATTERN_NAMES[pattern], feel(pattern), light(pattern), means, pulses, _colour(pattern))
        )
    return tuple(rows)


def walk_url(public_url: str) -> str:
    return public_url.rstrip("/") + WALK_PATH


def content(
    device_id: int,
    label: str | None,
    patrol_phone: str,
    public_url: str,
    cancel_window_s: float,
    settings: Mapping[str, Any] = FIRMWARE,
) -> CardContent:
    """The card of ring ``device_id``, with the patrol's number, the service's public URL and the cancel window
    as DispatchSettings has them."""
    label = (label or "").strip() or None
    if label is not None and len(label) > LABEL_MAX:
        raise CardError(f"a label has at most {LABEL_MAX} characters")
    sample = patrol_phone == PATROL_PHONE_PLACEHOLDER or public_url.rstrip("/") == PUBLIC_URL_PLACEHOLDER
    rows = presses(cancel_window_s, settings)
    return CardContent(device_id, label, patrol_phone, walk_url(public_url), sample, rows, feedback_rows())
