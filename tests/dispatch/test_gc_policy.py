"""The collector's policy: Python never starts a full collection, a due one waits for quiet, and it frees cycles."""

import asyncio
import gc
import time

from basestation.dispatch.gc_policy import MIDDLE_THRESHOLD, NEVER, YOUNG_DUE, Collector


class _Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic collector frees it


def test_full_collections_wait_for_quiet_and_free_cycles() -> None:
    before = gc.get_threshold()
    c = Collector(full_every_s=0.05, quiet_s=0.3, poll_s=0.01)
    c.install()
    try:
        assert gc.get_threshold()[2] == NEVER
        alarm_at = time.monotonic()

        def nodes() -> int:
            return sum(isinstance(o, _Node) for o in gc.get_objects())

        # Cycles that lived long enough to reach the old generation, then became garbage: young collections
        # never look there, and Python no longer starts a full one.
        held = [_Node() for _ in range(1000)]
        gc.collect(1)
        del held
        for _ in range(20):
            gc.collect(1)
        assert nodes() == 1000

        async def scenario() -> tuple[int, int]:
            task = asyncio.create_task(c.run(lambda: alarm_at))
            await asyncio.sleep(0.15)  # due, but an alarm came 0.15 s ago: not yet
            early = nodes()
            await asyncio.sleep(0.4)  # quiet now
            task.cancel()
            return early, nodes()

        early, late = asyncio.run(scenario())
        assert (early, late) == (1000, 0)
        assert c.last_full_ms > 0
    finally:
        c.uninstall()
        gc.unfreeze()
    assert gc.get_threshold() == before


def test_the_middle_generation_holds_one_young_collections_survivors_at_most() -> None:
    """Alarms leave survivors behind (incidents, the stream's history): a middle collection walks one young
    collection's worth of them, never the piles of ten that took milliseconds."""
    before = gc.get_threshold()
    c = Collector()
    c.install()
    try:
        assert gc.get_threshold()[1:] == (MIDDLE_THRESHOLD, NEVER)
        survivors = [[i] for i in range(50 * before[0])]  # fifty young generations' worth, all kept
        assert c.collections[0] + c.collections[1] >= 40
        # Every other collection takes in the middle generation (the callback counts each once, by its oldest).
        assert abs(c.collections[1] - c.collections[0]) <= 1
        assert len(gc.get_objects(generation=1)) <= 2 * before[0]
        del survivors
    finally:
        c.uninstall()
        gc.unfreeze()
    assert gc.get_threshold() == before


def test_a_due_young_collection_runs_after_the_alarm_not_amid_the_next() -> None:
    before = gc.get_threshold()
    c = Collector()
    c.install()
    try:

        async def scenario() -> tuple[int, int, int]:
            kept = [[i] for i in range(YOUNG_DUE // 2)]
            c.after_alarm()  # not due yet: nothing scheduled
            await asyncio.sleep(0.01)
            not_due = c.collections[0] + c.collections[1]
            kept += [[i] for i in range(YOUNG_DUE // 2 + 10)]  # due now, and short of Python's own 700
            assert gc.get_count()[0] >= YOUNG_DUE
            unprompted = c.collections[0] + c.collections[1]
            for _ in range(5):  # the alarm's copies: one collection between them all
                c.after_alarm()
            await asyncio.sleep(0.01)
            del kept
            return not_due, unprompted, c.collections[0] + c.collections[1]

        not_due, unprompted, after = asyncio.run(scenario())
        assert (not_due, unprompted, after) == (0, 0, 1)
        assert gc.get_count()[0] < YOUNG_DUE
    finally:
        c.uninstall()
        gc.unfreeze()
    assert gc.get_threshold() == before
