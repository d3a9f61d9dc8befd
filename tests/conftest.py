"""Fixtures shared by every test package."""

import os
from collections.abc import Iterator

import pytest
from hypothesis import settings

from nightwatch import native
from tests.databases import postgres

# Elsewhere a stale build runs interpreted with a notice (nightwatch/native_hook.py); a test run refuses instead,
# since `make test` is meant to test the compiled code. NIGHTWATCH_NATIVE=0 tests the interpreted code.
_state, _why = native.status()
if _state == native.hook.STALE:
    raise pytest.UsageError(f"the compiled build differs from the sources ({_why}); run `make native`")
if _state == native.hook.CURRENT and native.hook.installed() is None:
    raise pytest.UsageError("the compiled build's import hook is not installed in this interpreter; run `make native`")
if native.in_tree():
    raise pytest.UsageError(f"compiled files beside their sources shadow them: {native.in_tree()}; run `make native`")

# `make soak` fuzzes with a hundred times the examples; deadlines off, since a loaded machine is not a bug.
settings.register_profile("soak", max_examples=10_000, deadline=None)
settings.register_profile("default", deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

__all__ = ["postgres"]


def pytest_report_header() -> str:
    if _state == native.hook.CURRENT:
        return f"native: {len(native.MODULES)} hot-path modules compiled, from {native.BUILD}"
    why = "NIGHTWATCH_NATIVE=0" if _state == native.hook.OFF else "no build: make native"
    return f"native: interpreted ({why})"


@pytest.fixture(scope="session", autouse=True)
def _sealing_key_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A service's sealing key file defaults to the working directory for PostgreSQL and the default SQLite file:
    in tests it goes to the session's temp dir instead, never into the repository (subprocesses inherit it)."""
    name = "NIGHTWATCH_DISPATCH_KEY_SEALING_KEY_FILE"
    with pytest.MonkeyPatch.context() as mp:
        if name not in os.environ:
            mp.setenv(name, str(tmp_path_factory.mktemp("sealing") / "nightwatch-sealing.key"))
        yield
