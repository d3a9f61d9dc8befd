"""Bring a database to the newest schema with alembic, on a synchronous connection (SQLite or PostgreSQL)."""

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
    engine = create_engine(sync_url(url))
    try:
        with engine.begin() as conn:
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    finally:
        engine.dispose()
