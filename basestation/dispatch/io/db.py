"""What the small table modules (accounts_store, roster_store, zones_store; store_postgres for the replicas) need
of the database: its engine, its dialect and the ring keys' sealer. They depend on this, not on store.py, whose
start-up (store_load.py) reads what they hold: the Store satisfies it, and no module imports back the module that
imports it."""

from typing import Any, Protocol

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from basestation.dispatch.io.keystore import KeySealer


class Database(Protocol):
    engine: AsyncEngine
    dialect: str  # "sqlite" or "postgresql"
    sealer: KeySealer


def insert(dialect: str, table: Any) -> Any:
    """An INSERT that can become an upsert (``on_conflict_do_update``), in the dialect's own form: SQLAlchemy's
    generic insert has no ON CONFLICT."""
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
