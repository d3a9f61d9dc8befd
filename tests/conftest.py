"""Fixtures shared by every test package."""

from tests.databases import postgres

__all__ = ["postgres"]
