"""The signature on a request to the telephony and SMS hook (hook_api.py, docs/hooks.md). Pure.

A sender puts ``Nightwatch-Signature: t=<unix seconds>,v1=<hex>`` on its request, where ``<hex>`` is
HMAC-SHA256 with a shared secret over ``f"{t}.".encode() + raw_body``. Several ``v1=`` may be given, so that a
sender can sign with an old and a new secret while the secret is being rotated; one match with any configured
secret is enough. A timestamp more than ``TOLERANCE_S`` from the receiver's clock is refused, so that a captured
request cannot be sent again later.
"""

import hashlib
import hmac
import re
import time
from collections.abc import Sequence

SIGNATURE_HEADER = "Nightwatch-Signature"
TOLERANCE_S = 300
# A real header is well under 200 characters; a longer one is someone probing, and is not parsed.
MAX_HEADER_CHARS = 2048
MAX_SIGNATURES = 8
# Canonical decimal only: the timestamp is signed as the text it is written as, so "0017" and "17" must not both
# be accepted for one signature. Twelve digits reach the year 33658.
_T = re.compile(r"0|[1-9][0-9]{0,11}")
_V1 = re.compile(r"[0-9a-f]{64}")


class SignatureError(ValueError):
    """The request is not signed as the hook requires; ``str(error)`` says why (it is sent back with the 401)."""


def _key(secret: bytes | str) -> bytes:
    return secret.encode() if isinstance(secret, str) else secret


def _mac(secret: bytes | str, t: int, body: bytes) -> str:
    return hmac.new(_key(secret), f"{t}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: bytes | str, body: bytes, t: int | None = None) -> str:
    """The header value a sender puts on ``body``, signed at ``t`` (now when None)."""
    at = int(time.time()) if t is None else t
    if at < 0:
        raise ValueError("t is unix seconds, not negative")
    return f"t={at},v1={_mac(secret, at, body)}"


def parse(header: str | None) -> tuple[int, list[str]]:
    """The timestamp and the v1 signatures of a header. Items of other schemes (``v0=``, ``v2=``) are ignored, so
    that a sender may add a newer scheme before every receiver knows it."""
    if header is None or not header.strip():
        raise SignatureError(f"no {SIGNATURE_HEADER} header")
    if len(header) > MAX_HEADER_CHARS:
        raise SignatureError(f"malformed {SIGNATURE_HEADER}: longer than {MAX_HEADER_CHARS} characters")
    t: int | None = None
    v1: list[str] = []
    for item in header.split(","):
        key, eq, value = item.strip().partition("=")
        if not eq or not key:
            raise SignatureError(f"malformed {SIGNATURE_HEADER}: items are key=value, separated by commas")
        if key == "t":
            if t is not None:
                raise SignatureError(f"malformed {SIGNATURE_HEADER}: t= given more than once")
            if not _T.fullmatch(value):
                raise SignatureError(f"malformed {SIGNATURE_HEADER}: t= is unix seconds in decimal digits")
            t = int(value)
        elif key == "v1":
            if not _V1.fullmatch(value):
                raise SignatureError(f"malformed {SIGNATURE_HEADER}: v1= is 64 lower-case hex digits")
            v1.append(value)
    if t is None:
        raise SignatureError(f"malformed {SIGNATURE_HEADER}: no t=")
    if not v1:
        raise SignatureError(f"malformed {SIGNATURE_HEADER}: no v1=")
    if len(v1) > MAX_SIGNATURES:
        raise SignatureError(f"malformed {SIGNATURE_HEADER}: more than {MAX_SIGNATURES} v1=")
    return t, v1


def verify(
    secrets: Sequence[bytes | str],
    body: bytes,
    header: str | None,
    now: int | None = None,
    tolerance_s: int = TOLERANCE_S,
) -> int:
    """The signed timestamp when ``header`` signs ``body`` with one of ``secrets`` within ``tolerance_s`` of
    ``now``; else SignatureError, and never another exception, whatever the header holds."""
    t, given = parse(header)
    at = int(time.time()) if now is None else now
    if t < at - tolerance_s:
        raise SignatureError(f"expired: signed {at - t} s ago, more than {tolerance_s} s")
    if t > at + tolerance_s:
        raise SignatureError(f"signed {t - at} s in the future, more than {tolerance_s} s: is the sender's clock set?")
    matched = False
    # Every pair is compared, with no early exit, so that the time taken says nothing of which one matched.
    for secret in secrets:
        want = _mac(secret, t, body)
        for v in given:
            matched |= hmac.compare_digest(want, v)
    if not matched:
        raise SignatureError("no signature matches: a wrong secret, or the body changed after signing")
    return t
