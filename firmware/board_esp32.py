"""The real hardware: an ESP32 with an SX1262, a button, an RGB LED, a vibration motor and a piezo buzzer.

This is the only module that imports ``machine``, ``bluetooth``, ``esp32`` and the LoRa driver (micropython-lib
``lora-sx126x`` with ``lora-sync``, installed with ``mpremote mip``: docs/flashing.md). It builds the objects
behind the interfaces of ``firmware.hardware`` and the sleep calls the main loop needs.

Pins (change them here for another board). The button and the SX1262 DIO1 are RTC GPIOs, because only those
can wake the chip from deep sleep (ext0) and light sleep (ext1): ESP32 TRM section 4.11, "RTC IO".
"""

import struct
import time

import bluetooth
import esp32
import machine
from micropython import const

from firmware import advert
from firmware.hardware import EdgeQueue, Hardware
from firmware.power import battery_percent
from firmware.ticks import ticks_ms

_PIN_BUTTON = const(33)  # to GND, internal pull-up: pressed = 0
_PIN_LED_R = const(25)
_PIN_LED_G = const(26)
_PIN_LED_B = const(27)
_PIN_VIBE = const(32)  # motor through a logic-level MOSFET with a flyback diode
_PIN_BUZZER = const(14)
_PIN_BATT_ADC = const(35)  # cell through a 1:1 divider, switched by _PIN_BATT_EN so it draws nothing in sleep
_PIN_BATT_EN = const(13)
_PIN_SCK = const(18)
_PIN_MOSI = const(23)
_PIN_MISO = const(19)
_PIN_NSS = const(5)
_PIN_BUSY = const(4)
_PIN_RESET = const(15)
_PIN_DIO1 = const(39)

_ADDR_MODE_NRPA = const(3)  # non-resolvable private address: nothing static on the air (DESIGN, privacy)
_SYNC_WORD_PUBLIC = const(0x34)  # what a concentrator with lorawan_public listens for (FACTS, radio)
_RTC_TAIL = ">Q"  # epoch ms at deep sleep, after the application's snapshot

# LED colours as (R, G, B) pin levels, indexed by the feedback colour constants.
_RGB = ((0, 0, 0), (1, 0, 0), (0, 1, 0), (1, 1, 0), (0, 0, 1))


class Led:
    def __init__(self) -> None:
        self._pins = (
            machine.Pin(_PIN_LED_R, machine.Pin.OUT, value=0),
            machine.Pin(_PIN_LED_G, machine.Pin.OUT, value=0),
            machine.Pin(_PIN_LED_B, machine.Pin.OUT, value=0),
        )

    def set(self, colour: int) -> None:
        levels = _RGB[colour]
        for i in range(3):
            self._pins[i].value(levels[i])


class Vibe:
    def __init__(self) -> None:
        self._pin = machine.Pin(_PIN_VIBE, machine.Pin.OUT, value=0)

    def set(self, on: int) -> None:
        self._pin.value(1 if on else 0)


class Buzzer:
    def __init__(self) -> None:
        self._pwm = machine.PWM(machine.Pin(_PIN_BUZZER), freq=2700, duty_u16=0)

    def set(self, hz: int) -> None:
        if hz:
            self._pwm.freq(hz)
            self._pwm.duty_u16(32768)  # square wave: the loudest a piezo gets from one pin
        else:
            self._pwm.duty_u16(0)


