"""Walk-me-home requests from people without a key ring: the public page (/walk) and the telephony hook. Pure: how
a phone number is compared, when the page is open, and what the person may read of their request.

A request becomes an escort incident like an operator's phone intake (intake.py), offered to the nearest on-duty
patrol. The person follows it with a short reference, to read aloud on the phone, and a secret only their own
browser holds: the reference alone shows nothing (docs/walk.md).
"""

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from basestation.dispatch.core.assignment import in_shift

# Read aloud and typed on a phone: no 0/O, 1/I/L, 2/Z, 5/S, 8/B.
REFERENCE_ALPHABET = "ACDEFGHJKMNPQRTUVWXY34679"
REFERENCE_LENGTH = 6  # 25^6 = 244 million: a reference is a name, never the key (the secret is)
SOURCES = ("walk", "telephony", "sms")


class PhoneError(ValueError):
    pass


def new_reference() -> str:
    raw = "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(REFERENCE_LENGTH))
    return f"{raw[:3]}-{raw[3:]}"


def new_secret() -> str:
    return secrets.token_urlsafe(24)


def secret_hash(secret: str) -> str:
    # Only the hash is stored: a leaked database does not let anyone read or cancel someone's request.
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(secret_hash(secret), stored_hash)


def normalize_phone(text: str, country_code: str = "31") -> str:
    """One spelling per number, so that limits and the block list cannot be dodged by writing it differently:
    "+31 6 1234 5678", "0031612345678" and "06-12345678" are all "+31612345678". A national number (one leading
    0) takes ``country_code``."""
    s = text.strip()
    if not s:
        raise PhoneError("a phone number is needed")
    if any(c not in "0123456789+ ()-./" for c in s) or "+" in s[1:]:
        raise PhoneError("a phone number has digits, an optional leading +, spaces, dashes, dots or brackets")
    digits = "".join(c for c in s if c.isdigit())
    if s.startswith("+"):
        full = digits
    elif digits.startswith("00"):
        full = digits[2:]
    elif digits.startswith("0"):
        full = country_code + digits[1:]
    else:
        full = digits
    if not 8 <= len(full) <= 15 or full.startswith("0"):
        raise PhoneError("a phone number has 8 to 15 digits with its country code")
    return "+" + full


@dataclass(frozen=True, slots=True)
class Override:
    """An operator's word on the page: "open" or "closed" until ``until_ms`` (0: until said otherwise)."""

    state: str
    until_ms: int = 0
    by: str | None = None

    def active(self, now_ms: int) -> bool:
        return self.until_ms == 0 or now_ms < self.until_ms


@dataclass(frozen=True, slots=True)
class Opening:
    open: bool
    why: str  # "hours", "operator" or "always"


def opening(now_ms: int, hours: str | None, timezone: str, override: Override | None) -> Opening:
    """Whether requests are taken now: an operator's override while it lasts, else the patrol's hours on the
    configured zone's wall clock (summer time included), else always."""
    if override is not None and override.active(now_ms):
        return Opening(override.state == "open", "operator")
    if not hours:
        return Opening(True, "always")
    return Opening(in_shift(hours, now_ms, timezone), "hours")


def first_name(name: str) -> str:
    """What the person is told of who is coming: a first name, never a full one."""
    parts = name.split(maxsplit=1)
    return parts[0] if parts else name


# Walking, in a city centre: 1.4 m/s along streets that are a third longer than the straight line.
WALK_M_PER_S = 1.4
DETOUR = 1.3


def walking_ms(distance_m: float) -> int:
    return int(distance_m * DETOUR / WALK_M_PER_S * 1000)


def expected_ms(eta_min: int, accepted_ms: int | None, distance_m: float | None, now_ms: int) -> int | None:
    """When the patrol member should be there: by their own estimate when they gave one, else by the walk from
    where they are now; None when neither is known."""
    if eta_min and accepted_ms:
        return accepted_ms + eta_min * 60_000
    if distance_m is not None:
        return now_ms + walking_ms(distance_m)
    return None


def person_view(doc: dict[str, Any], responder_name: str | None, eta_ms: int | None) -> dict[str, Any]:
    """What the person who asked may read of their request, and nothing else: no responder ids, no positions.

    ``status``: "looking" (offered, nobody has said yes yet), "nobody" (nobody of the patrol can come; the desk
    knows), "coming" (a patrol member accepted; ``eta_ms`` when they should be there, see ``expected_ms``),
    "arrived", "done" (resolved) or "cancelled"."""
    state = doc["state"]
    view: dict[str, Any] = {"opened_ms": doc["opened_ms"], "updated_ms": doc["updated_ms"]}
    if state == "cancelled":
        status = "cancelled"
    elif state == "resolved":
        status = "done"
    elif doc.get("accepted_by"):
        status = "arrived" if doc.get("arrived_ms") else "coming"
        view["responder"] = first_name(responder_name) if responder_name else None
        if eta_ms is not None and status == "coming":
            view["eta_ms"] = eta_ms
    elif doc.get("unavailable"):
        status = "nobody"
    else:
        status = "looking"
    view["status"] = status
    view["can_cancel"] = status in ("looking", "nobody", "coming", "arrived")
    return view
