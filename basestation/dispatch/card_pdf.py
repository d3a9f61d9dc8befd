"""The wearer's card laid out with reportlab: one A4 page, Dutch beside English, the presses and the ring's answers
each with a picture, the night patrol's number and the walk-me-home page's QR code. What it says is ``card``'s
(``card.content()``); this module only draws it.
"""

import io
from typing import Any
from xml.sax.saxutils import escape

from reportlab.graphics.shapes import Circle, Drawing, Rect
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Flowable, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from basestation.dispatch.card import (
    FEEDBACK_HEADING,
    FIRMWARE,
    KEEP_HOME,
    NOTICE_112,
    PATROL,
    PRESS_HEADING,
    RING,
    SAMPLE,
    TICK_MS,
    TITLE,
    WALK,
    CardContent,
    CardError,
    FeedbackRow,
)
from basestation.dispatch.qr_drawing import qr_drawing

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
        h = 1.4 * mm if ms < TICK_MS else 2.4 * mm
        d.add(_bar(x, y - h / 2, w, h))
        x += w + 1.1 * mm
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
    qr = [qr_drawing(card.walk_url, _QR_SIZE), _p(card.walk_url, _URL)]
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


def render(card: CardContent, hold_ms: int = FIRMWARE["hold_ms"]) -> bytes:
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
