"""Server-sent events as a bare ASGI response: one ``send`` per event, a comment line as keep-alive.

The stream is what an operator's dashboard and the latency benchmark wait on. A general-purpose SSE response
ran every event through a dict-to-text step, task groups and a send timeout: at a thousand incident updates a
second that was a fifth of the event loop's time, in front of every alarm behind it. Here an event arrives as the
bytes to send, encoded once for every operator who sees it whole (bus.Message.sse).
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import msgspec
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

PING = b": ping\n\n"
_json = msgspec.json.Encoder()


def event(topic: str, seq: int, data: Any) -> bytes:
    """One event; JSON from msgspec has no newline, so the data is one ``data:`` line."""
    return b"event: %s\nid: %d\ndata: %s\n\n" % (topic.encode(), seq, _json.encode(data))


class EventStream(Response):
    media_type = "text/event-stream"

    def __init__(self, events: AsyncIterator[bytes], ping_s: float = 15.0, status_code: int = 200) -> None:
        # Response.__init__ would give the empty body a Content-Length: the headers alone, as a streaming
        # response sets them. Proxies must neither cache nor buffer a live stream.
        self.status_code = status_code
        self.background = None
        self.init_headers({"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
        self.events = events
        self.ping_s = ping_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        # Three tasks for the stream's whole life, none per event: the events, the keep-alive, and the client
        # going away, which ends the other two.
        tasks = [
            asyncio.create_task(self._pump(send)),
            asyncio.create_task(self._ping(send)),
            asyncio.create_task(self._gone(receive)),
        ]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, OSError):
                    await task
            aclose = getattr(self.events, "aclose", None)
            if aclose is not None:
                await aclose()
        if tasks[2].cancelled():
            # The stream ended on our side (a dropped subscriber, an expired token): end the response.
            with contextlib.suppress(OSError, RuntimeError):
                await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _pump(self, send: Send) -> None:
        async for chunk in self.events:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})

    async def _ping(self, send: Send) -> None:
        while True:
            await asyncio.sleep(self.ping_s)
            await send({"type": "http.response.body", "body": PING, "more_body": True})

    @staticmethod
    async def _gone(receive: Receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
