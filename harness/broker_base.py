"""What every broker of the harness is: the ``Broker`` shape (start, kill, stop, a context manager), a broker
program in a process group of its own (``ProcessBroker``), and the MQTT handshake that tells it is ready."""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, Self

from harness.ports import free_port

# amqtt drops the queued messages of anonymous sessions, so every test client sends a user name; Mosquitto
# here allows anonymous clients and ignores it.
TEST_USERNAME = "nightwatch-test"


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


def installed(name: str) -> str | None:
    """The program ``name`` on PATH, or in /usr/sbin (off an ordinary user's PATH), where Debian puts brokers."""
    found = shutil.which(name)
    if found is None and os.access(f"/usr/sbin/{name}", os.X_OK):
        found = f"/usr/sbin/{name}"
    return found


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
