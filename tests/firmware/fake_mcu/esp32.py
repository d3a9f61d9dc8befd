"""Fake of the ESP32 port's ``esp32`` module: records the wake sources."""

WAKEUP_ALL_LOW = False
WAKEUP_ANY_HIGH = True
WAKE = []


def wake_on_ext0(pin, level):
    WAKE.append(("ext0", pin.id, level))


def wake_on_ext1(pins, level):
    WAKE.append(("ext1", tuple(p.id for p in pins), level))
