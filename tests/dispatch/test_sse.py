"""The live stream over real HTTP: events as the dashboard's EventSource reads them, keep-alive, a client that
hangs up, and a server that stops while streams are open."""

import asyncio
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from basestation.dispatch.api.app import create_app
from basestation.dispatch.io import sse
from basestation.dispatch.service import Dispatcher
from basestation.dispatch.settings import DispatchSettings
from harness.dispatch import served

OPERATOR = "sse-operator-token-0000000"


def test_an_event_is_one_data_line_whatever_the_text_holds() -> None:
    frame = sse.event("incident", 7, {"note": "line one\nline two", "naam": "Zoë"})
    lines = frame.decode().split("\n")
    assert lines[:2] == ["event: incident", "id: 7"]
    assert lines[2].startswith("data: ") and json.loads(lines[2][6:]) == {"note": "line one\nline two", "naam": "Zoë"}
    assert lines[3:] == ["", ""]  # the blank line that ends an event


@pytest.fixture
def app_and_dispatcher(tmp_path: Path) -> Iterator[tuple[object, Dispatcher]]:
    d = Dispatcher(
        DispatchSettings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'd.db'}", tokens={OPERATOR: "operator"})
    )
    yield create_app(d), d


async def _until(cond: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():  # type: ignore[operator]
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)


def test_events_arrive_and_a_client_that_hangs_up_is_unsubscribed(
    app_and_dispatcher: tuple[object, Dispatcher],
) -> None:
    app, d = app_and_dispatcher
    with served(app) as (base, loop):

        async def go() -> None:
            hdr = {"Authorization": f"Bearer {OPERATOR}"}
            async with httpx.AsyncClient(base_url=base, timeout=5) as http:
                async with http.stream("GET", "/api/v1/stream", headers=hdr) as resp:
                    assert resp.headers["content-type"].startswith("text/event-stream")
                    assert "content-length" not in resp.headers
                    await _until(lambda: d.bus.subscribers == 1)
                    loop.call_soon_threadsafe(d.bus.publish, "notice", {"kind": "gateway_offline", "subject": "gw-a"})
                    lines = resp.aiter_lines()
                    got = [await anext(lines) for _ in range(3)]
                    assert got[0] == "event: notice" and got[1].startswith("id: ")
                    assert json.loads(got[2][6:]) == {"kind": "gateway_offline", "subject": "gw-a"}
                await _until(lambda: d.bus.subscribers == 0)  # hung up: the server let go of its queue

        asyncio.run(go())


def _stream_options(monkeypatch: pytest.MonkeyPatch, **options: float) -> None:
    """Every stream the API opens gets ``options`` (ping_s, max_backlog) instead of its own."""
    real = sse.EventStream.__init__

    def patched(self: sse.EventStream, attach: object, **kwargs: float) -> None:
        real(self, attach, **{**kwargs, **options})  # type: ignore[arg-type]

    monkeypatch.setattr(sse.EventStream, "__init__", patched)


def _subscribed(d: Dispatcher) -> None:
    deadline = time.monotonic() + 5
    while d.bus.subscribers < 1:
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_a_quiet_stream_is_kept_alive(
    app_and_dispatcher: tuple[object, Dispatcher], monkeypatch: pytest.MonkeyPatch
) -> None:
    app, _ = app_and_dispatcher
    _stream_options(monkeypatch, ping_s=0.05)
    with (
        served(app) as (base, _loop),
        httpx.stream(
            "GET", f"{base}/api/v1/stream", headers={"Authorization": f"Bearer {OPERATOR}"}, timeout=5
        ) as resp,
    ):
        assert next(resp.iter_lines()) == ": ping"


def test_stopping_the_server_ends_open_streams_at_once(app_and_dispatcher: tuple[object, Dispatcher]) -> None:
    app, d = app_and_dispatcher
    ended = threading.Event()

    def read(base: str) -> None:
        with httpx.stream("GET", f"{base}/api/v1/stream", headers={"Authorization": f"Bearer {OPERATOR}"}) as r:
            for _ in r.iter_lines():
                pass
        ended.set()

    t0 = 0.0
    with served(app) as (base, _loop):
        reader = threading.Thread(target=read, args=(base,), daemon=True)
        reader.start()
        _subscribed(d)
        t0 = time.monotonic()
    # uvicorn waits for every open response before it stops: the streams must have ended for it to stop.
    assert time.monotonic() - t0 < 5
    assert ended.wait(5)


def _raw_stream(base: str) -> socket.socket:
    """A client that sends its request and then reads only when told: its buffers fill as a stalled phone's do."""
    host, port = base.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    req = f"GET /api/v1/stream HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {OPERATOR}\r\n\r\n"
    sock.sendall(req.encode())
    return sock


