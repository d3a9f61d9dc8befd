"""Bearer tokens with roles: operator, responder (bound to one responder id) and provisioning."""

import hashlib
import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

ROLES = ("operator", "responder", "provisioning")


@dataclass(frozen=True, slots=True)
class Principal:
    role: str
    responder_id: str | None = None


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class TokenTable:
    """Tokens are kept only as SHA-256 digests, and compared in constant time."""

    def __init__(self, tokens: dict[str, str]) -> None:
        self._by_digest: dict[bytes, Principal] = {}
        for token, grant in tokens.items():
            self.add(token, grant)

    def add(self, token: str, grant: str) -> None:
        role, _, who = grant.partition(":")
        if role not in ROLES or (role == "responder") != bool(who) or len(token) < 16:
            raise ValueError("a grant is operator, provisioning or responder:<id>, with a token of 16+ characters")
        self._by_digest[_digest(token)] = Principal(role, who or None)

    def lookup(self, token: str) -> Principal | None:
        d = _digest(token)
        found = None
        for known, principal in self._by_digest.items():
            if hmac.compare_digest(known, d):
                found = principal
        return found


_bearer = HTTPBearer(auto_error=False)


def principal(request: Request, cred: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Principal:
    table: TokenTable = request.app.state.tokens
    who = table.lookup(cred.credentials) if cred is not None else None
    if who is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing or unknown token", {"WWW-Authenticate": "Bearer"})
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
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing or unknown token", {"WWW-Authenticate": "Bearer"})
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
