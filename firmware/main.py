"""The key ring's main loop on the device. ``/main.py`` (written by scripts/build_firmware.py) calls ``run()``.

Boot: read the config file, derive the keys once, build the board and the application (from the RTC
snapshot after a deep sleep), then step the application and sleep as the power policy says, forever.
"""

from firmware import power
from firmware.config import CONFIG_PATH, load
from firmware.keyring import Keyring
from firmware.ticks import ticks_ms
from protocol.keys import DeviceKeys


def run(config_path: str = CONFIG_PATH, storage_root: str = "/") -> None:
    from firmware.board_esp32 import Board  # the only hardware import, here and nowhere else in the logic

    cfg = load(config_path)
    keys = DeviceKeys(cfg.root_key)
    board = Board(cfg, storage_root)
    retained, slept = board.retained()
    app = Keyring(board.hardware(), cfg, keys, ticks_ms(), retained, slept)
    while True:
        now = ticks_ms()
        app.poll(now)
        mode, ms = power.sleep_plan(app, now)
        if mode == power.DEEP:
            board.deep_sleep(app.snapshot(now), ms)
        board.light_sleep(ms)
