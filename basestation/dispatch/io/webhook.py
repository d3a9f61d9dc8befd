"""Signed webhooks (to a monitoring centre, or any system that wants incident changes).

The body is JSON; the header ``X-Nightwatch-Signature: t=<unix>,v1=<hex>`` carries HMAC-SHA256 over
``"<t>." + body`` with the shared secret, so a receiver can check origin and freshness (and refuse replays older
than a few minutes). A delivery is retried with backoff until the receiver answers 2xx.
"""

import hashlib
import hmac
import json
import time
from typing import Any

SIGNATURE_HEADER = "X-Nightwatch-Signature"


def sign(secret: bytes, body: bytes, at: int | None = None) -> str:
    t = int(time.time()) if at is None else at
    mac = hmac.new(secret, str(t).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def verify(secret: bytes, body: bytes, header: str, now: int | None = None, tolerance_s: int = 300) -> bool:
    """What a receiver does; the tests use it, and docs/dispatch.md shows it."""
    try:
        parts = dict(p.split("=", 1) for p in header.split(","))
        t = int(parts["t"])
    except (ValueError, KeyError):
        return False
    if abs((int(time.time()) if now is None else now) - t) > tolerance_s:
        return False
    want = hmac.new(secret, str(t).encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(want, parts.get("v1", ""))


def body(event: str, data: dict[str, Any]) -> bytes:
    return json.dumps({"event": event, "data": data}, separators=(",", ":"), sort_keys=True).encode()
