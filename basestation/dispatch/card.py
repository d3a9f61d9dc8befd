"""The wearer's card: one printable A4 page per key ring, in Dutch and English.

It tells the wearer what to press and what the ring's answers mean, that Nightwatch does not replace 112, the
night patrol's number, and (as a QR code) the walk-me-home page for when the ring is not at hand.

What to press and what the ring does back are read from the firmware's own tables (``firmware.config.DEFAULTS``
for the words and timings, ``firmware.feedback.PATTERNS`` for the pulses and colours), so the card says what the
ring does even after a timing or a pattern changes. Only what each answer *means* is written here.

``content()`` is pure data; ``render()`` lays it out with reportlab and returns the PDF's bytes.
"""

import io
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from xml.sax.saxutils import escape

from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Circle, Drawing, Rect
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Flowable, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from basestation.dispatch.settings import PATROL_PHONE_PLACEHOLDER, PUBLIC_URL_PLACEHOLDER
from firmware import feedback
from firmware.config import DEFAULTS

Lang = Literal["nl", "en"]
LANGS: tuple[Lang, ...] = ("nl", "en")
LABEL_MAX = 120  # as the device registry's column
WALK_PATH = "/walk"
_FIRMWARE: Mapping[str, Any] = DEFAULTS  # the ring's defaults; the firmware's dict is untyped


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
_TICK_MS = 100
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
    if ms < _TICK_MS:
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


def presses(cancel_window_s: float, settings: Mapping[str, Any] = _FIRMWARE) -> tuple[PressRow, ...]:
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
    settings: Mapping[str, Any] = _FIRMWARE,
) -> CardContent:
    """The card of ring ``device_id``, with the patrol's number, the service's public URL and the cancel window
    as DispatchSettings has them."""
    label = (label or "").strip() or None
    if label is not None and len(label) > LABEL_MAX:
        raise CardError(f"a label has at most {LABEL_MAX} characters")
    sample = patrol_phone == PATROL_PHONE_PLACEHOLDER or public_url.rstrip("/") == PUBLIC_URL_PLACEHOLDER
    rows = presses(cancel_window_s, settings)
    return CardContent(device_id, label, patrol_phone, walk_url(public_url), sample, rows, feedback_rows())


# -- layout ---------------------------------------------------------------------------------------------------

_INK = colors.HexColor("#111827")
_MUTED = colors.HexColor("#4b5563")
_RULE = colors.HexColor("#d1d5db")
_ALERT = colors.HexColor("#b91c1c")
_LED_INK = {
    "red": colors.HexColor("#dc2626"),
    "green": colors.HexColor("#16a34a"),
    "amber": colors.HexColor("#f59e0b"),
    "blue": colors.HexColor("#2563eb"),
}
_MARGIN = 14 * mm
_PICTURE_W = 30 * mm
_QR_SIZE = 30 * mm
_QR_COLUMN = 62 * mm  # wide enough for the URL beneath the code on one line

_BODY = ParagraphStyle("body", fontName="Helvetica", fontSize=8.3, leading=9.9, textColor=_INK)
_HEAD = ParagraphStyle("head", parent=_BODY, fontName="Helvetica-Bold", fontSize=10.5, leading=13)
_TITLE = ParagraphStyle("title", parent=_BODY, fontName="Helvetica-Bold", fontSize=18, leading=21)
_RING = ParagraphStyle("ring", parent=_BODY, fontName="Helvetica-Bold", fontSize=14, leading=17, alignment=TA_RIGHT)
_LABEL = ParagraphStyle("label", parent=_BODY, fontSize=9, leading=11, alignment=TA_RIGHT)
_NOTICE = ParagraphStyle("notice", parent=_BODY, fontName="Helvetica-Bold", fontSize=11, leading=14, textColor=_ALERT)
_PHONE = ParagraphStyle("phone", parent=_BODY, fontName="Helvetica-Bold", fontSize=20, leading=25)
_SMALL = ParagraphStyle("small", parent=_BODY, fontSize=7.6, leading=9.4, textColor=_MUTED)
_URL = ParagraphStyle("url", parent=_SMALL, alignment=TA_CENTER)


