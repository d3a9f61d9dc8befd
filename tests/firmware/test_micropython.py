"""The same firmware tests that pytest runs under CPython (tests/firmware/mp), run under MicroPython."""

from pathlib import Path

import pytest

from tests.firmware import mpy


@pytest.mark.micropython
@pytest.mark.parametrize("module", mpy.modules())
def test_module_under_micropython(module: str) -> None:
    r = mpy.run([str(mpy.MP_DIR / "mprun.py"), "tests.firmware.mp." + module])
    assert r.returncode == 0, r.stdout + r.stderr
    assert " failed 0" in r.stdout and "ran 0 " not in r.stdout, r.stdout


@pytest.mark.micropython
def test_firmware_imports_nothing_cpython_only() -> None:
    # Every device module imports on MicroPython (the board module aside: it needs machine/bluetooth).
    names = [
        "firmware." + m
        for m in (
            "airtime",
            "channels",
            "config",
            "const",
            "counter_store",
            "feedback",
            "hardware",
            "keyring",
            "press",
            "retry",
            "ticks",
            "power",
        )
    ]
    code = f"import sys\nfor n in {names!r}:\n    __import__(n)\nprint('ok', 'typing' in sys.modules)"
    r = mpy.run(["-c", code])
    assert r.returncode == 0 and r.stdout.strip() == "ok False", r.stdout + r.stderr


def test_mprun_fails_on_a_failing_test(tmp_path: Path) -> None:
    # The harness itself must not hide failures.
    (tmp_path / "probe_failing.py").write_text("def test_fails():\n    assert 1 == 2\n")
    r = mpy.run([str(mpy.MP_DIR / "mprun.py"), "probe_failing"], extra_path=tmp_path)
    assert r.returncode == 1 and "FAIL" in r.stdout
