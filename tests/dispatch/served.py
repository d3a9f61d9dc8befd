"""The dispatch app served by a real uvicorn on a free port, in a thread with its own event loop, its lifespan
run: what a client reaches over the network, for tests that need real HTTP (schemathesis, streams)."""

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from basestation.dispatch.server import Server
from tests.brokers import free_port


@contextmanager
def served(app: Any, **uvicorn_options: Any) -> Iterator[tuple[str, asyncio.AbstractEventLoop]]:
    """Yields the base URL and the server's event loop (to run coroutines on the app's own loop)."""
    port = free_port()
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
