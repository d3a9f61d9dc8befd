"""Fixtures shared by every test package."""

import os

from hypothesis import settings

from tests.databases import postgres

# `make soak` fuzzes with a hundred times the examples; deadlines off, since a loaded machine is not a bug.
settings.register_profile("soak", max_examples=10_000, deadline=None)
settings.register_profile("default", deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

__all__ = ["postgres"]
