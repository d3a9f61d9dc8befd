"""Fake of the ESP32 port's ``machine`` module, for tests of firmware/board_esp32.py on the unix port."""

import time

CALLS = []
DEEPSLEEP_RESET = 4
EXT0_WAKE = 2
_reset_cause = 1
_wake_reason = 0


class DeepSleep(Exception):  # noqa: N818 - the chip going to sleep, not an error
    """Raised by deepsleep() so a test can see the board go to sleep."""


class Pin:
    IN = 1
    OUT = 3
    PULL_UP = 1
    IRQ_FALLING = 2
    IRQ_RISING = 1
    pins = {}  # noqa: RUF012 - every Pin made, by number, for the test to drive

    def __init__(self, pin_id, mode=-1, pull=-1, value=None):
        self.id = pin_id
        self.level = 1 if pull == Pin.PULL_UP else 0
        if pin_id in Pin.pins:
            self.level = Pin.pins[pin_id].level  # the same wire: a new Pin object sees its present level
        if value is not None:
            self.level = value
        self.handler = None
        Pin.pins[pin_id] = self

    def value(self, v=None):
        if v is None:
            return self.level
        self.level = v
        return None

    def irq(self, handler=None, trigger=0):
        self.handler = handler

    def drive(self, level):
        """Test side: the outside world sets the pin, and the interrupt handler runs."""
        self.level = level
        if self.handler is not None:
            self.handler(self)


class PWM:
    def __init__(self, pin, freq=0, duty_u16=0):
        self.hz = freq
        self.duty = duty_u16

    def freq(self, hz):
        self.hz = hz

    def duty_u16(self, duty):
        self.duty = duty


class ADC:
    ATTN_11DB = 3
    uv = 1900000  # 3.8 V at the cell through the 1:1 divider

    def __init__(self, pin, atten=0):
        pass

    def read_uv(self):
        return ADC.uv


class SPI:
    def __init__(self, spi_id, baudrate=0, sck=None, mosi=None, miso=None):
        pass


class RTC:
    data = b""

    def memory(self, data=None):
        if data is None:
            return RTC.data
        RTC.data = bytes(data)
        return None


def reset_cause():
    return _reset_cause


def wake_reason():
    return _wake_reason


def deepsleep(ms=0):
    CALLS.append(("deepsleep", ms))
    raise DeepSleep()


def lightsleep(ms=0):
    CALLS.append(("lightsleep", ms))
    time.sleep_ms(ms)  # the time passes as it would on the chip (no wake source fires in these tests)
