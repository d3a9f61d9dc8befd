"""Fixtures shared by every test package."""

import os
from collections.abc import Iterator

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


@pytest.fixture(scope="session", autouse=True)
def _sealing_key_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A service's sealing key file defaults to the working directory for PostgreSQL and the default SQLite file:
    in tests it goes to the session's temp dir instead, never into the repository (subprocesses inherit it)."""
    name = "NIGHTWATCH_DISPATCH_KEY_SEALING_KEY_FILE"
    with pytest.MonkeyPatch.context() as mp:
        if name not in os.environ:
            mp.setenv(name, str(tmp_path_factory.mktemp("sealing") / "nightwatch-sealing.key"))
        yield