def _p(text: str, style: ParagraphStyle) -> Paragraph:
    return Paragraph(escape(text), style)


def _bold_then(head: str, rest: str) -> Paragraph:
    return Paragraph(f"<b>{escape(head)}</b><br/>{escape(rest)}", _BODY)


def _bar(x: float, y: float, w: float, h: float, rounded: bool = False) -> Rect:
    bar = Rect(x, y, w, h, rx=h / 2 if rounded else 0, ry=h / 2 if rounded else 0)
    bar.fillColor, bar.strokeColor = _INK, None
    return bar


def _press_picture(lengths: tuple[int, ...], hold_ms: int) -> Drawing:
    """Presses as the finger makes them: a dot for a short one, a bar as long as the press for a long one."""
    room, gap = _PICTURE_W - 2 * mm, 1.6 * mm
    widths = [max(2.4 * mm, (room - 2 * mm) * ms / max(hold_ms, 1)) for ms in lengths]
    # A long word under other settings is drawn narrower rather than past its column.
    scale = min(1.0, room / (sum(widths) + gap * (len(widths) - 1)))
    d = Drawing(_PICTURE_W, 6 * mm)
    x, y, h = 1 * mm, 3 * mm, 2.4 * mm * scale
    for w in widths:
        d.add(_bar(x, y - h / 2, w * scale, h, rounded=True))
        x += (w + gap) * scale
    return d


def _feedback_picture(row: FeedbackRow) -> Drawing:
    """The LED's colour, then the vibration pulses, each as long as it lasts."""
    d = Drawing(_PICTURE_W, 6 * mm)
    y = 3 * mm
    ink = _LED_INK.get(row.colour or "")
    d.add(Circle(2.4 * mm, y, 1.8 * mm, fillColor=ink or colors.white, strokeColor=ink or _MUTED, strokeWidth=0.6))
    x = 6 * mm
    for ms in row.pulses:
        w = max(0.7 * mm, 13 * mm * ms / 1500)
        h = 1.4 * mm if ms < _TICK_MS else 2.4 * mm
        d.add(_bar(x, y - h / 2, w, h))
        x += w + 1.1 * mm
    return d


def _qr(payload: str) -> Drawing:
    widget = QrCodeWidget(payload, barLevel="M", barBorder=4)
    x0, y0, x1, y1 = widget.getBounds()
    d = Drawing(_QR_SIZE, _QR_SIZE, transform=[_QR_SIZE / (x1 - x0), 0, 0, _QR_SIZE / (y1 - y0), 0, 0])
    d.add(widget)
    return d


def _grid(rows: list[list[Any]], widths: list[float], head: bool = True) -> Table:
    table = Table(rows, colWidths=widths)
    style: list[Any] = [
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("LEFTPADDING", (0, 0), (-1, -1), 3),
        ("RIGHTPADDING", (0, 0), (-1, -1), 3),
        ("TOPPADDING", (0, 0), (-1, -1), 1.4),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 1.6),
        ("LINEBELOW", (0, 0), (-1, -2), 0.4, _RULE),
    ]
    if head:
        style.append(("LINEBELOW", (0, 0), (-1, 0), 0.8, _INK))
    table.setStyle(TableStyle(style))
    return table


