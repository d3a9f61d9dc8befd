"""When the cyclic garbage collector may stop the event loop, and for how long.

A full collection walks every object the process holds: with the state of a busy city (recent frames, devices,
incidents, the stream's history) that took 69 ms, and it came whenever Python's thresholds said so, alarm in
flight or not (bench/dispatch_bench.py, after the heartbeat flood). So:

- what has lived a while is moved out of the collector's reach (``gc.freeze``) every ``freeze_every_s``: the
  collections Python starts by itself then only walk what is younger than that;
- once every ``full_every_s``, at a quiet moment (no alarm in the last ``quiet_s``), everything is unfrozen,
  collected in full and frozen again, so garbage in reference cycles that was frozen (a closed connection's
  protocol and transport, say) is still freed, only never in the middle of an alarm.

Reference counting frees everything else as usual; freezing only decides what the cycle collector walks.
"""

import asyncio
import gc
import logging
import time
from collections.abc import Callable

log = logging.getLogger("nightwatch.dispatch.gc")


class Collector:
    def __init__(self, freeze_every_s: float = 1.0, full_every_s: float = 3600.0, quiet_s: float = 2.0) -> None:
        self.freeze_every_s = freeze_every_s
        self.full_every_s = full_every_s
        self.quiet_s = quiet_s
        self.collections = [0, 0, 0]
        self.max_pause_ms = [0.0, 0.0, 0.0]
        self.full_runs = 0
        self.last_full_ms = 0.0
        self._started = 0.0

    def install(self) -> None:
        import os

        if os.environ.get("GCX"):
            gc.set_threshold(*map(int, os.environ["GCX"].split(",")))
        gc.collect()
        gc.freeze()
        gc.callbacks.append(self._timer)

    def uninstall(self) -> None:
        if self._timer in gc.callbacks:
            gc.callbacks.remove(self._timer)

    def _timer(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        gen = info["generation"]
        self.collections[gen] += 1
        self.max_pause_ms[gen] = max(self.max_pause_ms[gen], (time.perf_counter() - self._started) * 1000)

    async def run(self, last_alarm: Callable[[], float]) -> None:
        """Freeze periodically; collect in full when due and quiet. ``last_alarm`` gives time.monotonic() of the
        latest alarm handled."""
        next_full = time.monotonic() + self.full_every_s
        while True:
            await asyncio.sleep(self.freeze_every_s)
            now = time.monotonic()
            if now >= next_full and now - last_alarm() >= self.quiet_s:
                self.full()
                next_full = now + self.full_every_s
            else:
                gc.freeze()

    def full(self) -> None:
        t = time.perf_counter()
        gc.unfreeze()
        freed = gc.collect()
        gc.freeze()
        self.full_runs += 1
        self.last_full_ms = (time.perf_counter() - t) * 1000
        log.info("full garbage collection at a quiet moment: %d freed in %.1f ms", freed, self.last_full_ms)

    def figures(self) -> dict[str, object]:
        return {
            "collections": list(self.collections),
            "max_pause_ms": [round(m, 3) for m in self.max_pause_ms],
            "full_runs": self.full_runs,
            "last_full_ms": round(self.last_full_ms, 3),
        }
