"""A private Mosquitto on a free port, with the shipped queue settings (deploy/mosquitto/nightwatch.conf)."""

import os
import pwd
from pathlib import Path

from harness.broker_base import ProcessBroker, installed
from harness.ports import wait_port

SHIPPED_CONF = Path(__file__).resolve().parents[1] / "deploy" / "mosquitto" / "nightwatch.conf"
# Read from the shipped file, so that tests cannot pass on queue limits that production does not have.
QUEUE_SETTINGS = ("max_queued_messages", "max_queued_bytes", "memory_limit")


def shipped_settings(*names: str) -> str:
    """The lines of deploy/mosquitto/nightwatch.conf that set any of ``names``, as config text."""
    lines = SHIPPED_CONF.read_text().splitlines()
    return "".join(line + "\n" for line in lines if line.split(" ", 1)[0] in names)


def mosquitto_binary() -> str | None:
    return installed("mosquitto")


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
