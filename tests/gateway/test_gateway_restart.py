"""The gateway as a real process: SIGKILLed with a non-empty spool, restarted, every frame delivered."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from typer.testing import CliRunner

from basestation.gateway import topics
from harness.brokers import make_broker
from harness.forwarder import Forwarder
from harness.gateway import frames, rxpk
from harness.ports import free_port
from harness.recorder import Recorder
from nightwatch.cli import app

GW = "gw-proc"
UP = topics.uplink(GW)
STATUS = topics.status(GW)
STATS = topics.stats(GW)


@contextmanager
def gateway_process(spool: Path, broker_port: int, udp_port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    env = dict(os.environ, NIGHTWATCH_GATEWAY_USERNAME="nightwatch-test", NIGHTWATCH_GATEWAY_STATS_INTERVAL_S="1")
    args = [
        sys.executable, "-m", "basestation.gateway",
        "--id", GW,
        "--mqtt", f"mqtt://127.0.0.1:{broker_port}",
        "--semtech-udp", f"127.0.0.1:{udp_port}",
        "--spool", str(spool),
        "--position", "52.16,4.49",
    ]  # fmt: skip
    with log.open("ab") as out:
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def spooled(path: Path) -> int:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return int(db.execute("SELECT COUNT(*) FROM spool").fetchone()[0])
    finally:
        db.close()


def test_sigkill_with_full_spool_then_restart_delivers_everything(tmp_path: Path) -> None:
    spool = tmp_path / "spool.sqlite3"
    log = tmp_path / "gateway.log"
    udp = free_port(kind=2)
    broker = make_broker(tmp_path / "broker")  # not started: the broker is away while frames arrive
    items = frames(60)
    with gateway_process(spool, broker.port, udp, log) as proc:
        fwd = Forwarder(udp)
        fwd.wait_ready()
        for f in items:
            fwd.push([rxpk(f)])
        fwd.pull()  # barrier: every frame above was handled, and so committed to the spool
        assert spooled(spool) == len(items)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(10) == -signal.SIGKILL
        fwd.close()
    assert spooled(spool) == len(items)

    with broker, Recorder(broker, [UP, STATUS, STATS]) as rec, gateway_process(spool, broker.port, udp, log) as proc:
        assert rec.wait_for(lambda r: len(r.payloads(UP)) >= len(items), timeout=30), log.read_text()[-3000:]
        got = [bytes.fromhex(json.loads(p)["frame"]) for p in rec.payloads(UP)]
        assert got == items  # in receive order, each once: nothing was in flight when it died
        assert json.loads(rec.payloads(STATUS)[-1])["state"] == "online"
        # The periodic stats show the spool drained: every PUBACK was processed.
        assert rec.wait_for(lambda r: any(json.loads(p)["spool_depth"] == 0 for p in r.payloads(STATS)), 10)
        fwd = Forwarder(udp)
        fwd.wait_ready()
        # Killed again while connected: the broker publishes the last will.
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        assert rec.wait_for(lambda r: json.loads(r.payloads(STATUS)[-1])["state"] == "offline", timeout=10)
        fwd.close()
    assert spooled(spool) == 0


def test_sigterm_publishes_offline_and_exits_cleanly(tmp_path: Path) -> None:
    udp = free_port(kind=2)
    with (
        make_broker(tmp_path / "broker") as broker,
        Recorder(broker, [STATUS]) as rec,
        gateway_process(tmp_path / "s.db", broker.port, udp, tmp_path / "gw.log") as proc,
    ):
        assert rec.wait_for(lambda r: len(r.payloads(STATUS)) >= 1, timeout=20)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
        assert json.loads(rec.payloads(STATUS)[-1]) == {"gateway_id": GW, "state": "offline"}


def test_cli_is_registered_and_refuses_bad_settings() -> None:
    runner = CliRunner()
    assert "--semtech-udp" in runner.invoke(app, ["gateway", "--help"]).output
    bad = runner.invoke(app, ["gateway", "--id", "a/b", "--mqtt", "http://x"])
    assert bad.exit_code == 2
