"""`scripts/build_firmware.py`: the device build compiles, and the compiled modules run the firmware tests."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.firmware import mpy

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.micropython
def test_build_compiles_and_the_mpy_files_run(tmp_path: Path) -> None:
    out = tmp_path / "build"
    r = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_firmware.py"), "--out", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    lib = out / "lib"
    names = {p.relative_to(lib).as_posix() for p in lib.rglob("*.mpy")}
    for must in ("firmware/keyring.mpy", "firmware/board_esp32.mpy", "firmware/main.mpy", "protocol/uplink.mpy"):
        assert must in names
    assert "firmware/fakes.mpy" not in names and "protocol/resolver.mpy" not in names
    for p in lib.rglob("*.mpy"):
        assert p.read_bytes()[:2] == b"M\x06"  # .mpy format version 6
    assert "from firmware.main import run" in (out / "main.py").read_text()
    # The compiled modules (bytecode) run the key ring tests on the unix port, fakes added for the test.
    shutil.copy(ROOT / "firmware" / "fakes.py", lib / "firmware" / "fakes.py")
    # The package comes from the build (which has no host/), not from the source tree.
    probe = "import firmware.keyring\ntry:\n    import firmware.host\nexcept ImportError:\n    print('built')\n"
    # (Run from outside the repository: MicroPython puts the working directory first on the path.)
    r = mpy.run(["-c", probe], path_first=lib, cwd=tmp_path)
    assert r.stdout.strip() == "built", r.stdout + r.stderr
    r = mpy.run(
        [
            str(mpy.MP_DIR / "mprun.py"),
            "tests.firmware.mp.test_fw_keyring_alarms",
            "tests.firmware.mp.test_fw_keyring_heartbeats",
            "tests.firmware.mp.test_fw_counter",
        ],
        path_first=lib,
        cwd=tmp_path,
    )
    assert r.returncode == 0 and " failed 0" in r.stdout, r.stdout + r.stderr