def _publish_many(d: Dispatcher, loop: asyncio.AbstractEventLoop, n: int, size: int) -> None:
    done = threading.Event()

    def burst() -> None:
        for i in range(n):
            d.bus.publish("incident", {"n": i, "pad": "x" * size})
        done.set()

    loop.call_soon_threadsafe(burst)
    assert done.wait(10)


def test_a_client_that_lags_gets_every_event_in_order(
    app_and_dispatcher: tuple[object, Dispatcher], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Far more than the socket holds, pushed while the client is not reading: the writes that cannot go at once
    wait in order behind the one the server is finishing, and all of them arrive."""
    app, d = app_and_dispatcher
    flushes = []
    real_flush = sse.EventStream._flush

    async def counted(self: sse.EventStream, first: object) -> None:
        flushes.append(1)
        await real_flush(self, first)  # type: ignore[arg-type]

    monkeypatch.setattr(sse.EventStream, "_flush", counted)
    n = 400
    with served(app) as (base, loop):
        sock = _raw_stream(base)
        _subscribed(d)
        _publish_many(d, loop, n, 50_000)
        data = b""
        while data.count(b"\ndata: ") < n or not data.endswith(b"\n\n\r\n"):
            chunk = sock.recv(1 << 20)
            assert chunk, "the server ended the stream"
            data += chunk
        sock.close()
    ids = [int(m) for m in re.findall(rb"\nid: (\d+)\n", data)]
    assert ids == list(range(ids[0], ids[0] + n))
    assert [json.loads(m)["n"] for m in re.findall(rb"\ndata: (.*)\n", data)] == list(range(n))
    assert flushes, "the socket never filled: the test did not reach the queued path"


def test_a_client_too_far_behind_is_let_go(
    app_and_dispatcher: tuple[object, Dispatcher], monkeypatch: pytest.MonkeyPatch
) -> None:
    app, d = app_and_dispatcher
    _stream_options(monkeypatch, max_backlog=5)
    with served(app) as (base, loop):
        sock = _raw_stream(base)
        _subscribed(d)
        _publish_many(d, loop, 400, 50_000)
        assert d.bus.subscribers == 0 and d.bus.dropped_subscribers == 1
        # What it was sent ends with the end of the response: it reconnects and resumes from the history.
        data = b""
        while not data.endswith(b"\r\n0\r\n\r\n"):
            chunk = sock.recv(1 << 20)
            assert chunk, "the connection closed before the response ended"
            data += chunk
        sock.close()


def test_the_start_passes_the_frameworks_wrappers_and_events_go_straight_to_the_server() -> None:
    """The app puts the server's send in the scope; the wrappers Starlette puts around ``send`` still see the
    response start, so an error after it is handled as an error in a started response."""
    wrapped: list[dict[str, object]] = []
    server: list[dict[str, object]] = []
    pushes: list[sse.Push] = []

    async def via_wrappers(message: dict[str, object]) -> None:
        wrapped.append(message)

    async def server_send(message: dict[str, object]) -> None:
        server.append(message)

    async def receive() -> dict[str, object]:
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    def attach(push: sse.Push) -> object:
        pushes.append(push)
        return lambda: None

    async def go() -> None:
        stream = sse.EventStream(attach)  # type: ignore[arg-type]
        scope = {"type": "http", sse.SERVER_SEND: server_send}
        task = asyncio.create_task(stream(scope, receive, via_wrappers))  # type: ignore[arg-type]
        await _until(lambda: pushes)
        assert pushes[0](b"event: incident\nid: 1\ndata: {}\n\n")
        assert pushes[0](None)
        await asyncio.wait_for(task, 5)

    asyncio.run(go())
    assert [m["type"] for m in wrapped] == ["http.response.start", "http.response.body"]  # the start; the end
    event = b"event: incident\nid: 1\ndata: {}\n\n"
    assert server == [{"type": "http.response.body", "body": event, "more_body": True}]


def test_the_app_hands_the_server_send_to_the_stream(app_and_dispatcher: tuple[object, Dispatcher]) -> None:
    app, _ = app_and_dispatcher
    seen: list[object] = []

    async def go() -> None:
        async def server_send(message: dict[str, object]) -> None:
            pass

        async def receive() -> dict[str, object]:
            return {"type": "http.disconnect"}

        scope = {"type": "http", "method": "GET", "path": "/nowhere", "headers": [], "query_string": b""}
        scope["app_root_path"] = scope["root_path"] = ""
        await app(scope, receive, server_send)  # type: ignore[operator]
        seen.append(scope.get(sse.SERVER_SEND))
        seen.append(server_send)

    asyncio.run(go())
    assert seen[0] is seen[1]
