"""Bearer tokens with roles: operator (optionally named, ``operator:mira``), responder (bound to one responder id)
and provisioning.

Tokens come from two places: the settings (``--token``: the first operator, and automation), and the accounts
operators add at run time (accounts.py), which can be revoked at once: a revoked account's open streams are
closed there and then (``TokenTable.revoke``).

A grant may end: ``responder:anna;expires=2026-03-01T06:00:00Z`` is refused from that instant on, so a token
handed out for one night shift stops working without anyone having to remember to revoke it.
"""

import datetime
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

ROLES = ("operator", "responder", "provisioning")


@dataclass(frozen=True, slots=True)
class Principal:
    role: str
    responder_id: str | None = None
    expires_ms: int | None = None  # Unix ms; None: until the token is removed from the settings
    # An operator grant's name: what the audit trail says about who handed an incident over to 112, say.
    operator: str | None = None
    account_id: str | None = None  # an account added at run time; None for a token from the settings


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class TokenTable:
    """Tokens are kept only as SHA-256 digests.

    A token is looked up by its digest in a dict. The lookup's timing can tell at most how much of a guess's
    digest matches a known one, and a digest gives nothing back about the token it came from; comparing every
    known digest in constant time instead cost a millisecond a request with a few thousand accounts.
    """

    def __init__(self, tokens: dict[str, str]) -> None:
        self._by_digest: dict[bytes, Principal] = {}
        self._by_account: dict[str, bytes] = {}
        self._closers: dict[str, set[Callable[[], None]]] = {}
        for token, grant in tokens.items():
            self.add(token, grant)

    def add(self, token: str, grant: str) -> None:
        grant, _, expiry = grant.partition(";")
        role, _, who = grant.partition(":")
        # A responder grant names its responder, an operator's may name the operator, a provisioning one nobody.
        misnamed = (role == "responder" and not who) or (role == "provisioning" and bool(who))
        if role not in ROLES or misnamed or len(token) < 16:
            raise ValueError(
                "a grant is operator[:<name>], provisioning or responder:<id>, with a token of 16+ characters"
            )
        expires = _expiry_ms(expiry) if expiry else None
        if role == "operator":
            self._by_digest[_digest(token)] = Principal(role, None, expires, who or None)
        else:
            self._by_digest[_digest(token)] = Principal(role, who or None, expires)

    def add_account(self, token_sha256: bytes, principal: Principal) -> None:
        """An account's token, by its digest (all the database holds). A new token for the same account replaces
        the old, which stops working at once."""
        assert principal.account_id is not None
        old = self._by_account.pop(principal.account_id, None)
        if old is not None:
            self._by_digest.pop(old, None)
        self._by_digest[token_sha256] = principal
        self._by_account[principal.account_id] = token_sha256

    def revoke(self, account_id: str) -> int:
        """Ends an account: its token is refused from now on and its open streams are closed. Returns how many
        streams were closed."""
        d = self._by_account.pop(account_id, None)
        if d is not None:
            self._by_digest.pop(d, None)
        closers = self._closers.pop(account_id, set())
        for close in list(closers):
            close()
        return len(closers)

    def on_revoke(self, account_id: str, close: Callable[[], None]) -> Callable[[], None]:
        """Calls ``close`` when the account is revoked; returns the function that forgets it (when the stream
        ends first)."""
        self._closers.setdefault(account_id, set()).add(close)

        def forget() -> None:
            left = self._closers.get(account_id)
            if left is not None:
                left.discard(close)
                if not left:
                    del self._closers[account_id]

        return forget

    def streams(self, account_id: str) -> int:
        return len(self._closers.get(account_id, ()))

    def lookup(self, token: str, now_ms: int | None = None) -> Principal | None:
        """The token's principal, or None when it is unknown, revoked or has expired."""
        found = self._by_digest.get(_digest(token))
        now = time.time_ns() // 1_000_000 if now_ms is None else now_ms
        if found is not None and found.expires_ms is not None and now >= found.expires_ms:
            return None
        return found


def _expiry_ms(text: str) -> int:
    key, _, value = text.partition("=")
    try:
        at = datetime.datetime.fromisoformat(value) if key == "expires" else None
    except ValueError:
        at = None
    # A naive time would be read in the server's zone, which is rarely what whoever wrote the grant meant.
    if at is None or at.tzinfo is None:
        raise ValueError("an expiry is ;expires=<ISO 8601 time with a zone>, e.g. ;expires=2026-03-01T06:00:00Z")
    return int(at.timestamp() * 1000)


_bearer = HTTPBearer(auto_error=False)


def _unauthorized() -> HTTPException:
    # One answer for all three: a caller learns nothing about which tokens exist or once existed.
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, "missing, unknown or expired token", {"WWW-Authenticate": "Bearer"}
    )


def principal(request: Request, cred: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Principal:
    table: TokenTable = request.app.state.tokens
    who = table.lookup(cred.credentials) if cred is not None else None
    if who is None:
        raise _unauthorized()
    return who


STREAM_COOKIE = "nightwatch_token"


def stream_principal(
    request: Request, cred: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    """The bearer header, or else the token cookie the web app sets: a browser's EventSource cannot send
    headers. Only the read-only stream takes the cookie; every endpoint that acts still needs the header, so a
    cookie can never make another site's form act in a user's name."""
    table: TokenTable = request.app.state.tokens
    token = cred.credentials if cred is not None else request.cookies.get(STREAM_COOKIE)
    who = table.lookup(token) if token else None
    if who is None:
        raise _unauthorized()
    if who.role not in ("operator", "responder"):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "needs role operator or responder")
    return who


def require(*roles: str):  # type: ignore[no-untyped-def]
    def check(who: Annotated[Principal, Depends(principal)]) -> Principal:
        if who.role not in roles:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"needs role {' or '.join(roles)}")
        return who

    return check


Operator = Annotated[Principal, Depends(require("operator"))]
Provisioner = Annotated[Principal, Depends(require("provisioning", "operator"))]
Anyone = Annotated[Principal, Depends(require("operator", "responder"))]
StreamReader = Annotated[Principal, Depends(stream_principal)]
