"""Group commit: every durable record of every message waits for one transaction, then its MQTT ack goes out.

While one commit runs, the records of the messages arriving meanwhile queue up and go together in the next one:
at low load a message waits for one commit, at high load a commit carries hundreds of messages. A failed commit
is retried with backoff, never dropped: until it succeeds no message behind it is acknowledged, so the broker
keeps them, and the records are idempotent, so a retry writes nothing twice.

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

from basestation.dispatch.effects import Durable
from basestation.dispatch.store import Store

log = logging.getLogger("nightwatch.dispatch.writer")

# Called with None once the records are committed: the MQTT adapter's own acknowledgement callback fits as is, so
# a message needs no closure of its own (closures kept alive until the commit were most of what the young
# generation collections walked in a flood).
Committed = Callable[[None], None]


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

    @property
    def depth(self) -> int:
        return len(self._urgent) + len(self._normal)

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

    async def write(self, records: Sequence[Durable], urgent: bool = False) -> None:
        """Return once ``records`` are committed."""
        if not records:
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def committed(_: None) -> None:
            if not fut.done():
                fut.set_result(None)

        self.enqueue(records, committed, urgent)
        await fut

    def enqueue(self, records: Sequence[Durable], committed: Committed, urgent: bool = False) -> None:
        """Call ``committed`` once ``records`` are committed: the MQTT adapter's path, with no task or future
        per message (at tens of thousands of uplinks a second they were a fifth of the service's CPU)."""
        (self._urgent if urgent else self._normal).append((records, committed))
        self._ready.set()

    async def _run(self) -> None:
        while True:
            await self._ready.wait()
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            self._ready.clear()
            # Only the first commit after the writer was idle may run on the event loop (store.py): under load,
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
                    await self._commit([r for records, _ in items for r in records], inline)
                    inline = False
                finally:
                    self._busy = False
                for _, committed in items:
                    try:
                        committed(None)
                    except Exception:
                        log.exception("after-commit callback failed")

    async def _commit(self, batch: list[Durable], inline: bool) -> None:
        delay = 0.05
        while True:
            t = time.perf_counter()
            try:
                await self.store.apply(batch, inline)
            except asyncio.CancelledError:
                raise
            except Exception:
                self.failures += 1
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
