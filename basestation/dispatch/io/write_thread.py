"""The thread that runs SQLite's large commits and its checkpoints, handed each job with as little as the event
loop can do (small commits run on the event loop itself: store_sqlite.py, ``SqliteWriter.apply``).

``loop.run_in_executor`` on a one-thread pool made, for every commit, a concurrent future, a pool work item, a
lock round and a second future chained to the first, all on the event loop's thread: at a thousand alarms a
second that was a twelfth of the loop's time (perf, bench/dispatch_bench.py). Here a commit is one queue entry
in, one ``call_soon_threadsafe`` out.

On Linux the thread runs at a lower priority (``nice``, the ``writer_nice`` setting, 5 by default). A commit
lands a little later and nothing waits on that but acknowledgements; what must not wait is the event loop with
the next alarm, the broker and the clients reading the stream, and on two cores the commit thread, busy right
after each alarm, took the core one of them needed. At a thousand uplinks a second with 40k key rings,
alternating runs (bench/dispatch_bench.py's latency run, niceness 10 against 0): the stream's p50 0.56-0.59 ms
against 0.68-0.70 ms, p99 1.18-1.21 ms against 1.37-1.85 ms. At 10, though, a heartbeat flood starved the
thread: reading paused for a third of a flood while commits lagged. At 5 the flood ran as fast as at 0 (1.10x
Node-RED, no pause) with the stream's p99 at 1.33 ms.
"""

import asyncio
import logging
import os
import queue
import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

log = logging.getLogger("nightwatch.dispatch.writer")

_Job = tuple[Callable[[Any], Any], Any, asyncio.Future[Any], asyncio.AbstractEventLoop]


def _settle(fut: asyncio.Future[Any], error: BaseException | None, result: Any) -> None:
    if fut.done():  # the awaiting task was cancelled meanwhile
        return
    if error is not None:
        fut.set_exception(error)
    else:
        fut.set_result(result)


class WriteThread:
    def __init__(self, name: str, nice: int = 0) -> None:
        self.name = name
        self.nice = nice
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def run(self, fn: Callable[[T], Any], arg: T) -> "asyncio.Future[Any]":
        """``fn(arg)`` on the thread; the future completes on the calling event loop."""
        loop = asyncio.get_running_loop()
        if self._thread is None:
            # Started on first use: most Store objects (the API's, the tests') never commit through it.
            self._thread = threading.Thread(target=self._main, name=self.name)
            self._thread.start()
        fut: asyncio.Future[Any] = loop.create_future()
        self._jobs.put((fn, arg, fut, loop))
        return fut

    def close(self) -> None:
        """The thread ends after the job in hand; nothing waits for it (a commit in flight finishes or not, as
        SQLite's transactions do on a kill)."""
        if self._thread is not None:
            self._jobs.put(None)
            self._thread = None

    def _main(self) -> None:
        if self.nice and sys.platform == "linux":
            try:
                # Linux gives each thread its own niceness, addressed by its thread id.
                os.setpriority(
                    os.PRIO_PROCESS, threading.get_native_id(), os.getpriority(os.PRIO_PROCESS, 0) + self.nice
                )
            except OSError as e:
                log.warning("could not lower the commit thread's priority: %s", e)
        while True:
            job = self._jobs.get()
            if job is None:
                return
            fn, arg, fut, loop = job
            error: BaseException | None = None
            result = None
            try:
                result = fn(arg)
            except BaseException as e:  # handed to the awaiting task, which logs and retries (writer.py)
                error = e
            try:
                loop.call_soon_threadsafe(_settle, fut, error, result)
            except RuntimeError:
                return  # the event loop is closed: nobody is waiting any more
