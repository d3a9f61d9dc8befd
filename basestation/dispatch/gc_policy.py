"""When the cyclic garbage collector may stop the event loop, and for how long.

A full collection walks every object the process holds. With the state of a busy city (recent frames, devices,
their keys, incidents, the stream's history) one took 40-95 ms, and Python started one whenever its counters
said so, alarm in flight or not: during a heartbeat flood, eight of them took 214 ms of 2.6 s
(bench/dispatch_bench.py). So:

- Python's own collections stay for the young generations, which are cheap, but never reach the old one, and
  they run after an alarm, not amid one (``after_alarm``);
- the middle generation is collected every other young collection (``MIDDLE_THRESHOLD``), so it never holds more
  than one young generation's survivors. With Python's default (ten) it piled up ten of them: at a thousand
  uplinks a second each alarm leaves a dozen containers behind (its incident, the stream's copies of it) and a
  middle collection walked ~6,000 of them in 2-8 ms, in front of whichever alarm came next. One young
  generation's worth takes about 1 ms, and the two generations together cost less than before (the survivors
  are walked once on their way to the old generation, not up to ten times);
- every ``full_every_s``, at a quiet moment (no alarm in the last ``quiet_s``), one full collection frees what
  reference counting could not (cycles, such as a closed connection's protocol and transport);
- what start-up built (imports, keys, replay windows, registries) lives as long as the process and is frozen
  (``gc.freeze``) out of every collection's way: with 15k key rings, walking it took ~95 ms.

Reference counting frees everything else at once, as always; this only decides when cycles are looked for.
"""

import asyncio
import gc
import logging
import time
from collections.abc import Callable

log = logging.getLogger("nightwatch.dispatch.gc")

NEVER = 1 << 30  # as a collection threshold: Python never starts a full collection by itself
MIDDLE_THRESHOLD = 0  # the middle generation is collected as soon as one young collection has fed it
# Young collections: Python starts one at its usual 700 allocations, wherever the 700th falls. At a thousand
# uplinks a second that was every ~28 alarms, 0.2-0.5 ms each, inside whatever ran at the time: an alarm's
# decode, the commit thread holding the GIL, the next alarm's push. So after an alarm (``after_alarm``) one runs
# once half that is due, in the quiet before the next, and Python's own rarely comes. In a flood of heartbeats,
# which raises no alarm, Python's stays: at 10,000 allocations a collection there took up to 24 ms (6-10 ms at
# 700), and a bench run collected for 820 ms in all (300-610 ms at 700).
YOUNG_DUE = 350
AFTER_ALARM_S = 0.0005  # the alarm's other copies and its push are through by then


class Collector:
    def __init__(self, full_every_s: float = 600.0, quiet_s: float = 2.0, poll_s: float = 1.0) -> None:
        self.full_every_s = full_every_s
        self.quiet_s = quiet_s
        self.poll_s = poll_s
        self.collections = [0, 0, 0]
        self.max_pause_ms = [0.0, 0.0, 0.0]
        self.total_ms = [0.0, 0.0, 0.0]
        self.last_full_ms = 0.0
        self._started = 0.0
        self._thresholds = gc.get_threshold()
        self._young_soon = False

    def install(self) -> None:
        """Freeze what start-up built, and take over full collections."""
        gc.collect()
        gc.freeze()
        gc.set_threshold(self._thresholds[0], MIDDLE_THRESHOLD, NEVER)
        gc.callbacks.append(self._timer)

    def after_alarm(self) -> None:
        """An alarm was just handled: a young collection that is due runs right after it, in the quiet before
        the next, not in the middle of one."""
        if self._young_soon or gc.get_count()[0] < YOUNG_DUE:
            return
        self._young_soon = True
        asyncio.get_running_loop().call_later(AFTER_ALARM_S, self._young)

    def _young(self) -> None:
        self._young_soon = False
        gc.collect(1)

    def uninstall(self) -> None:
        if self._timer in gc.callbacks:
            gc.callbacks.remove(self._timer)
        gc.set_threshold(*self._thresholds)

    def _timer(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        gen, ms = info["generation"], (time.perf_counter() - self._started) * 1000
        self.collections[gen] += 1
        self.total_ms[gen] += ms
        self.max_pause_ms[gen] = max(self.max_pause_ms[gen], ms)

    async def run(self, last_alarm: Callable[[], float]) -> None:
        """Collect in full when due and quiet. ``last_alarm`` gives time.monotonic() of the latest alarm."""
        next_full = time.monotonic() + self.full_every_s
        while True:
            await asyncio.sleep(self.poll_s)
            now = time.monotonic()
            if now >= next_full and now - last_alarm() >= self.quiet_s:
                self.full()
                next_full = now + self.full_every_s

    def full(self) -> int:
        t = time.perf_counter()
        freed = gc.collect()
        self.last_full_ms = (time.perf_counter() - t) * 1000
        log.info("full garbage collection at a quiet moment: %d freed in %.1f ms", freed, self.last_full_ms)
        return freed

    def figures(self) -> dict[str, object]:
        return {
            "collections": list(self.collections),
            "max_pause_ms": [round(m, 3) for m in self.max_pause_ms],
            "total_ms": [round(m, 1) for m in self.total_ms],
            "last_full_ms": round(self.last_full_ms, 3),
        }