def _story(card: CardContent, hold_ms: int) -> list[Flowable]:
    width = A4[0] - 2 * _MARGIN
    half = (width - _PICTURE_W) / 2
    title = [_p("Nightwatch", _TITLE), _p(f"{TITLE.nl} / {TITLE.en}", _BODY)]
    header = Table([[title, _p(f"{RING.nl} / {RING.en} {card.device_id}", _RING)]], colWidths=[width / 2] * 2)
    header.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "BOTTOM"),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("RIGHTPADDING", (0, 0), (-1, -1), 0),
            ]
        )
    )
    story: list[Flowable] = [header]
    if card.label:
        story.append(_p(card.label, _LABEL))
    story.append(Spacer(0, 2 * mm))
    notice = Table([[_p(NOTICE_112.nl, _NOTICE), _p(NOTICE_112.en, _NOTICE)]], colWidths=[width / 2, width / 2])
    notice.setStyle(
        TableStyle(
            [
                ("BOX", (0, 0), (-1, -1), 1.6, _ALERT),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ("TOPPADDING", (0, 0), (-1, -1), 5),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 6),
                ("LEFTPADDING", (0, 0), (-1, -1), 6),
            ]
        )
    )
    story += [notice, Spacer(0, 3 * mm)]

    press_rows: list[list[Any]] = [["", _p(PRESS_HEADING.nl, _HEAD), _p(PRESS_HEADING.en, _HEAD)]]
    for row in card.presses:
        press_rows.append(
            [
                _press_picture(row.presses, hold_ms),
                _bold_then(f"{row.action.nl}: {row.how.nl}", row.note.nl),
                _bold_then(f"{row.action.en}: {row.how.en}", row.note.en),
            ]
        )
    story += [_grid(press_rows, [_PICTURE_W, half, half]), Spacer(0, 3 * mm)]

    fb_rows: list[list[Any]] = [["", _p(FEEDBACK_HEADING.nl, _HEAD), _p(FEEDBACK_HEADING.en, _HEAD)]]
    for fb in card.feedback:
        fb_rows.append(
            [
                _feedback_picture(fb),
                _bold_then(f"{fb.feel.nl}; {fb.light.nl}", fb.means.nl),
                _bold_then(f"{fb.feel.en}; {fb.light.en}", fb.means.en),
            ]
        )
    story += [_grid(fb_rows, [_PICTURE_W, half, half]), Spacer(0, 3 * mm)]

    patrol = [
        _p(f"{PATROL.nl} / {PATROL.en}", _HEAD),
        _p(card.patrol_phone, _PHONE),
        Spacer(0, 2 * mm),
        _p(WALK.nl, _BODY),
        _p(WALK.en, _BODY),
        Spacer(0, 2 * mm),
        _p(KEEP_HOME.nl, _SMALL),
        _p(KEEP_HOME.en, _SMALL),
    ]
    qr = [_qr(card.walk_url), _p(card.walk_url, _URL)]
    bottom = Table([[patrol, qr]], colWidths=[width - _QR_COLUMN, _QR_COLUMN])
    bottom.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("ALIGN", (1, 0), (1, 0), "CENTER"),
                ("LINEABOVE", (0, 0), (-1, 0), 0.8, _INK),
                ("LEFTPADDING", (0, 0), (-1, -1), 3),
                ("TOPPADDING", (0, 0), (-1, -1), 4),
            ]
        )
    )
    story.append(bottom)
    return story


def _plain(canvas: Canvas, doc: SimpleDocTemplate) -> None:
    pass


def _sample_mark(canvas: Canvas, doc: SimpleDocTemplate) -> None:
    """Across the page, under the text, and once more in the top margin: it takes no room from the card."""
    w, h = A4
    canvas.saveState()
    canvas.setFillColor(_ALERT)
    canvas.setFont("Helvetica-Bold", 9)
    canvas.drawCentredString(w / 2, h - _MARGIN / 2 - 3, f"{SAMPLE.nl} / {SAMPLE.en}")
    canvas.setFillAlpha(0.12)
    canvas.setFont("Helvetica-Bold", 64)
    canvas.translate(w / 2, h / 2)
    canvas.rotate(55)
    canvas.drawCentredString(0, 10, "VOORBEELD")
    canvas.drawCentredString(0, -60, "SAMPLE")
    canvas.restoreState()


def render(card: CardContent, hold_ms: int = _FIRMWARE["hold_ms"]) -> bytes:
    """The card as a one-page PDF; the same content gives the same bytes (no time stamp in it)."""
    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=_MARGIN,
        rightMargin=_MARGIN,
        topMargin=_MARGIN,
        bottomMargin=_MARGIN,
        title=f"Nightwatch: {RING.en.lower()} {card.device_id}",
        author="Nightwatch",
        invariant=True,
    )
    page = _sample_mark if card.sample else _plain
    doc.build(_story(card, hold_ms), onFirstPage=page, onLaterPages=page)
    if doc.page != 1:
        raise CardError(f"the card took {doc.page} pages instead of one")
    return out.getvalue()
