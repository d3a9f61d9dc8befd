"""Accounts at run time, under /api/v1/accounts (operators only): add a responder or an operator, hand them a
sign-in link and QR code, make a new link, revoke (docs/accounts.md).

A token leaves the service once, in the answer that made it; the database keeps its SHA-256 only.
"""

import dataclasses
import logging
from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, HTTPException, Path, Request, status
from pydantic import Field, field_validator, model_validator

from basestation.dispatch.api.auth import Operator, Principal, TokenTable
from basestation.dispatch.api.base import AUTH, BODY, D, ResponderIn, StrictIn, act, refusals
from basestation.dispatch.core import accounts, roster
from basestation.dispatch.core.accounts import Account
from basestation.dispatch.core.assignment import Responder
from basestation.dispatch.io import accounts_store
from basestation.dispatch.io.notify import Notifier
from basestation.dispatch.service import Dispatcher, now_ms
from basestation.dispatch.settings import PUBLIC_URL_PLACEHOLDER

log = logging.getLogger("nightwatch.dispatch.accounts")

router = APIRouter(prefix="/api/v1", tags=["accounts"])
AccountId = Annotated[str, Path(pattern=r"^acct-[0-9a-f]{10}$")]
Skill = Literal["patrol", "first_aid", "security"]


def _patrol() -> list[Skill]:
    return ["patrol"]


