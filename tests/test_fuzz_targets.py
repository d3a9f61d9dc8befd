"""The coverage-guided fuzz targets (scripts/fuzz/run.py, atheris) run clean: no input makes a parser raise
anything but its own error, hang or crash. `make test` runs each for a second, to keep the harness working;
`make soak` for NIGHTWATCH_TEST_ATHERIS_S seconds each. The deliberately broken self-test target must fail."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

RUN = Path(__file__).resolve().parents[1] / "scripts" / "fuzz" / "run.py"
SECONDS = int(os.environ.get("NIGHTWATCH_TEST_ATHERIS_S", "1"))

pytest.importorskip("atheris")


def _fuzz(target: str, seconds: int, work: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(RUN), target, str(seconds), str(work)],
        capture_output=True,
        text=True,
        timeout=seconds + 120,
        check=False,
    )


@pytest.mark.parametrize("target", ["frame", "envelope", "semtech", "mqtt"])
def test_a_parser_survives_coverage_guided_fuzzing(target: str, tmp_path: Path) -> None:
    run = _fuzz(target, SECONDS, tmp_path)
    crashes = [p.name for p in tmp_path.iterdir() if p.name.startswith(("crash-", "timeout-", "oom-"))]
    assert run.returncode == 0 and crashes == [], run.stderr[-3000:]
    assert "Done" in run.stderr  # libFuzzer's summary: the time ran out, it did not stop early


def test_a_foreign_error_is_caught(tmp_path: Path) -> None:
    run = _fuzz("selftest", 30, tmp_path)
    assert run.returncode != 0
    assert any(p.name.startswith("crash-") for p in tmp_path.iterdir()), run.stderr[-2000:]
