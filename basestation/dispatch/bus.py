"""In-process fan-out of live updates to dashboard streams.

Bounded per subscriber: a stalled client is dropped (its stream ends), never holding back the others or the
pipeline. Nothing is lost by that: every message has a sequence number, the last ``history`` of them are kept,
and a client that reconnects with the last number it saw (SSE ``Last-Event-ID``) gets everything after it first.
If it was away so long that the history no longer reaches back, it is told to reload (``resync``).
"""

import asyncio
import itertools
import json
from collections import deque
from collections.abc import AsyncGenerator
from typing import Any

Item = tuple[int, str]


class Bus:
    def __init__(self, queue_size: int = 1000, history: int = 10_000) -> None:
        self.queue_size = queue_size
        self._subs: dict[int, asyncio.Queue[Item | None]] = {}
        self._ids = itertools.count()
        self._seq = itertools.count(1)
        self._history: deque[Item] = deque(maxlen=history)
        self.dropped_subscribers = 0

    @property
    def subscribers(self) -> int:
        return len(self._subs)

    def publish(self, topic: str, data: dict[str, Any]) -> None:
        seq = next(self._seq)
        item = (seq, json.dumps({"seq": seq, "topic": topic, "data": data}, separators=(",", ":")))
        self._history.append(item)
        for sid, q in list(self._subs.items()):
            try:
                q.put_nowait(item)
            except asyncio.QueueFull:
                # Too far behind to catch up live: end its stream; it reconnects and resumes from history.
                self._subs.pop(sid, None)
                self.dropped_subscribers += 1
                while not q.empty():
                    q.get_nowait()
                q.put_nowait(None)

    async def stream(self, since: int | None = None) -> AsyncGenerator[str, None]:
        """Live messages; with ``since``, first every kept message numbered after it."""
        sid = next(self._ids)
        q: asyncio.Queue[Item | None] = asyncio.Queue(self.queue_size)
        self._subs[sid] = q  # subscribe before reading the history, so nothing falls between the two
        last = 0
        try:
            if since is not None:
                kept = list(self._history)
                if kept and kept[0][0] > since + 1:
                    yield json.dumps({"seq": since, "topic": "resync", "data": {}})
                for seq, msg in kept:
                    if seq > since:
                        last = seq
                        yield msg
            while True:
                item = await q.get()
                if item is None:
                    return
                if item[0] > last:
                    last = item[0]
                    yield item[1]
        finally:
            self._subs.pop(sid, None)
