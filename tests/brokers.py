"""MQTT brokers for tests: a private Mosquitto on a free port, or the in-process amqtt broker when no
mosquitto binary exists (set NIGHTWATCH_TEST_BROKER=amqtt to force it). Plus a recording subscriber.

Usage:
    with start_broker(tmp_path) as broker:
        with Recorder(broker, ["nightwatch/v1/up/#"]) as rec:
            ...
            rec.wait_for(lambda msgs: len(msgs) >= 10, timeout=5)
"""

import asyncio
import os
import pwd
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

# amqtt drops the queued messages of anonymous sessions, so every test client sends a user name; Mosquitto
# here allows anonymous clients and ignores it.
TEST_USERNAME = "nightwatch-test"

SHIPPED_CONF = Path(__file__).resolve().parents[1] / "deploy" / "mosquitto" / "nightwatch.conf"
# Read from the shipped file, so that tests cannot pass on queue limits that production does not have.
QUEUE_SETTINGS = ("max_queued_messages", "max_queued_bytes", "memory_limit")


def shipped_settings(*names: str) -> str:
    """The lines of deploy/mosquitto/nightwatch.conf that set any of ``names``, as config text."""
    lines = SHIPPED_CONF.read_text().splitlines()
    return "".join(line + "\n" for line in lines if line.split(" ", 1)[0] in names)


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float, alive: Callable[[], bool] = lambda: True) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError("broker exited during start-up")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)  # a separate process is starting: no event to await
    raise TimeoutError(f"nothing listens on port {port} after {timeout} s")


def mosquitto_binary() -> str | None:
    found = shutil.which("mosquitto")
    if found is None and os.access("/usr/sbin/mosquitto", os.X_OK):
        found = "/usr/sbin/mosquitto"
    return found


class Broker(Protocol):
    host: str
    port: int
    persistent: bool  # keeps sessions and queued messages across kill() and start()

    def start(self) -> None: ...
    def kill(self) -> None: ...
    def stop(self) -> None: ...
    def __enter__(self) -> "Broker": ...
    def __exit__(self, *exc: object) -> None: ...


