"""MQTT brokers on free ports: a private Mosquitto, or amqtt when no mosquitto binary exists (set
NIGHTWATCH_TEST_BROKER=amqtt to force it), in its own thread (AmqttBroker) or in the caller's event loop
(EmbeddedBroker, for `make demo` and the simulator's real-time mode). Plus a recording subscriber.

For conformance, private RabbitMQ (its MQTT plugin) and NATS (its MQTT support) instances too, each in its own
temp dir on free ports, never the machine's own; ``broker_kinds()`` tells which exist here, and
``python -m harness.brokers`` prints it.

Usage:
    with start_broker(tmp_path) as broker:
        with Recorder(broker, ["nightwatch/v1/up/#"]) as rec:
            ...
            rec.wait_for(lambda msgs: len(msgs) >= 10, timeout=5)
"""

import asyncio
import contextlib
import glob
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
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

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


class Broker:
    """What every broker here offers: started, killed or stopped, and a context manager that starts it unless it
    runs and stops it at the end."""

    host = "127.0.0.1"
    port: int
    persistent: bool  # keeps sessions and queued messages across kill() and start()
    password: str | None = None  # what clients send with TEST_USERNAME; None: no password

    def start(self) -> None:
        raise NotImplementedError

    def kill(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    @property
    def running(self) -> bool:
        raise NotImplementedError

    def __enter__(self) -> Self:
        if not self.running:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class ProcessBroker(Broker):
    """A broker program in a process group of its own, so that kill() reaches whatever its start script runs."""

    stop_timeout_s = 10.0  # how long a SIGTERM may take before SIGKILL

    def __init__(self, workdir: Path, port: int | None) -> None:
        self.port = port or free_port()
        self.workdir = workdir  # its config, data and log
        workdir.mkdir(parents=True, exist_ok=True)
        self.proc: subprocess.Popen[bytes] | None = None

    def _spawn(self, argv: list[str], **popen: Any) -> subprocess.Popen[bytes]:
        if self.running:
            raise RuntimeError("broker already running")
        popen.setdefault("stdout", subprocess.DEVNULL)
        popen.setdefault("stderr", subprocess.DEVNULL)
        self.proc = subprocess.Popen(argv, start_new_session=True, **popen)
        return self.proc

    def _wait_connack(self, timeout: float, password: str | None = None) -> None:
        proc = self.proc
        assert proc is not None
        try:
            wait_connack(self.host, self.port, timeout, lambda: proc.poll() is None, TEST_USERNAME, password)
        except BaseException:
            self.kill()
            raise

    def kill(self) -> None:
        _kill_group(self.proc, signal.SIGKILL, 10)
        self.proc = None

    def stop(self) -> None:
        _kill_group(self.proc, signal.SIGTERM, self.stop_timeout_s)
        self.proc = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class MosquittoBroker(ProcessBroker):
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
        super().__init__(workdir, port)
        self.nodelay = nodelay
        self.anonymous = anonymous
        self.binary = binary
        self.extra_conf = extra_conf
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
        proc = self._spawn([self.binary, "-c", str(self.conf)])
        wait_port(self.port, 10, lambda: proc.poll() is None)

    def saved_after(self, when: float) -> bool:
        """True once the broker wrote its persistence file after ``when`` (time.time())."""
        return self.db.exists() and self.db.stat().st_mtime > when


class EmbeddedBroker:
    """amqtt in the caller's event loop, so that `make demo` on a fresh machine needs no broker program.

    amqtt speaks MQTT 3.1.1 only (no shared subscriptions, acknowledgement on receipt); production runs Mosquitto
    or another MQTT 5 broker (docs/dispatch.md). It drops the queued messages of anonymous sessions, so every
    client sends a user name, and anonymous logins are refused.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._broker: Any = None

    async def start(self) -> None:
        from amqtt.broker import Broker as Amqtt  # type: ignore[import-untyped, unused-ignore]

        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": False}},
        }
        self._broker = Amqtt(config)
        await self._broker.start()

    async def stop(self) -> None:
        if self._broker is not None:
            await self._broker.shutdown()
            self._broker = None


class AmqttBroker(Broker):
    """The EmbeddedBroker in its own thread and event loop, for synchronous tests. Nothing persists across
    kill()."""

    persistent = False

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self._embedded = EmbeddedBroker(self.host, self.port)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        started = threading.Event()
        loop = asyncio.new_event_loop()

        async def boot() -> None:
            await self._embedded.start()
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
        asyncio.run_coroutine_threadsafe(self._embedded.stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop = self._thread = None

    kill = stop  # in-process: the closest thing to a kill is an abrupt shutdown

    @property
    def running(self) -> bool:
        return self._thread is not None


def _connect_311(username: str | None, password: str | None) -> bytes:
    """An MQTT 3.1.1 CONNECT with a clean session, built here so that the harness needs none of the code under test."""

    def utf8(text: str) -> bytes:
        return len(text.encode()).to_bytes(2, "big") + text.encode()

    flags = 0x02 | (0x80 if username is not None else 0) | (0x40 if password is not None else 0)
    body = utf8("MQTT") + bytes([4, flags]) + (10).to_bytes(2, "big") + utf8(f"ready-{uuid.uuid4().hex[:8]}")
    body += (utf8(username) if username is not None else b"") + (utf8(password) if password is not None else b"")
    return bytes([0x10, len(body)]) + body  # well under 128 bytes: a one-byte remaining length


def wait_connack(
    host: str,
    port: int,
    timeout: float,
    alive: Callable[[], bool] = lambda: True,
    username: str | None = TEST_USERNAME,
    password: str | None = None,
) -> None:
    """Wait until the broker accepts an MQTT connection. An open port is not enough: RabbitMQ opens its MQTT
    listener while the node is still booting, and can still fail the boot after that."""
    deadline = time.monotonic() + timeout
    last = "nothing listening"
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError(f"broker exited during start-up ({last})")
        try:
            with socket.create_connection((host, port), timeout=1) as s:
                s.sendall(_connect_311(username, password))
                reply = s.recv(4)
                if reply[:2] == b"\x20\x02" and len(reply) == 4 and reply[3] == 0:
                    s.sendall(b"\xe0\x00")
                    return
                last = f"CONNACK {reply.hex() or 'none'}"
        except OSError as e:
            last = repr(e)
        time.sleep(0.1)  # a separate process is starting: no event to await
    raise TimeoutError(f"no MQTT CONNACK from port {port} after {timeout} s ({last})")


def _kill_group(proc: subprocess.Popen[bytes] | None, sig: int, timeout: float) -> None:
    """Signal the process group ``proc`` leads (started with start_new_session) and wait for its leader."""
    if proc is None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def rabbitmq_server_script() -> str | None:
    """The server script itself. Debian's /usr/sbin/rabbitmq-server wraps it to run as user rabbitmq with the
    system's data and config; the script runs the node as us, with the environment's paths."""
    found = sorted(glob.glob("/usr/lib/rabbitmq/lib/rabbitmq_server-*/sbin/rabbitmq-server"))
    return found[-1] if found else None


def epmd_binary() -> str | None:
    found = sorted(glob.glob("/usr/lib/erlang/erts-*/bin/epmd"))
    return shutil.which("epmd") or (found[-1] if found else None)


def nats_server_binary() -> str | None:
    found = shutil.which("nats-server")
    if found is None and os.access("/usr/sbin/nats-server", os.X_OK):
        found = "/usr/sbin/nats-server"
    return found


class RabbitMqttBroker(ProcessBroker):
    """A private RabbitMQ node with its MQTT plugin (MQTT 3.1.1 only), on free ports, with its own epmd, Erlang
    cookie, Mnesia directory, config and enabled-plugins file: nothing of the machine's own node is read or
    touched, and nothing needs enabling globally. The node boots in about 10 s on two busy cores, so share one
    per module. Sessions with clean session off are durable queues in its Mnesia directory, so they and their
    QoS 1 messages outlive kill() and start(). Clients must send a password: RabbitMQ refuses a user name
    without one, and anonymous clients unless a default user is configured."""

    persistent = True
    password: str | None = "nightwatch-test-password"
    stop_timeout_s = 30.0  # the script stops the node properly, which takes a few seconds

    def __init__(self, workdir: Path, script: str, epmd: str, port: int | None = None, extra_conf: str = "") -> None:
        super().__init__(workdir, port)
        self.extra_conf = extra_conf  # rabbitmq.conf lines, after ours
        self.script = script
        self.epmd = epmd
        # The AMQP listener cannot be turned off, and the distribution port defaults to it + 20000: the
        # machine's own node (5672) has 25672. Both get free ports, and the node a name of its own.
        self.amqp_port = free_port()
        self.dist_port = free_port()
        self.epmd_port = free_port()
        self.node = f"nightwatch-{uuid.uuid4().hex[:8]}@localhost"
        self.epmd_proc: subprocess.Popen[bytes] | None = None
        self.log = workdir / "rabbitmq.out"

    def _env(self) -> dict[str, str]:
        w = self.workdir
        (w / "rabbitmq.conf").write_text(
            f"listeners.tcp.default = 127.0.0.1:{self.amqp_port}\n"
            f"mqtt.listeners.tcp.default = 127.0.0.1:{self.port}\n"
            "mqtt.allow_anonymous = false\n"
            f"default_user = {TEST_USERNAME}\n"
            f"default_pass = {self.password}\n" + self.extra_conf
        )
        (w / "enabled_plugins").write_text("[rabbitmq_mqtt].\n")
        (w / "rabbitmq-env.conf").write_text("")  # in place of /etc/rabbitmq's, which names the system's node
        keep = {k: v for k, v in os.environ.items() if not k.startswith(("RABBITMQ_", "ERL_"))}
        return keep | {
            "HOME": str(w),  # the Erlang cookie is made here, not in the user's home
            "ERL_EPMD_PORT": str(self.epmd_port),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_CONF_ENV_FILE": str(w / "rabbitmq-env.conf"),
            "RABBITMQ_CONFIG_FILE": str(w / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(w / "advanced.config"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(w / "enabled_plugins"),
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.amqp_port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(w / "mnesia"),
            "RABBITMQ_LOG_BASE": str(w / "log"),
            "RABBITMQ_PLUGINS_EXPAND_DIR": str(w / "plugins-expand"),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        }

    def start(self) -> None:
        if self.running:
            raise RuntimeError("broker already running")  # before the epmd below is started for nothing
        env = self._env()
        if self.epmd_proc is None or self.epmd_proc.poll() is not None:
            # Our own epmd in the foreground, so that it is ours to end; a node would otherwise start a daemon
            # one that outlives it, or register with the machine's.
            self.epmd_proc = subprocess.Popen(
                [self.epmd, "-port", str(self.epmd_port), "-address", "127.0.0.1"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            epmd = self.epmd_proc
            wait_port(self.epmd_port, 10, lambda: epmd.poll() is None)
        with self.log.open("ab") as out:
            # The script runs the VM as a child: the process group lets kill() reach the VM.
            self._spawn([self.script], env=env, cwd=self.workdir, stdout=out, stderr=out)
        self._wait_connack(90, self.password)

    def stop(self) -> None:
        super().stop()
        if self.epmd_proc is not None:
            self.epmd_proc.terminate()
            self.epmd_proc.wait(10)
            self.epmd_proc = None


class NatsMqttBroker(ProcessBroker):
    """A private nats-server with its MQTT listener (MQTT 3.1.1 only), which needs JetStream: sessions, their
    subscriptions and QoS 1 messages are JetStream streams and consumers, kept in a file store in the temp dir,
    so they outlive kill() and start(). It takes any user name and password when it has no authorization.

    NATS 2.9 sends an unacknowledged message again only when ``ack_wait_s`` has passed since it sent it, not at
    the client's reconnect (MQTT 3.1.1, 4.4): its default of 30 s would make every redelivery test wait that long.
    """

    persistent = True
    stop_timeout_s = 15.0

    def __init__(self, workdir: Path, binary: str, port: int | None = None, ack_wait_s: float = 2.0) -> None:
        super().__init__(workdir, port)
        self.ack_wait_s = ack_wait_s
        self.client_port = free_port()  # NATS's own protocol, which the MQTT support rides on
        self.binary = binary
        self.conf = workdir / "nats.conf"
        self.log = workdir / "nats.log"

    def start(self) -> None:
        self.conf.write_text(
            f"listen: 127.0.0.1:{self.client_port}\n"
            # JetStream, which MQTT needs, needs a server name.
            f"server_name: nightwatch-{uuid.uuid4().hex[:8]}\n"
            f'jetstream {{ store_dir: "{self.workdir / "js"}", max_memory_store: 64MB, max_file_store: 1GB }}\n'
            f'mqtt {{ listen: 127.0.0.1:{self.port}, ack_wait: "{self.ack_wait_s}s" }}\n'
        )
        self._spawn([self.binary, "-c", str(self.conf), "-l", str(self.log)])
        self._wait_connack(20)


@dataclass(frozen=True)
class BrokerKind:
    """One broker program the tests can start, what it offers, and why it is missing when it is."""

    name: str
    found: str | None  # the binary, None when absent
    protocols: tuple[int, ...]  # MQTT protocol levels: 4 is 3.1.1, 5 is 5.0
    shared_subscriptions: bool  # $share/<group>/<filter> splits messages between subscribers
    retained_for_wildcards: bool  # a new subscription to a filter with + or # gets the retained messages
    dotted_topics: bool  # a "." inside a topic level is an ordinary character (gateway ids may hold one)
    # A reconnecting session gets its unacknowledged messages at once (MQTT 3.1.1 and 5.0, 4.4); else only
    # after a redelivery timer.
    redelivers_on_reconnect: bool
    make: Callable[[Path], Broker]
    install: str

    @property
    def missing(self) -> str | None:
        return None if self.found else f"no {self.name} on this machine ({self.install})"


def broker_kinds() -> dict[str, BrokerKind]:
    mosquitto, rabbit, epmd, nats = mosquitto_binary(), rabbitmq_server_script(), epmd_binary(), nats_server_binary()

    def mosquitto_broker(workdir: Path) -> Broker:
        assert mosquitto is not None
        return MosquittoBroker(workdir, mosquitto)

    def rabbit_broker(workdir: Path) -> Broker:
        assert rabbit is not None and epmd is not None
        return RabbitMqttBroker(workdir, rabbit, epmd)

    def nats_broker(workdir: Path) -> Broker:
        assert nats is not None
        return NatsMqttBroker(workdir, nats)

    kinds = [
        BrokerKind(
            "mosquitto",
            mosquitto,
            protocols=(4, 5),
            shared_subscriptions=True,
            retained_for_wildcards=True,
            dotted_topics=True,
            redelivers_on_reconnect=True,
            make=mosquitto_broker,
            install="apt-get install mosquitto",
        ),
        # Both grant $share/... and take it as a plain topic filter: nothing published reaches it.
        BrokerKind(
            "rabbitmq",
            rabbit if epmd else None,
            protocols=(4,),
            shared_subscriptions=False,
            retained_for_wildcards=False,
            dotted_topics=False,
            redelivers_on_reconnect=True,
            make=rabbit_broker,
            install="apt-get install rabbitmq-server; the tests enable rabbitmq_mqtt in their own node only",
        ),
        BrokerKind(
            "nats",
            nats,
            protocols=(4,),
            shared_subscriptions=False,
            retained_for_wildcards=True,
            dotted_topics=False,
            redelivers_on_reconnect=False,
            make=nats_broker,
            install="apt-get install nats-server",
        ),
    ]
    return {k.name: k for k in kinds}


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


if __name__ == "__main__":
    for kind in broker_kinds().values():
        versions = ", ".join({4: "3.1.1", 5: "5"}[v] for v in kind.protocols)
        print(f"{kind.name:10} MQTT {versions:9} {kind.found or kind.missing}")
