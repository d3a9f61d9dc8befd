"""`nightwatch dispatch` as its own process, as the benchmarks, the kill test and the real-time simulator run it:
its command line, and the wait until it answers on /healthz. Nothing of the service is imported here: the process
runs it."""

import asyncio
import contextlib
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import httpx


def dispatch_args(mqtt_port: int, db: str, http_port: int, tokens: Iterable[str], *extra: str) -> list[str]:
    """`nightwatch dispatch` on the broker at ``mqtt_port`` of this host, the database ``db`` and the API on
    ``http_port``; ``tokens`` as ``--token`` takes them (``token=role``), ``extra`` after ``--mqtt``."""
    return [
        str(Path(sys.executable).with_name("nightwatch")),
        "dispatch",
        "--mqtt",
        f"mqtt://127.0.0.1:{mqtt_port}",
        *extra,
        "--db",
        db,
        "--http",
        f"127.0.0.1:{http_port}",
        *[a for t in tokens for a in ("--token", t)],
    ]


async def until_healthy(
    http: httpx.AsyncClient, proc: subprocess.Popen[bytes], exited: Callable[[], str], timeout: float = 60.0
) -> None:
    """Returns once ``http``'s /healthz answers 200; RuntimeError with ``exited()`` if ``proc`` ends first,
    TimeoutError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(exited())
        with contextlib.suppress(httpx.HTTPError):
            if (await http.get("/healthz")).status_code == 200:
                return
        if time.monotonic() > deadline:
            raise TimeoutError("dispatch did not come up")
        await asyncio.sleep(0.05)
