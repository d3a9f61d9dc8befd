"""The hardware simulator for one key ring: the real firmware logic on fake hardware and a virtual clock.

    micropython -m firmware.host.runner --device-id N --timeline SPEC [--key HEX | --key -]

(``--key -`` reads the key from stdin, which is how ``nightwatch keyring run`` passes it, so it never shows
in a process list.) Runs unchanged under CPython. Prints one JSON line per thing the device does, then a
summary with the heap peak (``gc.mem_alloc``: after a ``gc.collect()`` before each step, the allocation at
the end of the step bounds that step's peak from above).

Deep sleep is simulated as on the device: the application object is dropped, its ``snapshot()`` kept in
(fake) RTC memory, and a new one is built on wake, from the button (ext0) or the heartbeat timer.
"""

import gc
import json
import sys

from firmware.airtime import SUB_BANDS, sub_band
from firmware.config import Config
from firmware.fakes import FakeBoard
from firmware.host.timeline import load
from firmware.keyring import Keyring
from firmware.power import DEEP, sleep_plan
from firmware.ticks import ticks_diff
from protocol import ack
from protocol.constants import ACK_CANCELLED, ACK_CLOSED, ACK_HELP_ON_THE_WAY, ACK_RECEIVED, ACK_UNAVAILABLE
from protocol.keys import DeviceKeys

_ACK_STATES = {
    "ack-received": ACK_RECEIVED,
    "ack-help": ACK_HELP_ON_THE_WAY,
    "ack-cancelled": ACK_CANCELLED,
    "ack-closed": ACK_CLOSED,
    "ack-unavailable": ACK_UNAVAILABLE,
}
_PATTERNS = ("sos", "escort", "test", "cancel", "duress")

try:
    from time import ticks_us  # type: ignore[attr-defined]
except ImportError:
    from time import perf_counter_ns

    def ticks_us() -> int:  # type: ignore[misc]
        return perf_counter_ns() // 1000


_HAVE_MEM_ALLOC = hasattr(gc, "mem_alloc")


def _heap() -> int:
    return gc.mem_alloc() if _HAVE_MEM_ALLOC else -1  # type: ignore[attr-defined]


