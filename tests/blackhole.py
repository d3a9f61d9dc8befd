"""A TCP proxy that can turn into a black hole, as a failing middlebox (NAT, firewall, load balancer) does.

It sits between a client and a broker on real sockets, in its own thread and event loop, so the client may be
an asyncio service or paho's network thread alike. ``swallow()`` makes every connection open at that moment
go silent in both directions: the proxy goes on reading from both ends, so neither kernel sees a full window,
a reset or a close, and forwards nothing, not even a close. Connections made afterwards are forwarded as
usual. Both ends' TCP stays content for ever (FACTS, MQTT): only a keepalive in the protocol can notice.

Usage:
    with Blackhole(broker.host, broker.port) as hole:
        client connects to hole.host, hole.port
        hole.swallow()      # the live connections go silent; a reconnect gets through
        hole.accepted       # connections made through the proxy so far
        hole.arrivals       # when each client connection came, also those the broker was not there for
"""

import asyncio
import contextlib
import threading
import time

from harness.started import Started


class _Pair:
    """One client connection and its connection to the broker."""

    def __init__(self, client: asyncio.StreamWriter, broker: asyncio.StreamWriter) -> None:
        self.client = client
        self.broker = broker
        self.swallowing = False
        self.swallowed_up = bytearray()  # what the client sent while swallowed, for a test to read
        self.swallowed_down = bytearray()  # what the broker sent meanwhile

    def close(self) -> None:
        for w in (self.client, self.broker):
            w.transport.abort()


class Blackhole(Started):
    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.host = "127.0.0.1"
        self.port = 0
        self.accepted = 0
        self.arrivals: list[float] = []  # time.monotonic() of every connection a client made, forwarded or not
        self.pairs: list[_Pair] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="blackhole", daemon=True)
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # -- from the test's thread ----------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(10)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def swallow(self) -> list[_Pair]:
        """Silence every live connection; returns them. Whatever either end sends from now on is read and kept
        here, never forwarded."""

        async def silence() -> list[_Pair]:
            live = [p for p in self.pairs if not p.swallowing]
            for p in live:
                p.swallowing = True
            return live

        return asyncio.run_coroutine_threadsafe(silence(), self._loop).result(10)

    # -- on the proxy's loop -------------------------------------------------------------------------------

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.host, 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        for p in self.pairs:
            p.close()
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _accept(self, c_reader: asyncio.StreamReader, c_writer: asyncio.StreamWriter) -> None:
        self.arrivals.append(time.monotonic())
        try:
            b_reader, b_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            c_writer.transport.abort()  # no broker: the client sees what it would see without the proxy
            return
        self.accepted += 1
        pair = _Pair(c_writer, b_writer)
        self.pairs.append(pair)
        for src, dst, kept in ((c_reader, b_writer, pair.swallowed_up), (b_reader, c_writer, pair.swallowed_down)):
            task = asyncio.get_running_loop().create_task(self._pump(pair, src, dst, kept))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pump(self, pair: _Pair, src: asyncio.StreamReader, dst: asyncio.StreamWriter, kept: bytearray) -> None:
        try:
            while data := await src.read(65536):
                if pair.swallowing:
                    kept += data
                    continue
                dst.write(data)
                await dst.drain()
        except OSError:
            # A reset. A black hole passes on no close either: the other end goes on waiting.
            if not pair.swallowing:
                dst.transport.abort()
            return
        if not pair.swallowing and dst.can_write_eof():
            with contextlib.suppress(OSError):
                dst.write_eof()