class AccountIn(StrictIn):
    """A person to add. A responder account acts as a responder: an existing one named by ``responder_id``, or a
    new one made from ``name``, ``language``, ``skills``, ``shift`` and ``team``."""

    role: Literal["operator", "responder"]
    name: str = Field(min_length=1, max_length=120)
    phone: str | None = Field(None, max_length=32, pattern=r"^\+?[0-9][0-9 ()./-]{4,30}$")
    responder_id: str | None = Field(None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    language: Literal["nl", "en"] = "nl"
    skills: list[Skill] = Field(default_factory=_patrol)
    shift: str | None = Field(None, pattern=r"^[0-9]{2}:[0-9]{2}-[0-9]{2}:[0-9]{2}$")
    team: str | None = Field(None, min_length=1, max_length=64, description="a patrol zone may be bound to it")

    @field_validator("name")
    @classmethod
    def _named(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("a name is needed")
        return v.strip()

    @field_validator("shift")
    @classmethod
    def _clock(cls, v: str | None) -> str | None:
        return ResponderIn._clock_times(v)

    @model_validator(mode="after")
    def _operator_acts_for_nobody(self) -> "AccountIn":
        if self.role == "operator" and self.responder_id is not None:
            raise ValueError("an operator account acts as no responder")
        return self


def _base_url(request: Request, d: Dispatcher) -> str:
    # The link opens on the person's phone: the public address when one is set, else the address the operator
    # reached the service by, which on a patrol's own network is the one their phones reach too.
    public = d.settings.public_url.rstrip("/")
    return str(request.base_url) if public == PUBLIC_URL_PLACEHOLDER else public


def _principal(acc: Account) -> Principal:
    if acc.role == "operator":
        return Principal("operator", None, None, acc.name, acc.id)
    return Principal("responder", acc.responder_id, None, None, acc.id)


def _issued(request: Request, d: Dispatcher, acc: Account, token: str) -> dict[str, Any]:
    link = accounts.signin_link(_base_url(request, d), token)
    return {"account": acc.to_dict(), "token": token, "link": link, "qr_svg": accounts.qr_svg(link)}


def _tokens(request: Request) -> TokenTable:
    table: TokenTable = request.app.state.tokens
    return table


async def load(d: Dispatcher, table: TokenTable) -> int:
    """Every active account's token into ``table`` (at start, and on a replica told of a change)."""
    active = await accounts_store.listed(d.store, revoked=False)
    for acc, token_sha256 in active:
        table.add_account(bytes.fromhex(token_sha256), _principal(acc))
    return len(active)


async def on_registry(app: FastAPI, kind: str, data: dict[str, Any]) -> None:
    """Another replica added, re-linked or revoked an account: the same here."""
    d: Dispatcher = app.state.dispatcher
    table: TokenTable = app.state.tokens
    if kind == "account_revoked":
        table.revoke(data["id"])
        if data.get("unreachable"):
            _forget_browsers(app, data["unreachable"])
        return
    found = await accounts_store.get(d.store, data["id"])
    if found is not None and found[0].active:
        table.add_account(bytes.fromhex(found[1]), _principal(found[0]))


@router.get("/accounts", responses=AUTH)
async def list_accounts(request: Request, d: D, _: Operator, revoked: bool = False) -> list[dict[str, Any]]:
    """Who may sign in (with ``revoked=true``: and who no longer may), with how many live streams each has open."""
    table = _tokens(request)
    return [
        {**acc.to_dict(), "streams": table.streams(acc.id)}
        for acc, _ in await accounts_store.listed(d.store, revoked=revoked)
    ]


@router.post("/accounts", status_code=201, responses={**BODY, **refusals(409)})
async def add_account(request: Request, body: AccountIn, d: D, who: Operator) -> dict[str, Any]:
    """Adds a person and answers with their sign-in link and its QR code, once: only the token's SHA-256 is kept."""
    responder_id = None
    if body.role == "responder":
        responder_id = body.responder_id or accounts.responder_id_for(body.name, set(d.state.responders))
        r = d.state.responders.get(responder_id)
        if r is None:
            r = Responder(responder_id, body.name, body.language, list(body.skills), shift=body.shift, team=body.team)
            d.state.responders[responder_id] = r
            await d.store.save_responder(r)
            await d.registry_changed("responder", dataclasses.asdict(r))
    token = accounts.new_token()
    acc = Account(accounts.new_account_id(), body.role, body.name, responder_id, body.phone, now_ms(), _by(who))
    await accounts_store.insert(d.store, acc, accounts.digest(token))
    _tokens(request).add_account(bytes.fromhex(accounts.digest(token)), _principal(acc))
    await d.registry_changed("account", {"id": acc.id})
    log.info("account %s added (%s %s) by %s", acc.id, acc.role, responder_id or "", acc.created_by)
    return _issued(request, d, acc, token)


@router.post("/accounts/{account_id}/link", responses={**AUTH, **refusals(404)})
async def new_link(request: Request, account_id: AccountId, d: D, who: Operator) -> dict[str, Any]:
    """A new sign-in link for a lost or forgotten one; the old link, and every phone signed in with it, stop
    working at once."""
    token = accounts.new_token()
    if not await accounts_store.replace_token(d.store, account_id, accounts.digest(token)):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such account, or it was revoked")
    found = await accounts_store.get(d.store, account_id)
    assert found is not None
    table = _tokens(request)
    table.revoke(account_id)  # closes the streams the old link opened
    table.add_account(bytes.fromhex(found[1]), _principal(found[0]))
    await d.registry_changed("account_revoked", {"id": account_id})
    await d.registry_changed("account", {"id": account_id})
    log.info("account %s given a new sign-in link by %s", account_id, _by(who))
    return _issued(request, d, found[0], token)


@router.delete("/accounts/{account_id}", responses={**AUTH, **refusals(404, 409)})
async def revoke_account(request: Request, account_id: AccountId, d: D, who: Operator) -> dict[str, Any]:
    """Revokes an account at once: its token is refused and its open streams are closed. A responder left with
    no account is taken off duty, so that nobody is offered an alarm they can no longer see, and stood down from
    the alarms they were offered or had accepted: those go to the next who can come, or to the operators."""
    if who.account_id == account_id:
        raise HTTPException(status.HTTP_409_CONFLICT, "an operator cannot revoke their own account")
    acc = await accounts_store.revoke(d.store, account_id, _by(who), now_ms())
    if acc is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such account, or it was revoked")
    closed = _tokens(request).revoke(account_id)
    unreachable = acc.responder_id is not None and await _unreachable(request.app, d, acc.responder_id, who.operator)
    await d.registry_changed("account_revoked", {"id": account_id, "unreachable": unreachable and acc.responder_id})
    log.info("account %s revoked by %s; %d open streams closed", account_id, acc.revoked_by, closed)
    return {**acc.to_dict(), "streams_closed": closed}


async def _unreachable(app: FastAPI, d: Dispatcher, responder_id: str, operator: str | None) -> bool:
    """A responder left with no way to sign in is taken off duty, stood down from every open incident that names
    them (they can no longer see it, so an alarm they accepted would otherwise have nobody coming while the ring
    says help is on the way), and their browsers get no more pushes (which would show where an alarm is to a phone
    no longer theirs to use). True when that was so."""
    still = [a for a, _ in await accounts_store.listed(d.store, revoked=False) if a.responder_id == responder_id]
    # A responder who also has a token in the settings still signs in with it.
    if still or _settings_grant(d, responder_id):
        return False
    r = d.state.responders.get(responder_id)
    if r is not None and r.on_duty:
        r.on_duty = False
        r.lat = r.lon = None
        await d.store.save_responder(r)
        await d.registry_changed("responder", dataclasses.asdict(r))
    for incident_id in roster.names_in(d.state, responder_id):
        await act(d, roster.stand_down, incident_id, responder_id, now_ms(), d.pipeline, "revoked", operator)
    await accounts_store.forget_push(d.store, responder_id)
    _forget_browsers(app, responder_id)
    return True


def _forget_browsers(app: FastAPI, responder_id: str) -> None:
    notifier: Notifier | None = app.state.notifier
    if notifier is not None:
        notifier.subscriptions.pop(responder_id, None)


def _settings_grant(d: Dispatcher, responder_id: str) -> bool:
    return any(grant.partition(";")[0] == f"responder:{responder_id}" for grant in d.settings.tokens.values())


def _by(who: Principal) -> str:
    return who.operator or "operator"
