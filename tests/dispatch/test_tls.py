"""TLS on both sides of the dispatch service: the real `nightwatch dispatch` process reads uplinks from a real
Mosquitto TLS listener (verified against a private CA made here, `--mqtt-tls-ca`) and serves its API over
HTTPS (`--https-cert`, `--https-key`). Refusals: a broker the CA did not sign, plain HTTP, a client that does
not trust the certificate."""

import asyncio
import json
import os
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from pydantic import ValidationError

from basestation.dispatch.io.mqtt_link import MqttLink
from basestation.dispatch.service import Dispatcher
from basestation.dispatch.settings import DispatchSettings
from harness.broker_base import TEST_USERNAME
from harness.mosquitto import MosquittoBroker, mosquitto_binary
from harness.ports import free_port
from protocol import uplink
from protocol.constants import EVENT_SOS, FLAG_ACK_REQUESTED
from protocol.keys import DeviceKeys
from tests.certs import TestCA

OPERATOR = "operator-token-for-the-tls-test"
needs_mosquitto = pytest.mark.skipif(mosquitto_binary() is None, reason="needs Mosquitto")


def _tls_broker(workdir: Path, ca: TestCA, signer: TestCA) -> tuple[MosquittoBroker, int]:
    """A Mosquitto with its plain test listener plus a TLS one whose certificate ``signer`` issued."""
    binary = mosquitto_binary()
    assert binary is not None
    srv = signer.server("broker")
    tls_port = free_port()
    extra = f"listener {tls_port} 127.0.0.1\ncafile {ca.ca}\ncertfile {srv.cert}\nkeyfile {srv.key}\n"
    return MosquittoBroker(workdir, binary, extra_conf=extra), tls_port


def _sos(broker: MosquittoBroker, root: bytes) -> None:
    frame = uplink.encode(DeviceKeys(root), uplink.Uplink(1, 7, EVENT_SOS, 80, flags=FLAG_ACK_REQUESTED))
    doc = {"v": 1, "gateway_id": "gw-a", "rx_time_ms": int(time.time() * 1000), "radio": "lora", "frame": frame.hex()}
    gw = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="gw-a", protocol=mqtt.MQTTv311)
    gw.username_pw_set(TEST_USERNAME)
    gw.connect(broker.host, broker.port)
    gw.loop_start()
    gw.publish("nightwatch/v1/up/gw-a", json.dumps(doc), qos=1).wait_for_publish(5)
    gw.loop_stop()
    gw.disconnect()


@needs_mosquitto
def test_the_service_reads_uplinks_over_tls_and_serves_https(tmp_path: Path) -> None:
    ca = TestCA(tmp_path / "pki")
    api = ca.server("dispatch")
    broker, tls_port = _tls_broker(tmp_path / "broker", ca, ca)
    http_port = free_port()
    args = [
        str(Path(sys.executable).with_name("nightwatch")),
        "dispatch",
        *("--mqtt", f"mqtts://127.0.0.1:{tls_port}", "--mqtt-tls-ca", str(ca.ca)),
        *("--db", f"sqlite+aiosqlite:///{tmp_path / 'd.db'}", "--http", f"127.0.0.1:{http_port}"),
        *("--https-cert", str(api.cert), "--https-key", str(api.key), "--token", f"{OPERATOR}=operator"),
    ]
    env = dict(os.environ, NIGHTWATCH_DISPATCH_MQTT_USERNAME=TEST_USERNAME)
    base = f"https://127.0.0.1:{http_port}"
    auth = {"Authorization": f"Bearer {OPERATOR}"}
    root = os.urandom(16)
    with broker, (tmp_path / "dispatch.log").open("wb") as log:
        proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            trusting = ssl.create_default_context(cafile=ca.ca)
            with httpx.Client(base_url=base, verify=trusting, timeout=5) as client:
                _wait_healthy(client, proc)
                r = client.post("/api/v1/devices", json={"device_id": 7, "root_key": root.hex()}, headers=auth)
                assert r.status_code == 201, r.text
                # The uplink goes in on the plain listener; the service only has the TLS one.
                _sos(broker, root)
                deadline = time.monotonic() + 10
                while not (incidents := client.get("/api/v1/incidents", headers=auth).json()):
                    assert time.monotonic() < deadline, "the alarm never reached the service over TLS"
                    time.sleep(0.05)
                assert [i["id"] for i in incidents] == ["7-1"]
                # The stream's cookie is marked Secure when it was set over HTTPS.
                r = client.post("/ui/login", headers=auth)
                assert r.status_code == 200 and "secure" in r.headers["set-cookie"].lower()
            other = TestCA(tmp_path / "other", name="someone else")
            with (
                pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"),
                httpx.Client(verify=ssl.create_default_context(cafile=other.ca)) as stranger,
            ):
                stranger.get(f"{base}/healthz")
            with pytest.raises(httpx.HTTPError), httpx.Client(timeout=2) as plain:
                plain.get(f"http://127.0.0.1:{http_port}/healthz")
        finally:
            proc.terminate()
            proc.wait(15)


def _wait_healthy(client: httpx.Client, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while True:
        assert proc.poll() is None, "dispatch exited"
        try:
            if client.get("/healthz").status_code == 200:
                return
        except httpx.ConnectError as e:
            # Refused while the port is not open yet; a TLS failure would be the test's real answer.
            assert "CERTIFICATE" not in str(e), e
        assert time.monotonic() < deadline, "dispatch did not come up"
        time.sleep(0.05)  # a separate process is starting: nothing to await


@needs_mosquitto
def test_the_service_refuses_a_broker_its_ca_did_not_sign(tmp_path: Path) -> None:
    ours, theirs = TestCA(tmp_path / "ours"), TestCA(tmp_path / "theirs", name="impostor CA")
    broker, tls_port = _tls_broker(tmp_path / "broker", theirs, theirs)
    settings = DispatchSettings(
        mqtt_url=f"mqtts://127.0.0.1:{tls_port}",
        mqtt_tls_ca=ours.ca,
        mqtt_username=TEST_USERNAME,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'd.db'}",
    )

    async def connect() -> None:
        link = MqttLink(settings, Dispatcher(settings))
        await link.start()

    with broker, pytest.raises(ssl.SSLCertVerificationError):
        asyncio.run(connect())


def test_tls_settings_come_in_pairs_and_a_ca_needs_mqtts(tmp_path: Path) -> None:
    pem = tmp_path / "x.pem"
    with pytest.raises(ValidationError, match="https_cert and https_key"):
        DispatchSettings(https_cert=pem)
    with pytest.raises(ValidationError, match="mqtt_tls_cert and mqtt_tls_key"):
        DispatchSettings(mqtt_url="mqtts://broker", mqtt_tls_key=pem)
    with pytest.raises(ValidationError, match="mqtts://"):
        DispatchSettings(mqtt_url="mqtt://broker", mqtt_tls_ca=pem)


def test_the_shipped_example_configuration_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    example = Path(__file__).resolve().parents[2] / "deploy" / "dispatch" / "tls.env"
    for line in example.read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            monkeypatch.setenv(name, value)
    s = DispatchSettings()
    assert s.mqtt_tls and s.mqtt_tls_ca is not None and s.mqtt_username == "nightwatch-dispatch"
    assert s.https_cert is not None and s.https_key is not None and s.http_port == 8443
