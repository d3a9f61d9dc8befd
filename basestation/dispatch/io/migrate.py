"""Bring a database to the newest schema with alembic, on a synchronous connection (SQLite or PostgreSQL)."""

from collections.abc import Callable
from importlib.resources import files

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url


def sync_url(url: str) -> str:
    """The synchronous twin of an async database URL: aiosqlite -> sqlite, psycopg stays psycopg."""
    u = make_url(url)
    if u.drivername == "sqlite+aiosqlite":
        u = u.set(drivername="sqlite")
    elif u.drivername in ("postgresql+asyncpg", "postgresql"):
        u = u.set(drivername="postgresql+psycopg")
    return u.render_as_string(hide_password=False)


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(files("basestation.dispatch.io") / "migrations"))
    return cfg


def upgrade(url: str) -> None:
    _run(url, command.upgrade, "head")


def downgrade(url: str, target: str = "base") -> None:
    """Back to ``target``; "base" drops every table but alembic's own."""
    _run(url, command.downgrade, target)


def _run(url: str, step: Callable[[Config, str], None], target: str) -> None:
    engine = create_engine(sync_url(url))
    try:
        with engine.begin() as conn:
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            step(cfg, target)
    finally:
        engine.dispose()
