"""In-process fan-out of live updates to dashboard streams. Bounded per subscriber: a stalled client is dropped
(its stream ends, it reconnects and reloads), it never holds back the others or the pipeline."""

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from typing import Any


class Bus:
    def __init__(self, queue_size: int = 1000) -> None:
        self.queue_size = queue_size
        self._subs: dict[int, asyncio.Queue[str | None]] = {}
        self._ids = itertools.count()
        self._seq = itertools.count(1)
        self.dropped_subscribers = 0

    @property
    def subscribers(self) -> int:
        return len(self._subs)

    def publish(self, topic: str, data: dict[str, Any]) -> None:
        msg = json.dumps({"seq": next(self._seq), "topic": topic, "data": data}, separators=(",", ":"))
        for sid, q in list(self._subs.items()):
            try:
                q.put_nowait(msg)
            except asyncio.QueueFull:
                # Too far behind to catch up: end its stream; the client reconnects and reloads the board.
                self._subs.pop(sid, None)
                self.dropped_subscribers += 1
                while not q.empty():
                    q.get_nowait()
                q.put_nowait(None)

    async def stream(self) -> AsyncIterator[str]:
        sid = next(self._ids)
        q: asyncio.Queue[str | None] = asyncio.Queue(self.queue_size)
        self._subs[sid] = q
        try:
            while True:
                msg = await q.get()
                if msg is None:
                    return
                yield msg
        finally:
            self._subs.pop(sid, None)