class MosquittoBroker:
    """A private Mosquitto. Sessions persist (autosave every second) so a killed broker that comes back
    still has its subscribers' sessions; the queue settings are the shipped ones (no cap: stock Mosquitto drops
    past 1000). ``extra_conf`` comes last, and a setting given twice takes its last value."""

    persistent = True

    def __init__(
        self,
        workdir: Path,
        binary: str,
        port: int | None = None,
        extra_conf: str = "",
        nodelay: bool = True,
        anonymous: bool = True,
    ) -> None:
        self.nodelay = nodelay
        self.anonymous = anonymous
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.workdir = workdir
        self.binary = binary
        self.extra_conf = extra_conf
        self.proc: subprocess.Popen[bytes] | None = None
        workdir.mkdir(parents=True, exist_ok=True)
        self.conf = workdir / "mosquitto.conf"
        self.log = workdir / "mosquitto.log"
        self.db = workdir / "mosquitto.db"

    def start(self) -> None:
        self.conf.write_text(
            # Started as root, Mosquitto drops to user "mosquitto", which cannot write the test's temp dir.
            f"user {pwd.getpwuid(os.getuid()).pw_name}\n"
            f"listener {self.port} 127.0.0.1\n"
            f"allow_anonymous {'true' if self.anonymous else 'false'}\n"
            "persistence true\n"
            f"persistence_location {self.workdir}/\n"
            "autosave_interval 1\n"
            + shipped_settings(*QUEUE_SETTINGS)
            # Without it the broker's PUBACKs and deliveries wait on Nagle's algorithm: three publishes
            # right after a connect took ~42 ms against 0.4 ms (bench/gateway_bench.py measures both).
            + ("set_tcp_nodelay true\n" if self.nodelay else "")
            + f"log_dest file {self.log}\n"
            "log_type error\nlog_type warning\nlog_type notice\n" + self.extra_conf
        )
        if self.running:
            raise RuntimeError("broker already running")
        self.proc = subprocess.Popen(
            [self.binary, "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        proc = self.proc
        wait_port(self.port, 10, lambda: proc.poll() is None)

    def _signal(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(10)
        self.proc = None

    def kill(self) -> None:
        self._signal(signal.SIGKILL)

    def stop(self) -> None:
        self._signal(signal.SIGTERM)

    def saved_after(self, when: float) -> bool:
        """True once the broker wrote its persistence file after ``when`` (time.time())."""
        return self.db.exists() and self.db.stat().st_mtime > when

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def __enter__(self) -> "MosquittoBroker":
        if not self.running:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class AmqttBroker:
    """amqtt in its own thread and event loop. MQTT 3.1.1 only; nothing persists across kill()."""

    persistent = False

    def __init__(self, port: int | None = None) -> None:
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._broker: Any = None

    def start(self) -> None:
        from amqtt.broker import Broker as _Amqtt  # type: ignore[import-untyped, unused-ignore]

        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{self.port}"}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": False}},
        }
        started = threading.Event()
        loop = asyncio.new_event_loop()

        async def boot() -> None:
            self._broker = _Amqtt(config)
            await self._broker.start()
            started.set()

        def main() -> None:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(boot())
            loop.run_forever()
            loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=main, name="amqtt", daemon=True)
        self._thread.start()
        if not started.wait(10):
            raise TimeoutError("amqtt did not start")

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._broker.shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop = self._thread = None

    kill = stop  # in-process: the closest thing to a kill is an abrupt shutdown

    def __enter__(self) -> "AmqttBroker":
        if self._thread is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def make_broker(workdir: Path, port: int | None = None) -> Broker:
    binary = mosquitto_binary()
    if binary is not None and os.environ.get("NIGHTWATCH_TEST_BROKER") != "amqtt":
        return MosquittoBroker(workdir, binary, port)
    return AmqttBroker(port)


def start_broker(workdir: Path, port: int | None = None) -> Broker:
    """A started broker; use it as a context manager so it stops at the end."""
    broker = make_broker(workdir, port)
    broker.start()
    return broker


class Recorder:
    """A QoS 1 subscriber with a persistent session, recording (topic, payload, retained) in arrival order."""

    def __init__(
        self,
        broker: Broker,
        topics: list[str],
        client_id: str | None = None,
        username: str = TEST_USERNAME,
        password: str | None = None,
    ) -> None:
        self.messages: list[tuple[str, bytes, bool]] = []
        self._cond = threading.Condition()
        self._subscribed = threading.Event()
        self._topics = topics
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"rec-{uuid.uuid4().hex[:8]}",
            clean_session=False,
            protocol=mqtt.MQTTv311,
        )
        self.client.username_pw_set(username, password)
        self.client.reconnect_delay_set(1, 1)
        self.client.on_connect = self._connected
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        self.client.on_message = self._message
        self._broker = broker

    def _connected(self, client: mqtt.Client, *args: Any) -> None:
        client.subscribe([(t, 1) for t in self._topics])

    def _message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        with self._cond:
            self.messages.append((msg.topic, bytes(msg.payload), bool(msg.retain)))
            self._cond.notify_all()

    def payloads(self, topic_prefix: str) -> list[bytes]:
        with self._cond:
            return [p for t, p, _ in self.messages if t.startswith(topic_prefix)]

    def wait_for(self, predicate: Callable[["Recorder"], bool], timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self), timeout)

    def __enter__(self) -> "Recorder":
        self.client.connect(self._broker.host, self._broker.port, keepalive=10)
        self.client.loop_start()
        if not self._subscribed.wait(10):
            raise TimeoutError("subscription not acknowledged")
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.client.disconnect()
        self.client.loop_stop()
