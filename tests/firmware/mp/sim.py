"""A key ring on fakes and a virtual clock, for tests on both runtimes (MicroPython and CPython)."""

from firmware.config import Config
from firmware.fakes import FakeBoard, FakeClock
from firmware.keyring import Keyring
from firmware.power import DEEP, sleep_plan
from firmware.ticks import ticks_diff
from protocol import ack, uplink
from protocol.keys import DeviceKeys

KEY = bytes(range(16))
DEVICE_ID = 4242


class Sim:
    def __init__(
        self,
        settings=None,
        battery: int = 100,
        storage=None,
        clock_start: int = 0,
        counter_start: int = 1,
        device_id: int = DEVICE_ID,
        sink=None,
    ):
        self.cfg = Config(device_id, KEY, counter_start, settings)
        self.keys = DeviceKeys(KEY)
        # With a sink, records go to it as they happen and are not kept (the lifecycle model reads them so).
        self.board = FakeBoard(FakeClock(clock_start), sink, battery, storage, keep=sink is None)
        self.clock = self.board.clock
        self.app = Keyring(self.board.hardware(), self.cfg, self.keys, self.clock.ticks_ms())
        self.ack_seq = 0
        self.app.poll(self.clock.ticks_ms())

    @property
    def t(self) -> int:
        return self.clock.elapsed

    def run_until(self, elapsed: int) -> None:
        """Step the device at each of its deadlines up to ``elapsed`` (virtual ms since start)."""
        while True:
            now = self.clock.ticks_ms()
            nxt = self.clock.elapsed + max(0, ticks_diff(self.app.next_deadline(now), now))
            if nxt > elapsed:
                self.clock.advance_to(elapsed)
                self.app.poll(self.clock.ticks_ms())
                return
            self.clock.advance_to(nxt)
            self.app.poll(self.clock.ticks_ms())

    def run_for(self, ms: int) -> None:
        self.run_until(self.clock.elapsed + ms)

    def sleep_and_wake(self) -> bool:
        """Wait as the power policy says, then step once; True when that wait was a deep sleep. In deep sleep the
        Keyring is dropped and rebuilt from its snapshot (RTC memory) on the timer's wake, as the board does."""
        now = self.clock.ticks_ms()
        mode, wait = sleep_plan(self.app, now)
        if mode == DEEP:
            snap = self.app.snapshot(now)
            self.board.lora.sleep()
            self.app = None
            self.clock.advance(wait)
            self.app = Keyring(self.board.hardware(), self.cfg, self.keys, self.clock.ticks_ms(), snap, wait)
        else:
            self.clock.advance(max(1, wait))
        self.app.poll(self.clock.ticks_ms())
        return mode == DEEP

    def button(self, pressed: bool) -> None:
        self.board.button.set(pressed)
        self.app.poll(self.clock.ticks_ms())

    def press(self, ms: int, gap: int = 0) -> None:
        self.button(True)
        self.run_for(ms)
        self.button(False)
        if gap:
            self.run_for(gap)

    def word(self, word: str, short_ms: int = 150, long_ms: int = 1000, gap_ms: int = 200) -> None:
        for c in word:
            self.press(short_ms if c == "S" else long_ms, gap_ms)

    def records(self, kind: str) -> list:
        return self.board.rec.of(kind)

    def notes(self, kind: str) -> list:
        return [r["value"] for r in self.records(kind)]

    def frames(self, radio: str) -> list:
        return [r for r in self.records("radio") if r["radio"] == radio]

    def decode(self, frame_hex: str):
        """The uplink in a frame, found by trying this device's counters (as the server's lookahead does)."""
        frame = bytes.fromhex(frame_hex)
        for c in range(1, self.app.store.peek()):
            if uplink.verify(self.keys, frame, c):
                return uplink.decode(self.keys, frame, c)
        raise AssertionError("frame does not verify for any counter used")

    def ack(self, state: int, counter: int = 0, forge: bool = False) -> bool:
        if not counter:
            counter = self.app.alarm.counter
        frame = ack.encode(self.keys, ack.Ack(counter, state, self.ack_seq, 0))
        self.ack_seq += 1
        if forge:
            frame = frame[:-1] + bytes((frame[-1] ^ 0x01,))
        heard = self.board.lora.deliver(frame)
        self.app.poll(self.clock.ticks_ms())
        return heard

    def vibration(self, since: int = 0, until: int = 1 << 40) -> list:
        """Vibration pulses (start, length) in a time range: what a wearer feels."""
        pulses = []
        start = -1
        for r in self.records("vibe"):
            if r["t_ms"] < since or r["t_ms"] > until:
                continue
            if r["on"] and start < 0:
                start = r["t_ms"]
            elif not r["on"] and start >= 0:
                pulses.append((start - since, r["t_ms"] - start))
                start = -1
        return pulses
