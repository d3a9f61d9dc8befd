"""The commit thread: results and errors come back to the awaiting task, in order, on its own event loop."""

import asyncio
import os
import sys
import threading

import pytest

from basestation.dispatch.io.write_thread import WriteThread


def test_jobs_run_in_order_on_one_thread_and_errors_reach_the_caller() -> None:
    wt = WriteThread("test-writer")
    seen: list[tuple[int, str]] = []

    def job(n: int) -> int:
        seen.append((n, threading.current_thread().name))
        if n == 3:
            raise ValueError("disk full")
        return n * 10

    async def scenario() -> list[object]:
        futs = [wt.run(job, n) for n in range(6)]
        results: list[object] = await asyncio.gather(*futs, return_exceptions=True)
        return results

    try:
        results = asyncio.run(scenario())
    finally:
        wt.close()
    assert [r if not isinstance(r, ValueError) else "error" for r in results] == [0, 10, 20, "error", 40, 50]
    assert [n for n, _ in seen] == list(range(6))
    assert {name for _, name in seen} == {"test-writer"}


def test_a_cancelled_wait_leaves_the_thread_working() -> None:
    wt = WriteThread("test-writer")
    gate = threading.Event()

    async def scenario() -> int:
        slow = wt.run(lambda _: gate.wait(5), None)
        slow.cancel()
        gate.set()
        result: int = await wt.run(lambda n: n + 1, 41)
        return result

    try:
        assert asyncio.run(scenario()) == 42
    finally:
        wt.close()


def test_close_ends_the_thread() -> None:
    wt = WriteThread("test-writer-close")

    async def one() -> None:
        await wt.run(lambda _: None, None)

    asyncio.run(one())
    thread = next(t for t in threading.enumerate() if t.name == "test-writer-close")
    wt.close()
    thread.join(5)
    assert not thread.is_alive()


@pytest.mark.skipif(sys.platform != "linux", reason="per-thread niceness is Linux's")
def test_the_commit_thread_runs_below_the_event_loops_priority() -> None:
    wt = WriteThread("test-writer-nice", nice=5)
    loop_nice = os.getpriority(os.PRIO_PROCESS, 0)

    async def scenario() -> int:
        nice: int = await wt.run(lambda _: os.getpriority(os.PRIO_PROCESS, threading.get_native_id()), None)
        return nice

    try:
        assert asyncio.run(scenario()) == min(19, loop_nice + 5)
    finally:
        wt.close()
    assert os.getpriority(os.PRIO_PROCESS, 0) == loop_nice  # the caller's own thread is left as it was
