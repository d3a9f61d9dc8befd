"""Server-sent events as a bare ASGI response: one ``send`` per event, a comment line as keep-alive.

The stream is what an operator's dashboard and the latency benchmark wait on. A general-purpose SSE response
ran every event through a dict-to-text step, task groups and a send timeout: at a thousand incident updates a
second that was a fifth of the event loop's time, in front of every alarm behind it. Here an event arrives as the
bytes to send, encoded once for every operator who sees it whole (bus.Message.sse), and is written in the call
that pushed it (``EventStream``).

Events are written with the server's own ``send`` when the app put it in the scope (``SERVER_SEND``, api.py).
Between the route and the server the framework wraps ``send`` three times or more (the error middleware, the
exception middleware, the route's exception handler), each an async function that notes whether the response
has started and passes the message on: every event went through all of them, ~13-15 us of an alarm's push at
a thousand uplinks a second (timed in the service). The response's start still goes through the wrappers, so
they know it started, and an error after it is handled as before; its body messages need nothing from them.
"""

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import Any

import msgspec
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

PING = b": ping\n\n"
SERVER_SEND = "nightwatch.server_send"  # the scope key of the server's own send
_json = msgspec.json.Encoder()


def event(topic: str, seq: int, data: Any) -> bytes:
    """One event; JSON from msgspec has no newline, so the data is one ``data:`` line."""
    return b"event: %s\nid: %d\ndata: %s\n\n" % (topic.encode(), seq, _json.encode(data))


Push = Callable[[bytes | None], bool]  # an event's bytes (None: end the stream); False once it cannot take more


class _Started:
    """A coroutine already stepped once, suspended on ``waiting``: awaiting this finishes it."""

    def __init__(self, coro: Coroutine[Any, Any, None], waiting: Any) -> None:
        self.coro, self.waiting = coro, waiting

    def __await__(self) -> Generator[Any, Any, None]:
        coro, waiting = self.coro, self.waiting
        while True:
            try:
                sent = yield waiting
            except BaseException as e:
                try:
                    waiting = coro.throw(e)
                except StopIteration:
                    return
            else:
                try:
                    waiting = coro.send(sent)
                except StopIteration:
                    return


class EventStream(Response):
    """A stream fed by pushes: ``attach(push)`` hands ``push`` to whatever produces the events (bus.attach) and
    returns the function that detaches it.

    A push writes at once, in the pusher's own call, when the connection can take it, as it nearly always can:
    the server's ``send`` then finishes without suspending, and an alarm reaches the dashboards before the
    pipeline that raised it returns. Only a connection whose buffers are full suspends ``send``; a task
    finishes that write and then the pushes queued behind it, in order. A client more than ``max_backlog``
    events behind is let go: it reconnects and resumes from the bus's history.
    """

    media_type = "text/event-stream"

    def __init__(
        self,
        attach: Callable[[Push], Callable[[], None]],
        ping_s: float = 15.0,
        max_backlog: int = 1000,
        status_code: int = 200,
    ) -> None:
        # Response.__init__ would give the empty body a Content-Length: the headers alone, as a streaming
        # response sets them. Proxies must neither cache nor buffer a live stream.
        self.status_code = status_code
        self.background = None
        self.init_headers({"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
        self.attach = attach
        self.ping_s = ping_s
        self.max_backlog = max_backlog
        self._send: Send | None = None
        self._ended: asyncio.Future[None] | None = None
        self._backlog: deque[bytes] = deque()
        self._flushing: asyncio.Task[None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        self._send = scope.get(SERVER_SEND, send)
        self._ended = asyncio.get_running_loop().create_future()
        detach = self.attach(self.push)
        # Two tasks for the stream's whole life, none per event: the keep-alive, and the client going away.
        ping = asyncio.create_task(self._ping())
        gone = asyncio.create_task(self._gone(receive))
        try:
            await asyncio.wait([ping, gone, self._ended], return_when=asyncio.FIRST_COMPLETED)
        finally:
            detach()
            for task in (ping, gone, self._flushing):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, OSError):
                        await task
        if gone.cancelled():
            # The stream ended on our side (a dropped subscriber, an expired token, a stopping server): end the
            # response.
            with contextlib.suppress(OSError, RuntimeError):
                await send({"type": "http.response.body", "body": b"", "more_body": False})

    def push(self, chunk: bytes | None) -> bool:
        ended = self._ended
        if ended is None or ended.done():
            return False
        if chunk is None:
            self._end()
            return True
        if self._flushing is not None:
            if len(self._backlog) >= self.max_backlog:
                self._end()
                return False
            self._backlog.append(chunk)
            return True
        self._write(chunk)
        return not ended.done()

    def _write(self, chunk: bytes) -> None:
        assert self._send is not None
        coro = self._send({"type": "http.response.body", "body": chunk, "more_body": True})
        if not isinstance(coro, Coroutine):  # a server whose send is some other awaitable: no fast path
            self._flushing = asyncio.ensure_future(self._flush(coro))
            return
        try:
            waiting = coro.send(None)
        except StopIteration:
            return
        except Exception:
            self._end()  # the client is gone: the stream ends
            return
        self._flushing = asyncio.ensure_future(self._flush(_Started(coro, waiting)))

    async def _flush(self, first: Awaitable[None]) -> None:
        assert self._send is not None
        try:
            await first
            while self._backlog:
                await self._send({"type": "http.response.body", "body": self._backlog.popleft(), "more_body": True})
        except Exception:
            self._end()
        finally:
            self._flushing = None

    def _end(self) -> None:
        if self._ended is not None and not self._ended.done():
            self._ended.set_result(None)

    async def _ping(self) -> None:
        while True:
            await asyncio.sleep(self.ping_s)
            if not self.push(PING):
                return

    @staticmethod
    async def _gone(receive: Receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
