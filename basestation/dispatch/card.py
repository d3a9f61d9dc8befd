"""The wearer's card: one printable A4 page per key ring, in Dutch and English.

It tells the wearer what to press and what the ring's answers mean, that Nightwatch does not replace 112, the
night patrol's number, and (as a QR code) the walk-me-home page for when the ring is not at hand.

What to press and what the ring does back are read from the firmware's own tables (``firmware.config.DEFAULTS``
for the words and timings, ``firmware.feedback.PATTERNS`` for the pulses and colours), so the card says what the
ring does even after a timing or a pattern changes. Only what each answer *means* is written here.

``content()`` is pure data; ``render()`` lays it out with reportlab and returns the PDF's bytes.
"""

import io
from collections.abc import Callable, Mapping
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

from basestation.dispatch import i18n
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
_TICK_MS = 100
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


def presses(cancel_window_s: float, settings: Mapping[str, Any] = _FIRMWARE) -> tuple[PressRow, ...]:
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

    return (
        PressRow(
            t("card.sos.action"),
            _each(lambda lang: i18n.text(lang, "card.sos.how", s=_seconds(hold, lang))),
            _each(lambda lang: i18n.text(lang, "card.sos.note", s=_seconds(arm, lang))),
            (hold,),
        ),
        PressRow(
            t("card.escort.action"),
            how(str(settings["escort_word"])),
            t("card.escort.note"),
            pictured(str(settings["escort_word"])),
        ),
        PressRow(
            t("card.cancel.action"),
            how(str(settings["cancel_word"])),
            _each(lambda lang: i18n.text(lang, "card.cancel.note", window=window[lang])),
            pictured(str(settings["cancel_word"])),
        ),
        PressRow(
            t("card.duress.action"),
            how(str(settings["duress_word"])),
            t("card.duress.note"),
            pictured(str(settings["duress_word"])),
        ),
        PressRow(
            t("card.test.action"),
            how(str(settings["test_word"])),
            t("card.test.note"),
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
