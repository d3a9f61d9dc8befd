"""The ``accounts`` table (migration 0008): what accounts.py needs kept, on SQLite and PostgreSQL alike."""

from dataclasses import fields
from typing import Any

from sqlalchemy import delete, select, update

from basestation.dispatch.core.accounts import Account
from basestation.dispatch.io import schema as t
from basestation.dispatch.io.db import Database

# An account's row holds each of its fields in the column of that name, and beside them its token's digest.
_FIELDS = tuple(f.name for f in fields(Account))


def _account(row: Any) -> Account:
    return Account(*(getattr(row, name) for name in _FIELDS))


async def insert(store: Database, acc: Account, token_sha256: str) -> None:
    async with store.engine.begin() as conn:
        await conn.execute(
            t.accounts.insert().values(**{name: getattr(acc, name) for name in _FIELDS}, token_sha256=token_sha256)
        )


async def replace_token(store: Database, account_id: str, token_sha256: str) -> bool:
    """A new token for an account still active; False when there is none."""
    async with store.engine.begin() as conn:
        res = await conn.execute(
            update(t.accounts)
            .where(t.accounts.c.id == account_id, t.accounts.c.revoked_ms.is_(None))
            .values(token_sha256=token_sha256)
            .returning(t.accounts.c.id)
        )
        return res.first() is not None


async def revoke(store: Database, account_id: str, by: str | None, now_ms: int) -> Account | None:
    """Ends an account still active and returns it; None when there is none (unknown, or revoked already)."""
    async with store.engine.begin() as conn:
        res = await conn.execute(
            update(t.accounts)
            .where(t.accounts.c.id == account_id, t.accounts.c.revoked_ms.is_(None))
            .values(revoked_ms=now_ms, revoked_by=by)
            .returning(*t.accounts.c)
        )
        row = res.first()
        return None if row is None else _account(row)


async def get(store: Database, account_id: str) -> tuple[Account, str] | None:
    async with store.engine.connect() as conn:
        row = (await conn.execute(select(t.accounts).where(t.accounts.c.id == account_id))).first()
        return None if row is None else (_account(row), row.token_sha256)


async def listed(store: Database, revoked: bool = True) -> list[tuple[Account, str]]:
    """Every account with its token's digest, oldest first; without the revoked ones unless ``revoked``."""
    q = select(t.accounts).order_by(t.accounts.c.created_ms, t.accounts.c.id)
    if not revoked:
        q = q.where(t.accounts.c.revoked_ms.is_(None))
    async with store.engine.connect() as conn:
        return [(_account(r), r.token_sha256) for r in await conn.execute(q)]


async def forget_push(store: Database, responder_id: str) -> None:
    """A responder's browsers' push subscriptions, dropped when nobody can sign in as them any more."""
    async with store.engine.begin() as conn:
        await conn.execute(delete(t.push_subscriptions).where(t.push_subscriptions.c.responder_id == responder_id))
