"""Fixtures shared by every test package."""

import os

import pytest
from hypothesis import settings

from nightwatch import native
from tests.databases import postgres

# A compiled module older than its source would test code that is gone (nightwatch/native.py).
_stale = native.stale()
if _stale:
    raise pytest.UsageError(f"compiled modules that would run code that is gone: {_stale}; run `make native`")

# `make soak` fuzzes with a hundred times the examples; deadlines off, since a loaded machine is not a bug.
settings.register_profile("soak", max_examples=10_000, deadline=None)
settings.register_profile("default", deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

__all__ = ["postgres"]


def pytest_report_header() -> str:
    built = [m for m in native.MODULES if native.extensions(m)]
    return f"native: {len(built)} of {len(native.MODULES)} hot-path modules compiled (make native)"
