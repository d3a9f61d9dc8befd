"""Nightwatch command line and shared glue."""

__version__ = "0.1.0"
