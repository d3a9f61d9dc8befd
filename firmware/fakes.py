"""Fakes for the hardware layer, shared by the tests, the host runner and the simulator.

Each fake does what the real part does at the level the firmware sees (a LoRa transmission takes its time on
air; a flash write can be cut part-way by a power cut) and reports what it was told to do to a
:class:`Recorder`, as dicts stamped with the virtual time. Nothing here is used on the device.
"""

from firmware.airtime import time_on_air_ms
from firmware.feedback import COLOUR_NAMES
from firmware.hardware import EdgeQueue, Hardware
from firmware.ticks import ticks_add, ticks_diff


class PowerCut(Exception):  # noqa: N818 - an event the tests inject, not an error
    """Raised by a fake at the instant the power goes; whatever was mid-write stays torn."""


class FakeClock:
    """Virtual milliseconds. ``start`` lets a test begin close to the ticks wrap."""

    def __init__(self, start: int = 0) -> None:
        self._start = start
        self.elapsed = 0  # ms since the clock was made; never wraps, for reports

    def ticks_ms(self) -> int:
        return ticks_add(self._start, self.elapsed)

    def advance(self, ms: int) -> None:
        if ms < 0:
            raise ValueError("time runs forward")
        self.elapsed += ms

    def advance_to(self, elapsed: int) -> None:
        self.advance(elapsed - self.elapsed)


class Recorder:
    """Collects what the fakes did, as dicts; ``sink`` (if given) also gets each one as it happens."""

    def __init__(self, clock: FakeClock, sink=None, keep: bool = True) -> None:
        self.clock = clock
        self.sink = sink
        self.keep = keep  # the runner streams records and keeps none, so its heap figure is the firmware's
        self.records = []

    def emit(self, fields: dict) -> None:
        record = {"t_ms": self.clock.elapsed}  # first, for people reading the runner's output
        record.update(fields)
        if self.keep:
            self.records.append(record)
        if self.sink is not None:
            self.sink(record)

    def of(self, kind: str) -> list:
        return [r for r in self.records if r["kind"] == kind]


class FakeButton:
    """A button whose interrupt handler pushes edges into the device's EdgeQueue."""

    def __init__(self, clock: FakeClock, edges: EdgeQueue) -> None:
        self.clock = clock
        self.edges = edges
        self.pressed = False

    def set(self, pressed: bool) -> None:
        if pressed != self.pressed:
            self.pressed = pressed
            self.edges.push(self.clock.ticks_ms(), 1 if pressed else 0)


class _FakeOutput:
    """An output the feedback player sets: keeps the last value and records every write."""

    def __init__(self, rec: Recorder) -> None:
        self.rec = rec
        self.value = 0

    def set(self, value: int) -> None:
        self.value = value
        self.rec.emit(self._record(value))

    def _record(self, value: int) -> dict:
        raise NotImplementedError


class FakeLed(_FakeOutput):
    def _record(self, value: int) -> dict:
        return {"kind": "led", "led": COLOUR_NAMES[value]}


class FakeVibe(_FakeOutput):
    def _record(self, value: int) -> dict:
        return {"kind": "vibe", "on": bool(value)}


class FakeBuzzer(_FakeOutput):
    def _record(self, value: int) -> dict:
        return {"kind": "buzzer", "hz": value}


class FakeBleAdvertiser:
    """Records each advert payload once, when advertising starts or its payload changes."""

    def __init__(self, rec: Recorder) -> None:
        self.rec = rec
        self.frame = None

    def advertise(self, frame: bytes) -> None:
        self.frame = bytes(frame)
        self.rec.emit({"kind": "radio", "radio": "ble", "frame": self.frame.hex()})

    def stop(self) -> None:
        if self.frame is not None:
            self.frame = None
            self.rec.emit({"kind": "radio_off", "radio": "ble"})