class BleAdvertiser:
    """Non-connectable adverts; the BLE stack is on only while a burst lasts.

    SPEC 10: the address is a non-resolvable private address, new with every new counter, so the address
    cannot link two frames that the rotating pseudonym keeps apart. A new counter shows as a new pseudonym
    (frame bytes 1-6); then the stack restarts with a fresh address.
    """

    def __init__(self, company_id: int, interval_ms: int) -> None:
        self._ble = bluetooth.BLE()
        self._buf = advert.new_buffer(company_id)
        self._interval_us = interval_ms * 1000
        self._pseudonym = bytearray(6)
        self.on = False

    def _same_counter(self, frame) -> bool:
        same = True
        for i in range(6):
            if self._pseudonym[i] != frame[1 + i]:
                same = False
                self._pseudonym[i] = frame[1 + i]
        return same

    def advertise(self, frame) -> None:
        if not self._same_counter(frame) and self.on:
            self.stop()
        if not self.on:
            self._ble.active(True)
            self._ble.config(addr_mode=_ADDR_MODE_NRPA)
            self.on = True
        advert.fill(self._buf, frame)
        self._ble.gap_advertise(self._interval_us, self._buf, connectable=False)

    def stop(self) -> None:
        if self.on:
            self._ble.gap_advertise(None)  # pyright: ignore[reportArgumentType] - None stops advertising
            self._ble.active(False)
            self.on = False


