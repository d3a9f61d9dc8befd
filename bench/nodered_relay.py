"""Node-RED as the dispatch benchmark's peer: the committed flow (bench/nodered/flow.json) relays every uplink
envelope from the broker to a WebSocket (mqtt-in -> websocket-out) and does nothing else.

Installed with ``npm ci`` from the committed lock file into bench/nodered/node_modules (git-ignored) when it is
missing, and run headless and offline: no editor, no admin API, no telemetry or update check, no palette
installs, listening on 127.0.0.1 only.
"""

import json
import os
import shutil
import subprocess
from pathlib import Path

from harness.ports import free_port, wait_port
from harness.started import Started, stop_process

HOME = Path(__file__).resolve().parent / "nodered"
RED_JS = HOME / "node_modules" / "node-red" / "red.js"
WS_PATH = "/relay"  # the websocket-listener's path in flow.json


def version() -> str:
    doc = json.loads((HOME / "node_modules" / "node-red" / "package.json").read_text())
    return str(doc["version"])


def install() -> None:
    """``npm ci`` from the committed lock file, once; exact versions, nothing resolved anew."""
    if RED_JS.exists():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("the dispatch benchmark needs node and npm for its Node-RED peer")
    subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=HOME, check=True)


def _settings(user_dir: Path, port: int, flow: Path) -> str:
    settings = {
        "uiHost": "127.0.0.1",
        "uiPort": port,
        "userDir": str(user_dir),
        "flowFile": str(flow),
        "credentialSecret": False,
        # No editor and no admin API at all: nothing but the flow's WebSocket listens.
        "httpAdminRoot": False,
        "disableEditor": True,
        "diagnostics": {"enabled": False, "ui": False},
        "runtimeState": {"enabled": False, "ui": False},
        # Telemetry and its new-version check would call nodered.org; the bench stays on loopback.
        "telemetry": {"enabled": False, "updateNotification": False},
        "externalModules": {
            "autoInstall": False,
            "palette": {"allowInstall": False, "allowUpdate": False, "allowUpload": False},
            "modules": {"allowInstall": False},
        },
        "logging": {"console": {"level": "warn", "metrics": False, "audit": False}},
    }
    return "module.exports = " + json.dumps(settings, indent=2) + ";\n"


class NodeRed(Started):
    """A private Node-RED on a free port, relaying the broker at ``broker_port``."""

    def __init__(self, workdir: Path, broker_port: int) -> None:
        self.workdir = workdir
        self.broker_port = broker_port
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = f"ws://127.0.0.1:{self.port}{WS_PATH}"

    def start(self) -> None:
        install()
        node = shutil.which("node")
        if node is None:
            raise RuntimeError("node is not on PATH")
        self.workdir.mkdir(parents=True, exist_ok=True)
        flow = self.workdir / "flow.json"
        shutil.copyfile(HOME / "flow.json", flow)  # Node-RED may write next to its flow file: keep the repo clean
        settings = self.workdir / "settings.js"
        settings.write_text(_settings(self.workdir, self.port, flow))
        log = (self.workdir / "node-red.log").open("wb")
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.workdir),
            "NODE_ENV": "production",
            "NIGHTWATCH_BENCH_MQTT_PORT": str(self.broker_port),  # ${...} in the flow's broker node
        }
        self.proc = subprocess.Popen(
            [node, str(RED_JS), "--settings", str(settings), "--userDir", str(self.workdir)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=self.workdir,
        )
        log.close()
        proc = self.proc
        wait_port(self.port, 60, lambda: proc.poll() is None)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self) -> None:
        stop_process(self.proc, 10)
        self.proc = None

    def log_tail(self, lines: int = 20) -> str:
        path = self.workdir / "node-red.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""
