"""The wearer's card: one printable A4 page per key ring, in Dutch and English.

It tells the wearer what to press and what the ring's answers mean, that Nightwatch does not replace 112, the
night patrol's number, and (as a QR code) the walk-me-home page for when the ring is not at hand.

What to press and what the ring does back are read from the firmware's own tables (``firmware.config.DEFAULTS``
for the words and timings, ``firmware.feedback.PATTERNS`` for the pulses and colours), so the card says what the
ring does even after a timing or a pattern changes. Only what each answer *means* is written here.

``content()`` is pure data; ``card_pdf.render()`` lays it out with reportlab and returns the PDF's bytes.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

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

TITLE = Text("Jouw alarmsleutelhanger", "Your alarm key ring")
RING = Text("Sleutelhanger", "Key ring")
NOTICE_112 = Text(
    "Nightwatch vervangt 112 niet. Bij direct gevaar of een noodgeval: bel 112.",
    "Nightwatch does not replace 112. In danger or an emergency: call 112.",
)
PRESS_HEADING = Text("Drukken", "Press")
FEEDBACK_HEADING = Text("Wat de sleutelhanger terugzegt", "What the key ring tells you")
PATROL = Text("Nachtpatrouille bellen", "Call the night patrol")
WALK = Text(
    "Loop mee naar huis, ook zonder sleutelhanger: scan de code.",
    "Walk me home, also without the key ring: scan the code.",
)
KEEP_HOME = Text(
    "Bewaar deze kaart thuis, niet bij de sleutelhanger: wie hem leest, kent het dwangsignaal.",
    "Keep this card at home, not with the key ring: whoever reads it knows the duress signal.",
)
SAMPLE = Text(
    "VOORBEELD: niet uitdelen. Stel patrol_phone en public_url in.",
    "SAMPLE: do not hand out. Set patrol_phone and public_url.",
)

# What each of the ring's answers means; the pulses and lights beside them come from the firmware.
MEANINGS: tuple[tuple[int, Text], ...] = (
    (
        feedback.ARMING,
        Text("Een SOS gaat zo weg. Laat nu los als je dat niet wilt.", "An SOS is about to go. Let go now to stop it."),
    ),
    (feedback.SENDING, Text("Je SOS wordt verstuurd.", "Your SOS is being sent.")),
    (
        feedback.ESCORT_SENDING,
        Text("Je vraag 'loop mee naar huis' wordt verstuurd.", "Your 'walk me home' request is being sent."),
    ),
    (
        feedback.NOT_REACHED,
        Text("Nog niet aangekomen: hij blijft het proberen.", "Not through yet: it keeps trying."),
    ),
    (feedback.RECEIVED, Text("Ontvangen: de meldkamer heeft je alarm.", "Received: dispatch has your alarm.")),
    (
        feedback.HELP,
        Text(
            "Hulp is onderweg: iemand van de patrouille komt naar je toe.",
            "Help is on the way: a patrol member is coming to you.",
        ),
    ),
    (
        feedback.UNAVAILABLE,
        Text("Niemand van de patrouille kan komen: bel 112.", "Nobody from the patrol can come: call 112."),
    ),
    (feedback.CLOSED, Text("Het is voorbij: het alarm is afgesloten.", "It is over: the alarm is closed.")),
    (
        feedback.CANCELLED,
        Text(
            "Geannuleerd. Annuleren onder dwang voelt precies hetzelfde.",
            "Cancelled. A cancel under duress feels exactly the same.",
        ),
    ),
    (feedback.LOW_BATTERY, Text("Batterij bijna leeg: laad hem op.", "Battery low: charge it.")),
    (feedback.TEST_OK, Text("Test: het netwerk heeft je gehoord.", "Test: the network heard you.")),
    (
        feedback.TEST_FAILED,
        Text("Test: niet aangekomen. Probeer het ergens anders.", "Test: not through. Try somewhere else."),
    ),
)

_COLOUR_WORDS = {
    "red": Text("rood", "red"),
    "green": Text("groen", "green"),
    "amber": Text("oranje", "amber"),
    "blue": Text("blauw", "blue"),
}
_BLINKING = Text("knippert", "blinking")
_DARK = Text("geen licht", "no light")

# Vibration lengths as the hand tells them apart: a tick is felt but hardly counted, a very long one is unmistakable.
TICK_MS = 100
_SHORT_MS = 300
_LONG_MS = 1000
_PULSE_WORDS = {
    "tick": (Text("tik", "tick"), Text("tikken", "ticks")),
    "short": (Text("korte trilling", "short pulse"), Text("korte trillingen", "short pulses")),
    "long": (Text("lange trilling", "long pulse"), Text("lange trillingen", "long pulses")),
    "very long": (Text("heel lange trilling", "very long pulse"), Text("heel lange trillingen", "very long pulses")),
}
_BEEPS = (Text("piepje", "beep"), Text("piepjes", "beeps"))


def _seconds(ms: int, lang: Lang) -> str:
    s = f"{ms / 1000:g}"
    return s.replace(".", ",") if lang == "nl" else s


def _duration(seconds: float, lang: Lang) -> str:
    if seconds < 120:
        return f"{seconds:g} s"
    minutes = f"{seconds / 60:.1f}".removesuffix(".0")
    return f"{minutes.replace('.', ',')} minuten" if lang == "nl" else f"{minutes} minutes"


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
    return (", dan " if lang == "nl" else ", then ").join(parts)


def feel(pattern: int) -> Text:
    """The vibration (and sound) a pattern starts with, in words: what the wearer counts."""
    intro, _loop = feedback.PATTERNS[pattern]
    runs = _runs([_pulse_kind(ms) for ms, _led, vibe, _hz in intro if vibe])
    beeps = sum(1 for _ms, _led, _vibe, hz in intro if hz)

    def words(lang: Lang) -> str:
        parts = [f"{n} {_PULSE_WORDS[kind][n > 1][lang]}" for kind, n in runs]
        text = _then(parts, lang)
        if beeps:
            text += f" + {beeps} {_BEEPS[beeps > 1][lang]}"
        return text

    return Text(words("nl"), words("en"))


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
        return Text(f"{word.nl}, {_BLINKING.nl}", f"{word.en}, {_BLINKING.en}")
    return word


_PRESS_WORDS = {"S": Text("{n}x kort", "{n} short"), "L": Text("{n}x lang", "{n} long")}


def _word_text(word: str, lang: Lang) -> str:
    """A press word ("SSL") in words: "2 short, then 1 long"."""
    return _then([_PRESS_WORDS[p][lang].format(n=n) for p, n in _runs(list(word))], lang)


def presses(cancel_window_s: float, settings: Mapping[str, Any] = FIRMWARE) -> tuple[PressRow, ...]:
    """The wearer's gestures, from the firmware's settings (a ring provisioned with others gets their card), and
    how long after an alarm a cancel still stands the patrol down (dispatch's ``cancel_window_s``)."""
    hold, arm, click = int(settings["hold_ms"]), int(settings["arm_ms"]), int(settings["click_max_ms"])
    window = Text(*(_duration(cancel_window_s, lang) for lang in LANGS))

    def how(word: str) -> Text:
        nl, en = _word_text(word, "nl"), _word_text(word, "en")
        if "L" in word:
            nl += f" (lang = {_seconds(click, 'nl')}-{_seconds(hold, 'nl')} s)"
            en += f" (long = {_seconds(click, 'en')}-{_seconds(hold, 'en')} s)"
        return Text(nl, en + (" presses" if "L" not in word else ""))

    def pictured(word: str) -> tuple[int, ...]:
        return tuple(click // 3 if p == "S" else (click + hold) // 2 for p in word)

    idle = Text("Als er geen alarm loopt.", "When no alarm is open.")
    return (
        PressRow(
            Text("SOS", "SOS"),
            Text(f"houd {_seconds(hold, 'nl')} s ingedrukt", f"hold for {_seconds(hold, 'en')} s"),
            Text(
                f"Na {_seconds(arm, 'nl')} s voel je een tik: blijf vasthouden. Werkt altijd, ook als er al een"
                " alarm loopt.",
                f"After {_seconds(arm, 'en')} s you feel a tick: keep holding. Works at any time, also while an"
                " alarm is open.",
            ),
            (hold,),
        ),
        PressRow(
            Text("Loop mee naar huis", "Walk me home"),
            how(str(settings["escort_word"])),
            Text(f"Vraag de patrouille om met je mee te lopen. {idle.nl}", f"Ask the patrol to walk you. {idle.en}"),
            pictured(str(settings["escort_word"])),
        ),
        PressRow(
            Text("Annuleren", "Cancel"),
            how(str(settings["cancel_word"])),
            Text(
                f"Terwijl een alarm loopt. Tot {window.nl} na het alarm komt de patrouille dan niet; daarna komt er"
                " toch iemand kijken.",
                f"While an alarm is open. Up to {window.en} after the alarm the patrol stands down; after that,"
                " someone still comes to check.",
            ),
            pictured(str(settings["cancel_word"])),
        ),
        PressRow(
            Text("Annuleren onder dwang", "Cancel under duress"),
            how(str(settings["duress_word"])),
            Text(
                "Lijkt en voelt als annuleren, maar slaat juist meteen alarm bij de patrouille en de alarmcentrale.",
                "Looks and feels like a cancel, but raises the alarm at once with the patrol and the monitoring"
                " centre.",
            ),
            pictured(str(settings["duress_word"])),
        ),
        PressRow(
            Text("Test", "Test"),
            how(str(settings["test_word"])),
            Text(f"Hoort het netwerk je hier? {idle.nl}", f"Does the network hear you here? {idle.en}"),
            pictured(str(settings["test_word"])),
        ),
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