class Run:
    def __init__(self, cfg, events, out=None) -> None:
        self.cfg = cfg
        self.keys = DeviceKeys(cfg.root_key)
        self.events = events
        self.out = out if out is not None else self._print
        self.board = FakeBoard(sink=self._record, keep=False)
        self.clock = self.board.clock
        self.app = None
        self.ack_seq = 0
        self.pattern_at = -1
        self.latencies = []
        self.peak_heap = 0
        self.peak_heap_alarm = 0
        self.baseline_heap = 0
        self.max_step_us = 0
        self.counts = {"ble": 0, "lora": 0}
        self.airtime = {}  # LoRa ms on air per sub-band index, across reboots
        self.deep_sleeps = 0
        self.i = 0  # next timeline event

    def _print(self, record: dict) -> None:
        print(json.dumps(record))

    def _record(self, record: dict) -> None:
        kind = record["kind"]
        if kind == "pattern" and record["value"] in _PATTERNS:
            self.pattern_at = record["t_ms"]
        elif kind == "radio":
            self.counts[record["radio"]] += 1
            if record["radio"] == "lora":
                band = str(sub_band(record["freq_hz"]))
                self.airtime[band] = self.airtime.get(band, 0) + record["toa_ms"]
            if self.pattern_at >= 0:
                self.latencies.append(record["t_ms"] - self.pattern_at)
                self.pattern_at = -1
        self.out(record)

    def _emit(self, kind: str, **fields) -> None:
        record = {"kind": kind}
        record.update(fields)
        self.board.rec.emit(record)

    def _boot(self, retained=None, slept_ms: int = 0) -> None:
        self.app = None
        gc.collect()
        self.app = Keyring(self.board.hardware(), self.cfg, self.keys, self.clock.ticks_ms(), retained, slept_ms)

    def _step(self) -> None:
        if _HAVE_MEM_ALLOC:
            gc.collect()  # so the figure after the step is this step's peak, not old garbage
        t0 = ticks_us()
        self.app.poll(self.clock.ticks_ms())
        us = ticks_diff(ticks_us(), t0)
        self.max_step_us = max(self.max_step_us, us)
        heap = _heap()
        self.peak_heap = max(self.peak_heap, heap)
        if self.app.alarm is not None and heap > self.peak_heap_alarm:
            self.peak_heap_alarm = heap

    def _apply(self, name: str, arg: int) -> bool:
        """Apply one timeline event; True when it wakes a sleeping ring."""
        board = self.board
        if name == "down":
            board.button.set(True)
            return True
        if name == "up":
            board.button.set(False)
            return False
        if name == "battery":
            board.battery.level = arg
            self._emit("battery", percent=arg)
            return False
        if name == "powercut":
            return True
        if name in _ACK_STATES or name == "ack-forged":
            self._downlink(name)
            return False
        return False

    def _downlink(self, name: str) -> None:
        app = self.app
        target = None
        if app is not None:
            if name == "ack-cancelled" and app.cancel is not None:
                target = app.cancel
            else:
                target = app.alarm or app.cancel or app.beat
        if target is None:
            self._emit("downlink", state=name[4:], heard=False, why="nothing to acknowledge")
            return
        state = _ACK_STATES.get(name, ACK_RECEIVED)
        frame = ack.encode(self.keys, ack.Ack(target.counter, state, self.ack_seq & 0xFF, 0))
        self.ack_seq += 1
        if name == "ack-forged":
            frame = frame[:-1] + bytes((frame[-1] ^ 1,))
        heard = self.board.lora.deliver(frame)
        self._emit("downlink", state=name[4:], counter=target.counter, frame=frame.hex(), heard=heard)

    def run(self) -> dict:
        self._emit("boot", reason="power_on")
        self._boot()
        gc.collect()
        self.baseline_heap = _heap()
        self._step()
        end = self.events[-1][0]
        while self._advance(end):
            pass
        return self.summary()

    def _next_event_ms(self, end: int) -> int:
        return self.events[self.i][0] if self.i < len(self.events) else end

    def _advance(self, end: int) -> bool:
        """Sleep as the power policy says, then handle what woke the ring; False at the end."""
        app = self.app
        now = self.clock.ticks_ms()
        mode, wait = sleep_plan(app, now)
        deadline = self.clock.elapsed + wait
        if mode == DEEP:
            return self._deep_sleep(app, now, deadline, end)
        target = min(deadline, self._next_event_ms(end), end)
        if target - self.clock.elapsed >= 1000 and target < end:
            # Only sleeps of a second or more are shown: the blinks between are sleeps too.
            self._emit("sleep", mode="light", wake_by_ms=target)
            self.clock.advance_to(target)
            self._emit("wake", mode="light", reason=self._light_wake_reason(target, end))
        self.clock.advance_to(target)
        stop, _pressed = self._run_due(target)
        if stop is not None:
            return stop
        if target >= end:
            return False
        self._step()
        return True

    def _run_due(self, target: int) -> tuple[bool | None, bool]:
        """Apply the timeline's events due by ``target``. Returns what _advance is to return, or None to go on
        (False: the timeline ended; True: the power was cut, and the ring boots again), and whether one of the
        events would wake a sleeping ring."""
        woken = False
        while self.i < len(self.events) and self.events[self.i][0] <= target:
            _ms, name, arg = self.events[self.i]
            self.i += 1
            if name == "end":
                return False, woken
            if name == "powercut":
                self._power_cut()
                return True, woken
            if self._apply(name, arg):
                woken = True
        return None, woken

    def _light_wake_reason(self, target: int, end: int) -> str:
        if self._next_event_ms(end) > target:
            return "timer"
        name = self.events[self.i][1]
        if name in ("down", "up"):
            return "button"
        return "radio" if name.startswith("ack-") else "timeline"

    def _deep_sleep(self, app, now: int, deadline: int, end: int) -> bool:
        # RAM is lost: only the snapshot in RTC memory and the flash survive, as on the ESP32.
        self.deep_sleeps += 1
        self.board.rtc.write(app.snapshot(now))
        self.board.lora.sleep()
        self._emit("sleep", mode="deep", wake_by_ms=deadline)
        self.app = None
        slept_from = self.clock.elapsed
        woke = ""
        while not woke:
            target = min(deadline, self._next_event_ms(end), end)
            self.clock.advance_to(target)
            stop, pressed = self._run_due(target)
            if stop is not None:
                return stop
            if pressed and not woke:
                woke = "button"  # ext0: the button pin wakes the chip
            if not woke and target >= deadline:
                woke = "timer"
            if not woke and target >= end:
                return False
        slept = self.clock.elapsed - slept_from
        self._emit("wake", mode="deep", reason=woke, slept_ms=slept)
        self._boot(self.board.rtc.read(), slept)
        self._step()
        return True

    def _power_cut(self) -> None:
        self.app = None
        self.board.power_cut()
        self._emit("powercut")
        self._emit("boot", reason="power_on")
        self._boot()
        self._step()

    def summary(self) -> dict:
        s = {
            "kind": "summary",
            "runtime": sys.implementation.name,
            "end_ms": self.clock.elapsed,
            "frames": self.counts,
            "pattern_to_first_frame_ms": self.latencies,
            "max_step_us": self.max_step_us,
            "peak_heap": self.peak_heap if _HAVE_MEM_ALLOC else None,
            "peak_heap_alarm": self.peak_heap_alarm if _HAVE_MEM_ALLOC else None,
            "heap_after_boot": self.baseline_heap if _HAVE_MEM_ALLOC else None,
            "alarm_heap_over_boot": self.peak_heap_alarm - self.baseline_heap if _HAVE_MEM_ALLOC else None,
            "deep_sleeps": self.deep_sleeps,
            "downlinks_missed": self.board.lora.missed,
            "button_edges_dropped": self.board.edges.dropped,
        }
        bands = {}
        for band in self.airtime:
            lo, hi, _dc = SUB_BANDS[int(band)]
            bands[str(lo // 100000 / 10) + "-" + str(hi // 100000 / 10) + " MHz"] = round(self.airtime[band], 1)
        s["lora_airtime_ms"] = bands
        return s


def _args(argv: list) -> dict:
    opts = {"--key": None, "--device-id": None, "--timeline": None, "--counter-start": "1", "--settings": None}
    i = 0
    while i < len(argv):
        name = argv[i]
        if name not in opts or i + 1 >= len(argv):
            raise SystemExit("usage: runner --key HEX|- --device-id N --timeline SPEC [--counter-start N]")
        opts[name] = argv[i + 1]
        i += 2
    for name in ("--key", "--device-id", "--timeline"):
        if opts[name] is None:
            raise SystemExit("missing " + name)
    return opts


def main(argv=None) -> int:
    opts = _args(sys.argv[1:] if argv is None else argv)
    key_text = opts["--key"]
    if key_text == "-":
        key_text = sys.stdin.readline()
    try:
        key = bytes.fromhex(key_text.strip())
    except ValueError:
        raise SystemExit("key must be 32 hex digits") from None
    settings = json.loads(opts["--settings"]) if opts["--settings"] else None
    cfg = Config(int(opts["--device-id"]), key, int(opts["--counter-start"]), settings)
    run = Run(cfg, load(opts["--timeline"]))
    print(json.dumps(run.run()))
    return 0


if __name__ == "__main__":
    main()
