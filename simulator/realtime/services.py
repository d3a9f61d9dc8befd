"""The real services a real-time run drives: an MQTT broker and the dispatch service, with the tokens to use them.

``services()`` starts what is not given: a private Mosquitto (the production broker; the in-process amqtt broker
when no mosquitto binary exists or when asked), and ``nightwatch dispatch`` as its own process on a SQLite file, as
in production. The demo runs the same dispatch service in process (``create_app`` and uvicorn) beside the embedded
broker, so a fresh machine needs nothing else.
"""

import asyncio
import contextlib
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from harness.dispatch_process import dispatch_args, until_healthy
from harness.started import stop_process


@dataclass
class Tokens:
    operator: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    provisioner: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    responders: dict[str, str] = field(default_factory=dict)  # responder id -> token

    def table(self) -> dict[str, str]:
        out = {self.operator: "operator", self.provisioner: "provisioning"}
        out |= {tok: f"responder:{rid}" for rid, tok in self.responders.items()}
        return out


@dataclass
class Endpoints:
    mqtt_host: str
    mqtt_port: int
    mqtt_protocol: int  # 5, or 4 for amqtt
    http_base: str
    tokens: Tokens
    broker_name: str


def free_port(preferred: int = 0, kind: int = socket.SOCK_STREAM) -> tuple[int, bool]:
    """``preferred`` if it is free, else any free port; and whether the preferred one was taken."""
    for candidate in (preferred, 0):
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            return int(s.getsockname()[1]), candidate == 0 and preferred != 0
    raise OSError("no free port")


def _mosquitto() -> str | None:
    found = shutil.which("mosquitto")
    return found or ("/usr/sbin/mosquitto" if os.access("/usr/sbin/mosquitto", os.X_OK) else None)


