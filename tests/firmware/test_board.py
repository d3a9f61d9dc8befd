"""firmware/board_esp32.py built and driven under MicroPython, on fakes of machine/bluetooth/esp32/lora."""

from pathlib import Path

import pytest

from tests.firmware import mpy

HERE = Path(__file__).resolve().parent


@pytest.mark.micropython
def test_board_module_on_fake_mcu(tmp_path: Path) -> None:
    r = mpy.run([str(HERE / "board_check.py"), str(tmp_path)], path_first=HERE / "fake_mcu", cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.strip().endswith("board ok"), r.stdout + r.stderr


@pytest.mark.micropython
def test_main_loop_boots_sends_and_deep_sleeps(tmp_path: Path) -> None:
    r = mpy.run([str(HERE / "main_check.py"), str(tmp_path)], path_first=HERE / "fake_mcu", cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.strip().endswith("main ok"), r.stdout + r.stderr