class FakeLoraModem:
    """An SX1262 as the firmware drives it: a send takes its time on air; only a listening modem hears."""

    def __init__(self, clock: FakeClock, rec: Recorder) -> None:
        self.clock = clock
        self.rec = rec
        self.mode = "sleep"  # sleep | tx | rx
        self.tx_end = 0
        self.rx = []  # payloads received, not yet read
        self.heard = 0
        self.missed = 0

    def _settle(self) -> None:
        if self.mode == "tx" and ticks_diff(self.clock.ticks_ms(), self.tx_end) >= 0:
            self.mode = "standby"

    def send(self, frame: bytes, freq_hz: int, sf: int) -> None:
        self._settle()
        if self.mode == "tx":
            raise RuntimeError("send while transmitting")
        toa = time_on_air_ms(len(frame), sf)
        self.mode = "tx"
        self.tx_end = ticks_add(self.clock.ticks_ms(), int(toa + 0.999))
        self.rec.emit(
            {"kind": "radio", "radio": "lora", "frame": bytes(frame).hex(), "freq_hz": freq_hz, "sf": sf, "toa_ms": toa}
        )

    def listen(self, freq_hz: int, sf: int) -> None:
        self._settle()
        if self.mode == "tx":
            raise RuntimeError("listen while transmitting")
        self.mode = "rx"
        self.rec.emit({"kind": "lora_rx", "on": True, "freq_hz": freq_hz, "sf": sf})

    def sleep(self) -> None:
        self._settle()
        if self.mode == "rx":
            self.rec.emit({"kind": "lora_rx", "on": False})
        self.mode = "sleep"

    def recv(self):
        return self.rx.pop(0) if self.rx else None

    def deliver(self, frame: bytes) -> bool:
        """A downlink on air now: heard only if the modem is listening (as a real one would)."""
        self._settle()
        if self.mode == "rx":
            self.rx.append(bytes(frame))
            self.heard += 1
            return True
        self.missed += 1
        return False


class FakeBattery:
    def __init__(self, percent: int = 100) -> None:
        self.level = percent

    def percent(self) -> int:
        return self.level


class FakeStorage:
    """Named records in flash. A write goes one byte at a time; ``cut_after(n)`` makes the n-th byte written
    from now the last one before a power cut. ``erased`` models flash that erases a record (to 0xFF) before
    programming it, so a cut leaves new bytes then 0xFF instead of new bytes then old ones."""

    def __init__(self, erased: bool = False) -> None:
        self.files = {}
        self.erased = erased
        self._budget = -1
        self.writes = 0

    def cut_after(self, n_bytes: int) -> None:
        self._budget = n_bytes

    def read(self, name: str):
        data = self.files.get(name)
        return None if data is None else bytes(data)

    def write(self, name: str, data: bytes) -> None:
        old = self.files.get(name, bytearray())
        buf = bytearray(b"\xff" * len(data)) if self.erased else bytearray(old)
        buf.extend(b"\xff" * max(0, len(data) - len(buf)))
        self.files[name] = buf
        for i in range(len(data)):
            if self._budget == 0:
                self._budget = -1
                raise PowerCut()
            if self._budget > 0:
                self._budget -= 1
            buf[i] = data[i]
        if len(buf) > len(data):
            self.files[name] = buf[: len(data)]
        self.writes += 1


class FakeRtcMemory:
    """RTC slow memory: kept through deep sleep, lost with the power."""

    def __init__(self) -> None:
        self.data = b""

    def read(self) -> bytes:
        return self.data

    def write(self, data: bytes) -> None:
        self.data = bytes(data)


class FakeBoard:
    """One key ring's fake parts, wired as the board module wires the real ones."""

    def __init__(self, clock=None, sink=None, battery: int = 100, storage=None, keep: bool = True) -> None:
        self.clock = clock if clock is not None else FakeClock()
        self.rec = Recorder(self.clock, sink, keep)
        self.edges = EdgeQueue()
        self.button = FakeButton(self.clock, self.edges)
        self.led = FakeLed(self.rec)
        self.vibe = FakeVibe(self.rec)
        self.buzzer = FakeBuzzer(self.rec)
        self.ble = FakeBleAdvertiser(self.rec)
        self.lora = FakeLoraModem(self.clock, self.rec)
        self.battery = FakeBattery(battery)
        self.storage = storage if storage is not None else FakeStorage()
        self.rtc = FakeRtcMemory()

    def note(self, now: int, kind: str, value) -> None:
        self.rec.emit({"kind": kind, "value": value})

    def hardware(self) -> Hardware:
        return Hardware(
            self.edges, self.led, self.vibe, self.buzzer, self.ble, self.lora, self.battery, self.storage, self.note
        )

    def power_cut(self) -> None:
        """RAM and RTC memory go; flash stays; the button and battery are what they are."""
        self.rtc.data = b""
        self.edges = EdgeQueue()
        self.button.edges = self.edges
        if self.button.pressed:
            self.edges.push(self.clock.ticks_ms(), 1)  # held through the cut: the board reads the pin at boot
        self.lora.mode = "sleep"
        self.lora.rx = []
        self.ble.frame = None
