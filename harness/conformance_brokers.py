"""Private RabbitMQ (its MQTT plugin) and NATS (its MQTT support) nodes for the conformance tests, each in its own
temp dir on free ports, never the machine's own."""

import glob
import os
import shutil
import subprocess
import uuid
from pathlib import Path

from harness.broker_base import TEST_USERNAME, ProcessBroker, installed
from harness.ports import free_port, wait_port


def rabbitmq_server_script() -> str | None:
    """The server script itself. Debian's /usr/sbin/rabbitmq-server wraps it to run as user rabbitmq with the
    system's data and config; the script runs the node as us, with the environment's paths."""
    found = sorted(glob.glob("/usr/lib/rabbitmq/lib/rabbitmq_server-*/sbin/rabbitmq-server"))
    return found[-1] if found else None


def epmd_binary() -> str | None:
    found = sorted(glob.glob("/usr/lib/erlang/erts-*/bin/epmd"))
    return shutil.which("epmd") or (found[-1] if found else None)


def nats_server_binary() -> str | None:
    return installed("nats-server")


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
