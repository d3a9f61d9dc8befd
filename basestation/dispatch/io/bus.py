"""In-process fan-out of live updates to dashboard streams.

A subscriber is a sink: a function the bus calls with each message as it is published, in the publisher's own
call (an alarm's push leaves for the dashboards before the pipeline returns, not a turn of the event loop
later). A sink returns False when it cannot take more, and is let go. Bounded per subscriber, then: a stalled
client is dropped (its stream ends), never holding back the others or the pipeline. Nothing is lost by that:
every message has a sequence number, the last ``history`` of them are kept, and a client that reconnects with the
last number it saw (SSE ``Last-Event-ID``) gets everything after it first. If it was away so long that the
history no longer reaches back, it is told to reload (``resync``). A sink is called with None when the bus
closes.

A subscriber attached for one reader (a responder's stream) gets only the messages addressed to that reader: the
publisher names them (``readers``, for an incident everyone it was offered to or accepted by). A push then calls
the sinks of the people it concerns and the dashboards', not every responder's sink to be turned away: with 50
responders' streams open, a push spent 24 us in filters that said no (run back to back, so with the code in the
caches; an alarm finds it cold), routed 3 us, and the filters ran in front of the write whenever the responder
offered the alarm had subscribed after the others. Those readers get the message first: the responder an alarm
is offered to is the one who must act.
"""

import asyncio
import itertools
import logging
from collections import deque
from collections.abc import AsyncGenerator, Callable, Sequence
from typing import Any

from basestation.dispatch.io import sse

log = logging.getLogger("nightwatch.dispatch.bus")


class Message:
    """One update: what every subscriber gets, never copied and encoded only when a stream needs it."""

    __slots__ = ("_sse", "data", "readers", "seq", "topic")

    def __init__(self, seq: int, topic: str, data: dict[str, Any], readers: tuple[str, ...] = ()) -> None:
        self.seq, self.topic, self.data = seq, topic, data
        self.readers = readers  # besides every subscriber that sees everything, the readers it is addressed to
        self._sse: bytes | None = None

    def sse(self) -> bytes:
        """The whole message as one server-sent event, encoded once for every stream that shows it whole."""
        if self._sse is None:
            self._sse = sse.event(self.topic, self.seq, self.data)
        return self._sse


Sink = Callable[["Message | None"], bool]


def _nothing() -> None:
    pass


class Bus:
    def __init__(self, queue_size: int = 1000, history: int = 10_000) -> None:
        self.queue_size = queue_size
        self.history_size = history
        self._subs: dict[int, Sink] = {}  # subscribers that see every message
        self._readers: dict[str, dict[int, Sink]] = {}  # reader -> its subscribers (a phone, a second tab)
        self._ids = itertools.count()
        self._seq = itertools.count(1)
        self._history: deque[Message] = deque(maxlen=history)
        self.dropped_subscribers = 0
        self.closed = False
        self._shown: set[tuple[str, str]] = set()  # what ``publish_state`` published in this turn of the loop
        self._held: dict[tuple[str, str], tuple[dict[str, Any], Sequence[str]]] = {}
        self._turn_ending = False

    @property
    def subscribers(self) -> int:
        return len(self._subs) + sum(len(subs) for subs in self._readers.values())

    def publish(self, topic: str, data: dict[str, Any], readers: Sequence[str] = ()) -> None:
        """``data`` to every subscriber that sees everything and to those of each of ``readers``."""
        item = Message(next(self._seq), topic, data, tuple(readers))
        self._history.append(item)
        for reader in item.readers:
            subs = self._readers.get(reader)
            if subs:
                self._deliver(subs, item)
        if self._subs:
            self._deliver(self._subs, item)

    def _deliver(self, subs: dict[int, Sink], item: Message) -> None:
        for sid, sink in list(subs.items()):
            try:
                keeps_up = sink(item)
            except Exception:
                # A dashboard's connection must never take the pipeline down with it.
                log.exception("a stream subscriber failed; dropped")
                keeps_up = False
            if not keeps_up and subs.pop(sid, None) is not None:
                self.dropped_subscribers += 1

    def publish_state(self, topic: str, key: str, data: dict[str, Any], readers: Sequence[str] = ()) -> None:
        """Publish the whole new state of one thing (an incident, by its id). The first change of it in a turn of
        the event loop goes out at once; later ones in the same turn are held, and the last of them goes out at
        the end of the turn. Three gateways' copies of one alarm, read together, each refine its location: a
        dashboard or a responder's phone gets the alarm at once and the refined location once, not three
        updates within a millisecond, each costing the service and every client an event."""
        k = (topic, key)
        if not self._turn_ending:
            self._turn_ending = True
            asyncio.get_running_loop().call_soon(self._end_turn)
        if k in self._shown:
            self._held[k] = (data, readers)
            return
        self._shown.add(k)
        self.publish(topic, data, readers)

    def _end_turn(self) -> None:
        self._turn_ending = False
        held, self._held = self._held, {}
        self._shown.clear()
        for (topic, _), (data, readers) in held.items():
            self.publish(topic, data, readers)

    def close(self) -> None:
        """End every stream, and any opened later at once: the server is stopping (server.py)."""
        self.closed = True
        sinks = [*self._subs.values(), *(sink for subs in self._readers.values() for sink in subs.values())]
        self._subs.clear()
        self._readers.clear()
        for sink in sinks:
            sink(None)

    def attach(self, sink: Sink, since: int | None = None, reader: str | None = None) -> Callable[[], None]:
        """Call ``sink`` with every message from now on, or with ``reader`` only with those addressed to that
        reader; with ``since``, first with every such kept message numbered after it, then or never with a live
        one. Returns the function that detaches it."""
        if self.closed:
            sink(None)
            return _nothing
        if since is not None:
            kept = list(self._history)
            replay = [m for m in kept if m.seq > since and (reader is None or reader in m.readers)]
            if kept and kept[0].seq > since + 1:
                replay.insert(0, Message(since, "resync", {}))
            for msg in replay:
                if not sink(msg):
                    self.dropped_subscribers += 1
                    return _nothing
        sid = next(self._ids)
        subs = self._subs if reader is None else self._readers.setdefault(reader, {})
        subs[sid] = sink

        def detach() -> None:
            subs.pop(sid, None)
            if reader is not None and not subs and self._readers.get(reader) is subs:
                del self._readers[reader]

        return detach

    async def stream(self, since: int | None = None) -> AsyncGenerator[Message, None]:
        """Live messages as an async iterator, ``queue_size`` of them held for a reader that lags."""
        q: asyncio.Queue[Message | None] = asyncio.Queue(self.queue_size)
        kept: deque[Message] = deque()
        replaying = True

        def sink(msg: Message | None) -> bool:
            if msg is None:
                while not q.empty():
                    q.get_nowait()
                q.put_nowait(None)
                return True
            if replaying:
                kept.append(msg)  # the history, handed over before any live message: no bound on it
                return True
            try:
                q.put_nowait(msg)
                return True
            except asyncio.QueueFull:
                # Too far behind to catch up live: end its stream; it reconnects and resumes from history.
                sink(None)
                return False

        detach = self.attach(sink, since)
        replaying = False
        try:
            while kept:
                yield kept.popleft()
            while True:
                item = await q.get()
                if item is None:
                    return
                yield item
        finally:
            detach()
