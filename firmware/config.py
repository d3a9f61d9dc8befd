"""The device configuration: identity from provisioning plus behaviour settings (docs/keyring.md).

The config file (``/nightwatch.json`` on the device, written by ``nightwatch provision``) is JSON:
``{"device_id": N, "root_key": "<32 hex>", "counter_start": N, "settings": {...}}``. ``settings`` may
override any name in ``DEFAULTS``. The root key is held as bytes and never appears in ``repr`` or errors.
"""

import json

from firmware.press import PressConfig
from protocol.constants import COUNTER_MAX, COUNTER_MIN, DEVICE_ID_MAX

CONFIG_PATH = "/nightwatch.json"

DEFAULTS = {
    # Press patterns (press.py): S = short press, L = long press (only last).
    "debounce_ms": 30,
    "click_max_ms": 600,
    "gap_ms": 700,
    "arm_ms": 1000,
    "hold_ms": 2000,
    "escort_word": "SSS",
    "test_word": "SSSSS",
    "cancel_word": "SSS",
    "duress_word": "SSL",
    # An alarm stays open (receiver on, cancellable) this long after its last ACK.
    "cancel_window_ms": 15 * 60 * 1000,
    # Feedback.
    "locator": False,
    "not_reached_after": 3,  # attempts without an ACK before "not reached yet"
    # Supervision.
    "heartbeat_min": 60,
    "low_battery_pct": 15,
    "low_battery_clear_pct": 20,
    # Radio.
    "ble_interval_ms": 20,
    "ble_burst_ms": 1000,
    "heartbeat_ble_ms": 0,  # heartbeats go by LoRa only: a 200 ms BLE burst each would cost 6 of 37 months
    "company_id": 0xFFFF,
    "lora_sf": 9,
    "lora_dbm": 14,
    "rx_freq_hz": 869525000,
    "rx_sf": 9,
    "rx_window_ms": 3000,
}


def _check_word(word: str) -> None:
    if not word or len(word) > 8 or "L" in word[:-1] or word.strip("SL"):
        raise ValueError("a press word is S and L, up to 8 presses, L only last: " + repr(word))


class Config:
    def __init__(self, device_id: int, root_key: bytes, counter_start: int = COUNTER_MIN, settings=None) -> None:
        if not 0 <= device_id <= DEVICE_ID_MAX:
            raise ValueError("device_id out of range")
        if len(root_key) != 16:
            raise ValueError("root key must be 16 bytes")
        if not COUNTER_MIN <= counter_start <= COUNTER_MAX:
            raise ValueError("counter_start out of range")
        self.device_id = device_id
        self.root_key = root_key
        self.counter_start = counter_start
        values = dict(DEFAULTS)
        for name, value in (settings or {}).items():
            if name not in DEFAULTS:
                raise ValueError("unknown setting " + repr(name))
            if type(value) is not type(DEFAULTS[name]):
                raise ValueError("setting " + repr(name) + " has the wrong type")
            values[name] = value
        for name, value in values.items():
            setattr(self, name, value)
        self.press = PressConfig(
            values["debounce_ms"], values["click_max_ms"], values["gap_ms"], values["arm_ms"], values["hold_ms"]
        )
        for name in ("escort_word", "test_word", "cancel_word", "duress_word"):
            _check_word(values[name])
        if values["escort_word"] == values["test_word"] or values["cancel_word"] == values["duress_word"]:
            raise ValueError("words used in the same state must differ")
        if not 1 <= values["heartbeat_min"] <= 0xFFFF:
            raise ValueError("heartbeat_min out of range")
        if values["ble_interval_ms"] < 20:
            raise ValueError("BLE advertising interval below the 20 ms minimum")

    def __repr__(self) -> str:
        return "Config(device_id=" + str(self.device_id) + ", root_key=<hidden>)"


def parse(text: str) -> Config:
    d = json.loads(text)
    key_hex = d.get("root_key", "")
    try:
        key = bytes.fromhex(key_hex)
    except ValueError:
        raise ValueError("root_key must be hexadecimal") from None
    return Config(int(d["device_id"]), key, int(d.get("counter_start", COUNTER_MIN)), d.get("settings"))


def load(path: str = CONFIG_PATH) -> Config:
    """The config the ring boots with: the file ``nightwatch provision --flash`` wrote."""
    with open(path) as f:
        return parse(f.read())


def dump(cfg: Config) -> str:
    """The file text for ``cfg`` (settings that differ from DEFAULTS only)."""
    settings = {}
    for name, default in DEFAULTS.items():
        if getattr(cfg, name) != default:
            settings[name] = getattr(cfg, name)
    d = {"device_id": cfg.device_id, "root_key": cfg.root_key.hex(), "counter_start": cfg.counter_start}
    if settings:
        d["settings"] = settings
    return json.dumps(d)