async def _wait_port(port: int, alive: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if not alive():
            raise RuntimeError("the broker exited during start-up")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on {port}") from None
            await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def mosquitto(workdir: Path, port: int) -> AsyncIterator[None]:
    """A private Mosquitto with the settings of deploy/mosquitto/nightwatch.conf that latency and loss depend on."""
    binary = _mosquitto()
    assert binary is not None
    conf = workdir / "mosquitto.conf"
    conf.write_text(
        f"user {pwd.getpwuid(os.getuid()).pw_name}\nlistener {port} 127.0.0.1\nallow_anonymous true\n"
        "set_tcp_nodelay true\nmax_queued_messages 1000000000\nmax_queued_bytes 0\n"
        f"log_dest file {workdir / 'mosquitto.log'}\n"
    )
    proc = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        await _wait_port(port, lambda: proc.poll() is None)
        yield
    finally:
        proc.terminate()
        await asyncio.to_thread(proc.wait, 10)


@dataclass(frozen=True, slots=True)
class Rules:
    """Dispatch settings a run sets: the shifts' zone, and the cancel window, shortened when a real-time run scripts
    its people's acts in seconds (a late cancel would otherwise wait two minutes of wall clock)."""

    timezone: str = "Europe/Amsterdam"
    cancel_window_s: float | None = None
    walk_hours: str | None = None  # the walk-me-home page's hours; "" for always (the demo runs by day too)

    def settings(self) -> dict[str, Any]:
        out: dict[str, Any] = {"timezone": self.timezone}
        if self.cancel_window_s is not None:
            out["cancel_window_s"] = self.cancel_window_s
        if self.walk_hours is not None:
            out["walk_hours"] = self.walk_hours
        return out

    def environ(self) -> dict[str, str]:
        return {f"NIGHTWATCH_DISPATCH_{k.upper()}": str(v) for k, v in self.settings().items()}


@contextlib.asynccontextmanager
async def amqtt(port: int) -> AsyncIterator[None]:
    from harness.amqtt_broker import EmbeddedBroker

    broker = EmbeddedBroker("127.0.0.1", port)
    await broker.start()
    try:
        yield
    finally:
        await broker.stop()


@contextlib.asynccontextmanager
async def dispatch_process(
    workdir: Path, mqtt_port: int, protocol: int, http_port: int, tokens: Tokens, rules: Rules | None = None
) -> AsyncIterator[None]:
    """``nightwatch dispatch`` in its own process: the real MqttLink, API and live stream on a SQLite file."""
    db = f"sqlite+aiosqlite:///{workdir / 'dispatch.db'}"
    table = [f"{tok}={role}" for tok, role in tokens.table().items()]
    args = dispatch_args(mqtt_port, db, http_port, table, "--mqtt-protocol", str(protocol))
    log = (workdir / "dispatch.log").open("ab")
    env = {**os.environ, **(rules or Rules()).environ()}
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{http_port}", timeout=2) as http:
            await until_healthy(http, proc, lambda: "dispatch exited during start-up")
        yield
    finally:
        await asyncio.to_thread(stop_process, proc, 20)
        log.close()


def _embedded_server() -> Any:
    from basestation.dispatch.api.server import Server

    class Embedded(Server):
        """uvicorn inside a program that owns Ctrl-C: uvicorn would take SIGINT for itself and stop serving while
        the program still shuts its other parts down through it."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    return Embedded


@contextlib.asynccontextmanager
async def dispatch_in_process(
    workdir: Path,
    mqtt_port: int,
    protocol: int,
    http_port: int,
    tokens: Tokens,
    rules: Rules | None = None,
    offer_timeout_s: float = 30.0,
) -> AsyncIterator[None]:
    """The same service in this process (its public create_app under uvicorn), for the demo."""
    import uvicorn

    from basestation.dispatch.api.app import create_app
    from basestation.dispatch.io.mqtt_link import MqttLink
    from basestation.dispatch.service import Dispatcher
    from basestation.dispatch.settings import DispatchSettings

    settings = DispatchSettings(
        mqtt_url=f"mqtt://127.0.0.1:{mqtt_port}",
        mqtt_protocol=4 if protocol == 4 else 5,
        database_url=f"sqlite+aiosqlite:///{workdir / 'dispatch.db'}",
        http_port=http_port,
        tokens=tokens.table(),
        offer_timeout_s=offer_timeout_s,
        **(rules or Rules()).settings(),
    )
    dispatcher = Dispatcher(settings)
    app = create_app(dispatcher, [MqttLink(broker, dispatcher) for broker in settings.brokers()])
    config = uvicorn.Config(app, host="127.0.0.1", port=http_port, log_level="warning")
    server = _embedded_server()(config, dispatcher.bus)
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if serving.done():
                await serving
                raise RuntimeError("dispatch stopped during start-up")
            await asyncio.sleep(0.02)
        yield
    finally:
        server.should_exit = True
        await serving


@contextlib.asynccontextmanager
async def services(
    workdir: Path,
    tokens: Tokens,
    broker: str = "mosquitto",
    dispatch: str = "process",
    mqtt_port: int = 0,
    http_port: int = 0,
    mqtt_protocol: int = 5,
    rules: Rules | None = None,
) -> AsyncIterator[Endpoints]:
    """A broker (``mosquitto``, or ``amqtt`` in process; Mosquitto falls back to amqtt when not installed; or
    ``external``: one already listening on ``mqtt_port`` and speaking ``mqtt_protocol``) and the dispatch service
    (``process`` or ``in-process``), on ``mqtt_port`` and ``http_port`` (0: any free port)."""
    if broker == "mosquitto" and _mosquitto() is None:
        broker = "amqtt"
    protocol = {"mosquitto": 5, "amqtt": 4}.get(broker, mqtt_protocol)  # amqtt speaks only MQTT 3.1.1
    mqtt_port = mqtt_port or free_port()[0]
    http_port = http_port or free_port()[0]
    workdir.mkdir(parents=True, exist_ok=True)
    async with contextlib.AsyncExitStack() as stack:
        if broker == "mosquitto":
            await stack.enter_async_context(mosquitto(workdir, mqtt_port))
        elif broker == "amqtt":
            await stack.enter_async_context(amqtt(mqtt_port))
        start = dispatch_process if dispatch == "process" else dispatch_in_process
        await stack.enter_async_context(start(workdir, mqtt_port, protocol, http_port, tokens, rules))
        yield Endpoints("127.0.0.1", mqtt_port, protocol, f"http://127.0.0.1:{http_port}", tokens, broker)
