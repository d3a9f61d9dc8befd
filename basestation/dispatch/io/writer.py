"""Group commit: every durable record of every message waits for one transaction, then its MQTT ack goes out.

While one commit runs, the records of the messages arriving meanwhile queue up and go together in the next one:
at low load a message waits for one commit, at high load a commit carries hundreds of messages. A failed commit
is retried with backoff, never dropped: until it succeeds no message behind it is acknowledged, so the broker
keeps them, and the records are idempotent, so a retry writes nothing twice. That holds for failures that pass
(failures.py). A batch the database refuses for good (a constraint, a value it cannot store) is committed again
message by message; the messages it still refuses are handed back with the error, and the link sets them aside
(dead letters), so that one bad record does not hold up every message behind it.

An idle writer waits ``delay_s`` (the ``commit_delay_ms`` setting, 1 ms) after the first records arrive before it
commits, as PostgreSQL's ``commit_delay`` does. Two things come of it. The other gateways' copies of an alarm,
read a fraction of a millisecond after the first, go into its commit instead of the next one (15-23 % fewer commits
at a thousand uplinks a second). And the commit runs after the alarm's push has been read, not while it is:
started at once (then in the commit thread), it took a core just as the responder's stream was being delivered.
Alternating A/B runs of the service at a thousand uplinks a second (bench/ab.py, 12-24 turns of 250 alarms each
way), 1 ms against none:
the stream's p50 0.05-0.18 ms lower in each of seven runs, p99 between 0.39 ms lower and 0.62 ms higher (an A/A run
moves p99 by 0.15 ms). At 0.5, 2 and 5 ms (a run each) p99 came out 0.44-0.56 ms higher, and at 0.5 ms the
p50 did not move: the alarms of that run came every 3 ms, and a commit started 1 ms after one was done before the
next.
Nothing waits on it but acknowledgements: the MQTT acks and the key ring's downlink ACK leave 1 ms later. Under
load the writer is never idle, commits follow one another, and none waits.
"""

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence

from basestation.dispatch.core.effects import Durable
from basestation.dispatch.io.failures import permanent
from basestation.dispatch.io.store import Store

log = logging.getLogger("nightwatch.dispatch.writer")

# Called with None once the records are committed: the MQTT adapter's own acknowledgement callback fits as is, so
# a message needs no closure of its own (closures kept alive until the commit were most of what the young
# generation collections walked in a flood).
# With an error instead when the database refused the records for good.
Committed = Callable[[BaseException | None], None]


class Writer:
    def __init__(self, store: Store, max_batch: int = 2000, delay_s: float = 0.0) -> None:
        self.store = store
        self.delay_s = delay_s
        self.max_batch = max_batch
        # Two queues: records of alarms go into the next commit before any supervision traffic waiting with them.
        self._urgent: deque[tuple[Sequence[Durable], Committed]] = deque()
        self._normal: deque[tuple[Sequence[Durable], Committed]] = deque()
        self._ready = asyncio.Event()
        self._busy = False
        self._task: asyncio.Task[None] | None = None
        self.commits = 0
        self.records = 0
        self.last_commit_ms = 0.0
        self.commit_s = 0.0  # wall time spent committing, all commits
        self.max_commit_ms = 0.0
        self.failures = 0
        self.set_aside = 0  # messages whose records the database refused for good, handed back with the error

    @property
    def depth(self) -> int:
        return len(self._urgent) + len(self._normal)

    def figures(self) -> dict[str, float | int]:
        """For /health: the commits so far, and where they ran (store.py)."""
        return {
            "commits": self.commits,
            "records": self.records,
            "depth": self.depth,
            "failures": self.failures,
            "last_commit_ms": round(self.last_commit_ms, 3),
            "commit_s": round(self.commit_s, 3),
            "max_commit_ms": round(self.max_commit_ms, 3),
            "commits_inline": self.store.commits_inline,
            "commits_in_thread": self.store.commits_in_thread,
            "checkpoints": self.store.checkpoints,
            "set_aside": self.set_aside,
        }

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="dispatch-writer")

    async def stop(self, drain_s: float = 10.0) -> None:
        """Commit what is queued (a clean stop acknowledges all it took), then stop; a kill needs no help."""
        deadline = time.monotonic() + drain_s
        while (self._urgent or self._normal or self._busy) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def enqueue(self, records: Sequence[Durable], committed: Committed, urgent: bool = False) -> None:
        """Call ``committed`` once ``records`` are committed (or with the error that refused them for good), with
        no task or future per message (at tens of thousands of uplinks a second they were a fifth of the service's
        CPU). The service's one way to the database (``Dispatcher.carry_out``)."""
        (self._urgent if urgent else self._normal).append((records, committed))
        self._ready.set()

    async def _run(self) -> None:
        while True:
            await self._ready.wait()
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            self._ready.clear()
            # Only the first commit after the writer was idle may run on the event loop (store_sqlite.py): under load,
            # while one commits the next batch gathers, and a commit on the loop would keep the batches small.
            inline = True
            while self._urgent or self._normal:
                items = []
                count = 0
                for queue in (self._urgent, self._normal):
                    while queue and count < self.max_batch:
                        item = queue.popleft()
                        items.append(item)
                        count += len(item[0])
                self._busy = True
                try:
                    refused = await self._commit_items(items, inline)
                    inline = False
                finally:
                    self._busy = False
                for i, (_, committed) in enumerate(items):
                    try:
                        committed(refused.get(i))
                    except Exception:
                        log.exception("after-commit callback failed")

    async def _commit_items(
        self, items: list[tuple[Sequence[Durable], Committed]], inline: bool
    ) -> dict[int, BaseException]:
        """Commit the records of ``items`` together; those the database refuses for good, by the index of their
        item. Only a refused batch is split: then each item alone, so the others are committed all the same."""
        try:
            await self._commit([r for records, _ in items for r in records], inline)
            return {}
        except Exception as e:
            if len(items) == 1:
                self._refused(e)
                return {0: e}
        refused: dict[int, BaseException] = {}
        for i, (records, _) in enumerate(items):
            try:
                await self._commit(list(records), False)
            except Exception as e:
                self._refused(e)
                refused[i] = e
        return refused

    def _refused(self, error: Exception) -> None:
        self.set_aside += 1
        log.error("the database refused a message's records for good (%r); it is set aside", error)

    async def _commit(self, batch: list[Durable], inline: bool) -> None:
        delay = 0.05
        while True:
            t = time.perf_counter()
            try:
                await self.store.apply(batch, inline)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                self.failures += 1
                if permanent(e):
                    raise
                log.exception("commit of %d records failed; retrying in %.2f s", len(batch), delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            self.commits += 1
            self.records += len(batch)
            self.last_commit_ms = (time.perf_counter() - t) * 1000
            self.commit_s += self.last_commit_ms / 1000
            self.max_commit_ms = max(self.max_commit_ms, self.last_commit_ms)
            return
