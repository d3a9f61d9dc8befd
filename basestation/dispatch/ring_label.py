"""A key ring's label: a small sticker (50 x 25 mm) with the ring's id in big digits and a QR code a desk scanner reads.

The code's payload is ``nightwatch:ring:<device_id>:<check>``: the id in decimal without leading zeros and its Luhn
check digit (the mod-10 scheme of card numbers: every single mistyped digit and nearly every swap of two
neighbouring digits changes it). It names the ring and nothing else: never the key, nor whom the ring is for, since a
label is read by whoever holds the ring. The check digit is printed beside the id too, so a person typing the id in
at the desk can be checked the same way.
"""

import io
import re

from reportlab.graphics import renderPDF
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from basestation.dispatch.qr_drawing import qr_drawing
from protocol.constants import DEVICE_ID_MAX

PREFIX = "nightwatch:ring:"
WIDTH = 50 * mm
HEIGHT = 25 * mm
_MARGIN = 2 * mm
_QR_SIZE = HEIGHT - 2 * _MARGIN
_ID_FONT = "Helvetica-Bold"
_ID_MAX_PT = 22.0
_PAYLOAD = re.compile(r"nightwatch:ring:(0|[1-9][0-9]{0,9}):([0-9])")


class LabelError(ValueError):
    """Not a ring label's payload, or its check digit does not match its id."""


def check_digit(device_id: int) -> int:
    """The Luhn check digit of ``device_id``'s decimal digits."""
    if not 0 <= device_id <= DEVICE_ID_MAX:
        raise LabelError("device id out of range")
    total = 0
    # From the right, every other digit doubled, starting with the last: the check digit will stand after it.
    for i, ch in enumerate(reversed(str(device_id))):
        d = int(ch)
        if i % 2 == 0:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return (10 - total % 10) % 10


def payload(device_id: int) -> str:
    return f"{PREFIX}{device_id}:{check_digit(device_id)}"


def parse(text: str) -> int:
    """The device id a scanned label names; LabelError for anything else, or a check digit that does not match."""
    m = _PAYLOAD.fullmatch(text.strip())
    if m is None:
        raise LabelError("not a Nightwatch ring label")
    device_id = int(m.group(1))
    if device_id > DEVICE_ID_MAX:
        raise LabelError("device id out of range")
    if check_digit(device_id) != int(m.group(2)):
        raise LabelError("the check digit does not match the id: misread or mistyped")
    return device_id


def render(device_id: int) -> bytes:
    """The label as a one-page PDF of its own size; the same id gives the same bytes."""
    text = payload(device_id)
    out = io.BytesIO()
    c = Canvas(out, pagesize=(WIDTH, HEIGHT), invariant=True)
    c.setTitle(f"Nightwatch: key ring {device_id} label")
    c.setAuthor("Nightwatch")
    renderPDF.draw(qr_drawing(text, _QR_SIZE), c, _MARGIN, _MARGIN)
    left = _MARGIN + _QR_SIZE + 1.5 * mm
    room = WIDTH - left - _MARGIN
    digits = str(device_id)
    # As big as fits: ten digits take the width at about 12 pt, four at the cap.
    size = min(_ID_MAX_PT, room / stringWidth(digits, _ID_FONT, 1))
    c.setFont("Helvetica", 6.5)
    c.drawString(left, HEIGHT - _MARGIN - 5, "Nightwatch ring")
    c.setFont(_ID_FONT, size)
    c.drawString(left, HEIGHT / 2 - size * 0.35, digits)
    c.setFont("Helvetica", 6.5)
    c.drawString(left, _MARGIN + 1, f"check {check_digit(device_id)}")
    c.showPage()
    c.save()
    return out.getvalue()