class LoraModem:
    """The SX1262 through micropython-lib's low-level API (prepare_send/start_send/poll_send, start_recv/poll_recv)."""

    def __init__(self, tx_dbm: int) -> None:
        from lora import SX1262  # pyright: ignore[reportMissingImports] - installed on the device by mip

        spi = machine.SPI(
            1,
            baudrate=8000000,
            sck=machine.Pin(_PIN_SCK),
            mosi=machine.Pin(_PIN_MOSI),
            miso=machine.Pin(_PIN_MISO),
        )
        self._modem = SX1262(
            spi,
            machine.Pin(_PIN_NSS),
            busy=machine.Pin(_PIN_BUSY),
            dio1=machine.Pin(_PIN_DIO1),
            reset=machine.Pin(_PIN_RESET),
            lora_cfg={
                "freq_khz": 868100,
                "sf": 9,
                "bw": "125",
                "coding_rate": 5,
                "preamble_len": 8,
                "output_power": tx_dbm,  # +14 dBm: the EU868 limit, and an "optimal" PA point (DS 13.1.14)
                "syncword": _SYNC_WORD_PUBLIC,
                "crc_en": True,
                "implicit_header": False,
                # SPEC 10: uplinks with normal IQ; ACKs come down with inverted IQ, as gateways transmit.
                "invert_iq_tx": False,
                "invert_iq_rx": True,
            },
        )
        self._freq = 868100000
        self._sf = 9
        self._rx = None

    def _tune(self, freq_hz: int, sf: int) -> None:
        if freq_hz != self._freq or sf != self._sf:
            self._modem.standby()  # the driver refuses to reconfigure while it receives
            self._modem.configure({"freq_khz": freq_hz // 1000, "sf": sf})
            self._freq = freq_hz
            self._sf = sf

    def _finish_send(self) -> None:
        # The driver must see each send completed before it will receive again.
        while self._modem.poll_send() is True:
            time.sleep_ms(1)

    def send(self, frame, freq_hz: int, sf: int) -> None:
        self._finish_send()
        self._tune(freq_hz, sf)
        self._modem.prepare_send(frame)
        self._modem.start_send()

    def listen(self, freq_hz: int, sf: int) -> None:
        self._finish_send()
        self._tune(freq_hz, sf)
        self._modem.start_recv(None, True)  # continuous: an ACK may come at any time during an alarm

    def recv(self):
        r = self._modem.poll_recv(self._rx)
        if r is True or r is False or r is None:
            return None
        self._rx = r  # reused by the driver for the next packet of the same length
        return r

    def sleep(self) -> None:
        self._finish_send()
        self._modem.sleep()


class Battery:
    def __init__(self) -> None:
        self._en = machine.Pin(_PIN_BATT_EN, machine.Pin.OUT, value=0)
        self._adc = machine.ADC(machine.Pin(_PIN_BATT_ADC), atten=machine.ADC.ATTN_11DB)

    def percent(self) -> int:
        self._en.value(1)
        time.sleep_ms(2)  # the divider's filter capacitor settles
        uv = 0
        for _ in range(4):
            uv += self._adc.read_uv()
        self._en.value(0)
        return battery_percent(uv * 2 // 4 // 1000)  # 1:1 divider, mean of four, µV to mV


class FileStorage:
    """Small records as files on the flash filesystem (littlefs2 in the MicroPython ESP32 image)."""

    def __init__(self, root: str = "/") -> None:
        self._root = root

    def read(self, name: str):
        try:
            with open(self._root + name, "rb") as f:
                return f.read()
        except OSError:
            return None

    def write(self, name: str, data) -> None:
        with open(self._root + name, "wb") as f:
            f.write(data)


class Board:
    def __init__(self, cfg, storage_root: str = "/") -> None:
        self.edges = EdgeQueue()
        self.button = machine.Pin(_PIN_BUTTON, machine.Pin.IN, machine.Pin.PULL_UP)
        self._level = 0
        self.ble = BleAdvertiser(cfg.company_id, cfg.ble_interval_ms)
        self.lora = LoraModem(cfg.lora_dbm)
        self.rtc = machine.RTC()
        self.woke_by_button = machine.reset_cause() == machine.DEEPSLEEP_RESET and (
            machine.wake_reason() == machine.EXT0_WAKE
        )
        self._hw = Hardware(
            self.edges, Led(), Vibe(), Buzzer(), self.ble, self.lora, Battery(), FileStorage(storage_root)
        )
        self.button.irq(self._on_edge, machine.Pin.IRQ_FALLING | machine.Pin.IRQ_RISING)
        if self.woke_by_button:
            # The press that woke the chip began before this code ran: count it from now.
            self._level = 1
            self.edges.push(ticks_ms(), 1)
        self.sync_button()

    def _on_edge(self, pin) -> None:
        # Interrupt context: no allocation, just the time and the level (pressed = pin low).
        level = 1 - pin.value()
        if level != self._level:
            self._level = level
            self.edges.push(ticks_ms(), level)

    def sync_button(self) -> None:
        """After a sleep, an edge may have gone unseen: compare the pin with the last level reported."""
        level = 1 - self.button.value()
        if level != self._level:
            self._level = level
            self.edges.push(ticks_ms(), level)

    def hardware(self) -> Hardware:
        return self._hw

    def retained(self):  # -> (snapshot or None, ms slept)
        if machine.reset_cause() != machine.DEEPSLEEP_RESET:
            return None, 0
        data = self.rtc.memory()
        tail = struct.calcsize(_RTC_TAIL)
        if len(data) <= tail:
            return None, 0
        (then,) = struct.unpack(_RTC_TAIL, data[-tail:])
        slept = max(0, time.time_ns() // 1000000 - then)
        return bytes(data[:-tail]), slept

    def deep_sleep(self, snapshot: bytes, ms: int) -> None:
        """Keep ``snapshot`` in RTC memory and sleep until the button or ``ms`` (never returns)."""
        self.lora.sleep()
        self.ble.stop()
        self.rtc.memory(snapshot + struct.pack(_RTC_TAIL, time.time_ns() // 1000000))
        esp32.wake_on_ext0(self.button, esp32.WAKEUP_ALL_LOW)
        if ms < 0:
            machine.deepsleep()
        machine.deepsleep(max(1, ms))

    def light_sleep(self, ms: int) -> None:
        """Wait up to ``ms`` for a deadline, the button or the radio; RAM and the application stay."""
        if ms == 0:
            return
        if self.ble.on:
            # The BLE controller does not survive light sleep: idle in short steps while a burst lasts.
            time.sleep_ms(min(ms, 10) if ms > 0 else 10)
        else:
            # ext0 is level-triggered: while the button is held, wake on its release instead, or the chip
            # would wake at once, again and again, for the whole of a hold.
            esp32.wake_on_ext0(self.button, esp32.WAKEUP_ANY_HIGH if self._level else esp32.WAKEUP_ALL_LOW)
            esp32.wake_on_ext1((machine.Pin(_PIN_DIO1),), esp32.WAKEUP_ANY_HIGH)
            machine.lightsleep(ms if ms > 0 else 60000)
        self.sync_button()
