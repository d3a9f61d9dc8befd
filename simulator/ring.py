"""One key ring running the real firmware logic (firmware.keyring.Keyring) on the fakes of firmware/fakes.py.

The ring is driven as firmware/host/runner.py drives it and as the ESP32 runs: after each step the power policy
(``firmware.power.sleep_plan``) says how to wait. In deep sleep the application object is dropped and only its
RTC snapshot kept; the button (ext0) or the heartbeat timer builds a new one. In light sleep the next deadline,
the button or a LoRa downlink (DIO1) wakes it. The engine owns time: it calls :meth:`wake` at the instants this
object asks for, and reads what the ring put on air through the board's recorder.
"""

from collections.abc import Callable
from typing import Any

from firmware.config import Config
from firmware.fakes import FakeBoard, FakeClock
from firmware.keyring import Keyring
from firmware.power import DEEP, sleep_plan
from protocol.keys import DeviceKeys

Record = dict[str, Any]


class SimRing:
    """A ring's board, clock and firmware; ``on_record`` receives each thing the fakes report."""

    def __init__(
        self,
        index: int,
        device_id: int,
        root_key: bytes,
        on_record: Callable[["SimRing", Record], None],
        settings: dict[str, Any] | None = None,
    ) -> None:
        self.index = index
        self.cfg = Config(device_id, root_key, 1, settings)
        self.settings = dict(settings or {})  # for a replay under MicroPython with the same settings
        self.keys = DeviceKeys(root_key)
        self._on_record = on_record
        self.clock = FakeClock()
        self.board = FakeBoard(clock=self.clock, sink=self._record, keep=False)
        self.app: Keyring | None = None
        self.wake_at: int | None = None  # the next instant the engine must call wake(); None: only an event wakes
        self.deep = False
        self._slept_from = 0
        self.steps = 0
        self.boot_ms = 0
        # The ring's life as the host runner's timeline (ms from boot) and the frames it sent, so the same life
        # can be replayed under the MicroPython interpreter and compared (simulator/fidelity.py).
        self.inputs: list[tuple[int, str]] = []
        self.sent: list[tuple[int, str, str]] = []

    def _record(self, record: Record) -> None:
        self._on_record(self, record)

    def boot(self, now_ms: int) -> None:
        """Power on (a cold boot: the first frame carries FLAG_BOOT)."""
        self.clock.advance_to(now_ms)
        self.boot_ms = now_ms
        self.app = Keyring(self.board.hardware(), self.cfg, self.keys, self.clock.ticks_ms())
        self._step()

    def wake(self, now_ms: int) -> None:
        """Run the firmware at ``now_ms``: a deadline, a button edge or a downlink."""
        self.clock.advance_to(max(now_ms, self.clock.elapsed))
        if self.deep:
            slept = self.clock.elapsed - self._slept_from
            self.deep = False
            self.app = Keyring(
                self.board.hardware(), self.cfg, self.keys, self.clock.ticks_ms(), self.board.rtc.read(), slept
            )
        self._step()

    def _step(self) -> None:
        app = self.app
        assert app is not None
        now = self.clock.ticks_ms()
        app.poll(now)
        self.steps += 1
        mode, wait = sleep_plan(app, now)
        if mode == DEEP:
            # RAM is lost: the snapshot goes to RTC memory, as firmware/host/runner.py does.
            self.board.rtc.write(app.snapshot(now))
            self.board.lora.sleep()
            self.app = None
            self.deep = True
            self._slept_from = self.clock.elapsed
        # A deadline of "now" is served 1 ms on, so a step can never schedule itself at the same instant forever.
        self.wake_at = None if wait < 0 else self.clock.elapsed + max(1, wait)

    def button(self, now_ms: int, pressed: bool) -> None:
        """A button edge: the interrupt handler queues it; the ring wakes (ext0 from deep sleep) and steps."""
        self.clock.advance_to(max(now_ms, self.clock.elapsed))
        self.board.button.set(pressed)
        self.inputs.append((self.clock.elapsed - self.boot_ms, "down" if pressed else "up"))
        self.wake(now_ms)

    def downlink(self, now_ms: int, frame: bytes) -> bool:
        """A LoRa downlink ends at ``now_ms``: heard only if the SX1262 is listening (DIO1 then wakes the ring)."""
        self.clock.advance_to(max(now_ms, self.clock.elapsed))
        if self.deep:
            self.board.lora.missed += 1
            return False
        heard = self.board.lora.deliver(frame)
        if heard:
            self.wake(now_ms)
        return heard
