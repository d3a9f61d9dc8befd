"""The device config file: identity plus settings, validated at boot; the key never in repr."""

from firmware.config import DEFAULTS, Config, dump, parse

KEY = bytes(range(16))


def _rejects(fn) -> None:
    try:
        fn()
    except ValueError:
        return
    raise AssertionError("accepted")


def test_round_trip_with_settings():
    cfg = Config(12, KEY, 40, {"heartbeat_min": 30, "locator": True})
    back = parse(dump(cfg))
    assert back.device_id == 12 and back.root_key == KEY and back.counter_start == 40
    assert back.heartbeat_min == 30 and back.locator is True and back.hold_ms == DEFAULTS["hold_ms"]


def test_key_never_in_repr_or_errors():
    cfg = Config(12, KEY)
    assert KEY.hex() not in repr(cfg)
    try:
        parse('{"device_id": 1, "root_key": "zz' + "00" * 15 + '"}')
    except ValueError as e:
        assert "zz" not in str(e)


def test_rejects_bad_values():
    _rejects(lambda: Config(1, b"short"))
    _rejects(lambda: Config(-1, KEY))
    _rejects(lambda: Config(1, KEY, 0))
    _rejects(lambda: Config(1, KEY, 1, {"nonsense": 1}))
    _rejects(lambda: Config(1, KEY, 1, {"heartbeat_min": "60"}))
    _rejects(lambda: Config(1, KEY, 1, {"cancel_word": "SSL"}))  # same as duress
    _rejects(lambda: Config(1, KEY, 1, {"escort_word": "SLS"}))  # L only last
    _rejects(lambda: Config(1, KEY, 1, {"ble_interval_ms": 10}))
    _rejects(lambda: Config(1, KEY, 1, {"hold_ms": 500}))
