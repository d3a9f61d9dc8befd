"""Runs scripts under the real MicroPython unix port, with the repository on its import path."""

import subprocess
from pathlib import Path

from firmware.host.interpreter import run_micropython


def run(script: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return run_micropython([str(script), *args], timeout=timeout)
