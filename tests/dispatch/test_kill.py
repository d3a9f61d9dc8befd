"""Kill the dispatch service at random instants while alarms flow: after restarts every alarm has exactly one
incident, none lost, none doubled. Real processes: Mosquitto, `nightwatch dispatch`, SQLite."""

import asyncio
import json
import os
import random
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from basestation.dispatch.io.migrate import upgrade
from basestation.dispatch.io.store import Store
from harness.broker_base import TEST_USERNAME
from harness.brokers import start_broker
from harness.dispatch_process import dispatch_args
from harness.mosquitto import mosquitto_binary
from harness.ports import free_port
from protocol import uplink
from protocol.constants import EVENT_HEARTBEAT, EVENT_SOS, FLAG_ACK_REQUESTED
from protocol.keys import DeviceKeys
from tests.dispatch.world import provision

DEVICES = int(os.environ.get("NIGHTWATCH_TEST_ALARMS", "200"))
TOKEN = "operator-token-that-must-never-be-logged"
KILLS = int(os.environ.get("NIGHTWATCH_TEST_KILLS", "3"))


class Service:
    def __init__(self, broker_port: int, db: str, workdir: Path) -> None:
        self.http = free_port()
        self.args = dispatch_args(broker_port, db, self.http, [f"{TOKEN}=operator"])
        self.env = dict(os.environ, NIGHTWATCH_DISPATCH_MQTT_USERNAME=TEST_USERNAME)
        self.log = (workdir / "dispatch.log").open("ab")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(self.args, env=self.env, stdout=self.log, stderr=self.log)

    def health(self) -> dict[str, object] | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http}/healthz", timeout=0.5) as r:
                doc: dict[str, object] = json.load(r)
                return doc
        except OSError:
            return None

    def wait_ready(self, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while self.health() is None:
            assert self.proc is not None and self.proc.poll() is None, "dispatch exited"
            if time.monotonic() > deadline:
                raise TimeoutError("dispatch did not come up")
            time.sleep(0.05)  # a separate process is starting: nothing to await

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(15)
        self.log.close()


def _outcomes(health: dict[str, object] | None) -> dict[str, int]:
    got = (health or {}).get("outcomes")
    return got if isinstance(got, dict) else {}


@pytest.mark.skipif(mosquitto_binary() is None, reason="needs an MQTT 5 broker (Mosquitto)")
def test_sigkill_at_random_instants_loses_nothing_and_doubles_nothing(tmp_path: Path) -> None:
    rng = random.Random(5)
    db = f"sqlite+aiosqlite:///{tmp_path / 'dispatch.db'}"
    upgrade(db)
    roots = {i: rng.randbytes(16) for i in range(1, DEVICES + 1)}

    asyncio.run(provision(db, roots))

    with start_broker(tmp_path / "broker") as broker:
        svc = Service(broker.port, db, tmp_path)
        svc.start()
        svc.wait_ready()
        gw = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="gw-kill", protocol=mqtt.MQTTv311)
        gw.username_pw_set(TEST_USERNAME)
        gw.connect(broker.host, broker.port)
        gw.loop_start()

        def publish(device: int, event: int, gateway: str) -> None:
            keys = DeviceKeys(roots[device])
            up = uplink.Uplink(1, device, event, 80, 60 if event == EVENT_HEARTBEAT else 0, 0, FLAG_ACK_REQUESTED)
            doc = {
                "v": 1,
                "gateway_id": gateway,
                "rx_time_ms": int(time.time() * 1000),
                "radio": "lora",
                "frame": uplink.encode(keys, up).hex(),
                "rssi": -90,
            }
            gw.publish(f"nightwatch/v1/up/{gateway}", json.dumps(doc), qos=1).wait_for_publish(5)

        # The session must exist before the first kill: wait until one probe frame has been handled.
        publish(DEVICES, EVENT_HEARTBEAT, "gw-probe")
        deadline = time.monotonic() + 20
        while _outcomes(svc.health()).get("accepted") != 1:
            assert time.monotonic() < deadline, "probe not handled"
            time.sleep(0.05)

        kill_at = sorted(rng.sample(range(10, DEVICES - 10), KILLS))
        for device in range(1, DEVICES):
            publish(device, EVENT_SOS, "gw-a")
            publish(device, EVENT_SOS, "gw-b")  # a second gateway's copy: dedupe must hold across restarts
            if device in kill_at:
                time.sleep(rng.random() * 0.05)
                svc.kill()
                svc.start()
                svc.wait_ready()
        gw.loop_stop()
        gw.disconnect()

        async def settled() -> tuple[int, int, list[tuple[int, int]]]:
            store = Store(db)
            try:
                from sqlalchemy import func, select

                from basestation.dispatch.io import schema as t

                async with store.engine.connect() as conn:
                    per_device = (
                        await conn.execute(
                            select(t.incidents.c.device_id, func.count()).group_by(t.incidents.c.device_id)
                        )
                    ).all()
                return await store.count("incidents"), await store.count("frames"), [tuple(r) for r in per_device]
            finally:
                await store.close()

        deadline = time.monotonic() + 60
        while True:
            incidents, frames, per_device = asyncio.run(settled())
            if incidents >= DEVICES - 1 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        svc.stop()

    log_text = (tmp_path / "dispatch.log").read_text()
    # Secrets never reach a log line: no device key (in any case) and no API token, in a whole run with kills.
    assert TOKEN not in log_text
    assert not any(root.hex() in log_text.lower() for root in roots.values())
    errors = [ln for ln in log_text.splitlines() if '"level": "error"' in ln]
    assert errors == [], errors[:3]
    assert incidents == DEVICES - 1, f"{incidents} incidents for {DEVICES - 1} alarms"
    assert frames == DEVICES  # every alarm and the probe heartbeat, each counter once
    assert all(n == 1 for _, n in per_device)
