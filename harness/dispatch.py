"""The real dispatch service served by uvicorn on a free port, in a thread with its own event loop, its lifespan
run: what a client reaches over the network. served() serves an app the caller built; LiveService builds the
whole service from its settings, its MQTT link included, as `nightwatch dispatch` does."""

import asyncio
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from types import TracebackType
from typing import Any

import httpx
import uvicorn

from basestation.dispatch.api.app import create_app
from basestation.dispatch.api.server import Server
from basestation.dispatch.io.mqtt_link import MqttLink
from basestation.dispatch.service import Dispatcher
from basestation.dispatch.settings import DispatchSettings
from harness.ports import free_port


@contextmanager
def served(
    app: Any, port: int | None = None, **uvicorn_options: Any
) -> Iterator[tuple[str, asyncio.AbstractEventLoop]]:
    """Yields the base URL and the server's event loop (to run coroutines on the app's own loop)."""
    port = port or free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", **uvicorn_options)
    server = Server(config, app.state.dispatcher.bus)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(server.serve(),), name="uvicorn", daemon=True)
    thread.start()
    scheme = "https" if "ssl_certfile" in uvicorn_options else "http"
    try:
        deadline = 200  # x 50 ms
        while not server.started:
            if not thread.is_alive() or deadline == 0:
                raise RuntimeError("uvicorn did not start")
            deadline -= 1
            threading.Event().wait(0.05)  # another thread starts it: nothing to await here
        yield f"{scheme}://127.0.0.1:{port}", loop
    finally:
        server.should_exit = True
        thread.join(30)
        # Whatever the app left running (a notifier's retries, say) ends before the loop closes.
        loop.run_until_complete(_cancel(asyncio.all_tasks(loop)))
        loop.close()


async def _cancel(tasks: set[asyncio.Task[Any]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


class LiveService:
    """The whole service of ``settings`` (its MQTT link on the broker they name), served on ``port``, or a free
    one, while the context lasts. Built on entry from ``settings`` as they are then, so that a caller can change
    them first."""

    def __init__(self, settings: DispatchSettings, port: int | None = None) -> None:
        self.settings = settings
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.dispatcher: Dispatcher | None = None
        self._served: AbstractContextManager[tuple[str, asyncio.AbstractEventLoop]] | None = None

    def __enter__(self) -> "LiveService":
        self.dispatcher = Dispatcher(self.settings)
        app = create_app(self.dispatcher, [MqttLink(self.settings, self.dispatcher)])
        self._served = served(app, self.port)
        self._served.__enter__()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._served is not None:
            self._served.__exit__(exc_type, exc, tb)
            self._served = None

    def http(self, token: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=5)
