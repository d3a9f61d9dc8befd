"""In-process fan-out of live updates to dashboard streams.

Bounded per subscriber: a stalled client is dropped (its stream ends), never holding back the others or the
pipeline. Nothing is lost by that: every message has a sequence number, the last ``history`` of them are kept,
and a client that reconnects with the last number it saw (SSE ``Last-Event-ID``) gets everything after it first.
If it was away so long that the history no longer reaches back, it is told to reload (``resync``).
"""

import asyncio
import itertools
from collections import deque
from collections.abc import AsyncGenerator
from typing import Any

from basestation.dispatch import sse


class Message:
    """One update: what every subscriber gets, never copied and encoded only when a stream needs it."""

    __slots__ = ("_sse", "data", "seq", "topic")

    def __init__(self, seq: int, topic: str, data: dict[str, Any]) -> None:
        self.seq, self.topic, self.data = seq, topic, data
        self._sse: bytes | None = None

    def sse(self) -> bytes:
        """The whole message as one server-sent event, encoded once for every stream that shows it whole."""
        if self._sse is None:
            self._sse = sse.event(self.topic, self.seq, self.data)
        return self._sse


class Bus:
    def __init__(self, queue_size: int = 1000, history: int = 10_000) -> None:
        self.queue_size = queue_size
        self._subs: dict[int, asyncio.Queue[Message | None]] = {}
        self._ids = itertools.count()
        self._seq = itertools.count(1)
        self._history: deque[Message] = deque(maxlen=history)
        self.dropped_subscribers = 0
        self.closed = False

    @property
    def subscribers(self) -> int:
        return len(self._subs)

    def publish(self, topic: str, data: dict[str, Any]) -> None:
        item = Message(next(self._seq), topic, data)
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

    def close(self) -> None:
        """End every stream, and any opened later at once: the server is stopping (server.py)."""
        self.closed = True
        for q in self._subs.values():
            while not q.empty():
                q.get_nowait()
            q.put_nowait(None)
        self._subs.clear()

    async def stream(self, since: int | None = None) -> AsyncGenerator[Message, None]:
        """Live messages; with ``since``, first every kept message numbered after it."""
        if self.closed:
            return
        sid = next(self._ids)
        q: asyncio.Queue[Message | None] = asyncio.Queue(self.queue_size)
        self._subs[sid] = q  # subscribe before reading the history, so nothing falls between the two
        last = 0
        try:
            if since is not None:
                kept = list(self._history)
                if kept and kept[0].seq > since + 1:
                    yield Message(since, "resync", {})
                for msg in kept:
                    if msg.seq > since:
                        last = msg.seq
                        yield msg
            while True:
                item = await q.get()
                if item is None:
                    return
                if item.seq > last:
                    last = item.seq
                    yield item
        finally:
            self._subs.pop(sid, None)
