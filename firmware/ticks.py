"""Millisecond ticks that wrap, as MicroPython's ``time.ticks_*`` do, on both runtimes.

Every deadline in the firmware is a tick value compared with ``ticks_diff``, never with ``<``, because the
ESP32's ``ticks_ms`` wraps (period 2**30 ms, about 12.4 days) and a key ring runs for months.
CPython has no ``ticks_*``: the fallback keeps the ESP32 period so host tests see the same wrap.

The firmware treats ticks as plain ints. The stubs give them a distinct type (``_TicksMs``), so the three
calls into ``time`` are wrapped here, once, and their type is stated as int.
"""

import time

if hasattr(time, "ticks_add"):
    _add = time.ticks_add  # pyright: ignore[reportAttributeAccessIssue]
    _diff = time.ticks_diff  # pyright: ignore[reportAttributeAccessIssue]
    _ms = time.ticks_ms  # pyright: ignore[reportAttributeAccessIssue]

    def ticks_add(ticks: int, delta: int) -> int:
        return _add(ticks, delta)  # pyright: ignore[reportArgumentType, reportReturnType]

    def ticks_diff(ticks1: int, ticks2: int) -> int:
        return _diff(ticks1, ticks2)  # pyright: ignore[reportArgumentType]

    def ticks_ms() -> int:
        return _ms()  # pyright: ignore[reportReturnType]

else:
    _PERIOD = 1 << 30
    _HALF = _PERIOD >> 1

    def ticks_add(ticks: int, delta: int) -> int:
        return (ticks + delta) % _PERIOD

    def ticks_diff(ticks1: int, ticks2: int) -> int:
        # Signed difference in [-period/2, period/2), the MicroPython definition.
        return ((ticks1 - ticks2 + _HALF) % _PERIOD) - _HALF

    def ticks_ms() -> int:
        return (time.monotonic_ns() // 1000000) % _PERIOD  # pyright: ignore[reportAttributeAccessIssue] - CPython


def earlier(a, b):  # (int | None, int | None) -> int | None
    """The earlier of two deadlines, None standing for no deadline."""
    if a is None:
        return b
    if b is None or ticks_diff(a, b) <= 0:
        return a
    return b
