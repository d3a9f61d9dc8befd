"""Accounts added at run time: operators and responders who sign in on their own phone with a link or QR code.

A token is made here, handed out once inside its sign-in link, and kept only as its SHA-256: the database alone
signs nobody in, and an operator who lost a link makes a new one, which ends the old. ``--token`` in the
settings stays for the first operator (and for automation), who adds everyone else here.
"""

import hashlib
import re
import secrets
import unicodedata
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from reportlab.graphics import renderSVG
from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing

ROLES = ("operator", "responder")
TOKEN_BYTES = 24  # 32 URL-safe characters: far past guessing, short enough for a QR code a phone reads at once


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    role: str
    name: str
    responder_id: str | None
    phone: str | None
    created_ms: int
    created_by: str | None = None
    revoked_ms: int | None = None
    revoked_by: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked_ms is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "role": self.role,
            "name": self.name,
            "responder_id": self.responder_id,
            "phone": self.phone,
            "created_ms": self.created_ms,
            "created_by": self.created_by,
            "revoked_ms": self.revoked_ms,
            "revoked_by": self.revoked_by,
        }


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def new_account_id() -> str:
    return "acct-" + secrets.token_hex(5)


def digest(token: str) -> str:
    """What the database keeps of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


def responder_id_for(name: str, taken: set[str]) -> str:
    """A readable responder id from a name ("Anna de Vries" -> "anna-de-vries"), made unique against ``taken``:
    ids show in the audit trail, where a person's name reads better than a random string."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    base = re.sub(r"[^a-z0-9]+", "-", plain).strip("-")[:40] or "responder"
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}-{n}", n + 1
    return candidate


def signin_link(base_url: str, token: str) -> str:
    """The link that signs its holder in. The token rides in the fragment, which a browser never sends: it reaches
    no server log or proxy, and the sign-in page wipes it from the address bar and history (app.js)."""
    return f"{base_url.rstrip('/')}/ui/#token={quote(token, safe='')}"


def qr_svg(text: str, size_px: int = 240) -> str:
    """``text`` as a QR code, an SVG document for the page to show. Error correction M: a phone's camera reads it
    off another screen at arm's length."""
    widget = QrCodeWidget(text, barLevel="M", barBorder=4)
    x0, y0, x1, y1 = widget.getBounds()
    drawing = Drawing(size_px, size_px, transform=[size_px / (x1 - x0), 0, 0, size_px / (y1 - y0), 0, 0])
    drawing.add(widget)
    svg: str = renderSVG.drawToString(drawing)
    # The document's XML declaration and doctype are for a file, not for markup placed inside a page.
    return svg[svg.index("<svg") :]
