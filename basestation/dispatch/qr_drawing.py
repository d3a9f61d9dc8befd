"""A QR code as a ReportLab drawing of a given size, for the printed pages: the ring's label and the wearer's card."""

from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing


def qr_drawing(text: str, size: float) -> Drawing:
    """``text`` as a QR code (error correction M, the standard four-module quiet zone), ``size`` points square."""
    widget = QrCodeWidget(text, barLevel="M", barBorder=4)
    x0, y0, x1, y1 = widget.getBounds()
    d = Drawing(size, size, transform=[size / (x1 - x0), 0, 0, size / (y1 - y0), 0, 0])
    d.add(widget)
    return d
