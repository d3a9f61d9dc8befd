"""`nightwatch provision` as the tests run it (tests/test_provision_*.py): the command in process with its words as
one line and its last JSON line, the key every ring made there gets, and the label's PDF read back: its size, its
text and the QR codes found in its picture.
"""

import json
import re
from dataclasses import dataclass
from typing import Any

import pypdfium2 as pdfium
import zxingcpp
from typer.testing import CliRunner, Result

from nightwatch.cli import app as cli

KEY = bytes(range(16))


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, ["provision", *args], env=env)


def said(r: Result) -> str:
    """The command's words as one line: the usage error's box and its line breaks taken out."""
    return " ".join(re.sub("[\u2500-\u257f]", " ", r.output).split())


def last_json(output: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    return found


@dataclass(frozen=True)
class Label:
    size_mm: tuple[float, float]
    text: str
    qr: list[str]


def read_label(pdf: bytes) -> Label:
    doc = pdfium.PdfDocument(pdf)
    try:
        assert len(doc) == 1
        page = doc[0]
        w, h = page.get_size()
        text = " ".join(page.get_textpage().get_text_range().split())
        image = page.render(scale=6).to_pil()  # 432 dpi: the code's modules a few pixels each
        codes = [c.text for c in zxingcpp.read_barcodes(image) if c.format == zxingcpp.BarcodeFormat.QRCode]
        return Label((round(w / 72 * 25.4, 1), round(h / 72 * 25.4, 1)), text, codes)
    finally:
        doc.close()
