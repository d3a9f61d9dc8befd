"""deploy/mosquitto/nightwatch.acl on a real Mosquitto: a gateway publishes only to its own topics."""

import json
import shutil
import subprocess
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from basestation.gateway import topics
from tests.brokers import MosquittoBroker, Recorder, free_port, mosquitto_binary
from tests.gateway.helpers import Forwarder, GatewayThread, frames, rxpk, settings_for

ACL = Path(__file__).parents[2] / "deploy" / "mosquitto" / "nightwatch.acl"
USERS = {"gw-a": "pa", "gw-b": "pb", "nightwatch-dispatch": "pd"}


@pytest.fixture
def acl_broker(tmp_path: Path) -> MosquittoBroker:
    binary = mosquitto_binary()
    if binary is None or shutil.which("mosquitto_passwd") is None:
        pytest.skip("needs mosquitto and mosquitto_passwd")
    passwd = tmp_path / "passwd"
    for i, (user, password) in enumerate(USERS.items()):
        flags = ["-c"] if i == 0 else []
        subprocess.run(["mosquitto_passwd", *flags, "-b", str(passwd), user, password], check=True)
    extra = f"password_file {passwd}\nacl_file {ACL}\n"
    return MosquittoBroker(tmp_path / "broker", binary, extra_conf=extra, anonymous=False)


def test_gateway_can_publish_and_read_only_its_own_topics(acl_broker: MosquittoBroker) -> None:
    with (
        acl_broker,
        Recorder(acl_broker, ["nightwatch/v1/#"], username="nightwatch-dispatch", password="pd") as dispatch,
    ):
        received: list[tuple[str, bytes]] = []
        got_own = threading.Event()
        gw = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="gw-a")
        gw.username_pw_set("gw-a", "pa")

        def on_message(client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
            received.append((msg.topic, bytes(msg.payload)))
            if msg.topic == topics.downlink("gw-a"):
                got_own.set()

        gw.on_message = on_message
        gw.on_connect = lambda c, *a: c.subscribe(
            [(topics.downlink("gw-a"), 1), (topics.downlink("gw-b"), 1), (topics.uplink("gw-b"), 1)]
        )
        subscribed = threading.Event()
        gw.on_subscribe = lambda *a: subscribed.set()
        gw.connect(acl_broker.host, acl_broker.port)
        gw.loop_start()
        assert subscribed.wait(10)
        # Mosquitto grants any subscription and applies read rights per message.
        for topic in (topics.downlink("gw-b"), topics.uplink("gw-b"), topics.downlink("gw-a")):
            dispatch.client.publish(topic, b"for " + topic.encode(), qos=1).wait_for_publish(5)
        assert got_own.wait(10)
        assert received == [(topics.downlink("gw-a"), b"for " + topics.downlink("gw-a").encode())]
        for topic in (topics.uplink("gw-b"), topics.status("gw-b"), topics.downlink("gw-a"), "other/topic"):
            gw.publish(topic, b"forged", qos=1).wait_for_publish(5)
        gw.publish(topics.uplink("gw-a"), b"mine", qos=1).wait_for_publish(5)
        # One connection keeps order: once "mine" arrived, anything allowed before it would have too.
        assert dispatch.wait_for(lambda r: b"mine" in r.payloads(topics.uplink("gw-a")), 10)
        assert dispatch.payloads("nightwatch/v1/up/") == [b"mine"]
        assert dispatch.payloads("nightwatch/v1/gw/") == [] and dispatch.payloads("other") == []
        gw.disconnect()
        gw.loop_stop()


def test_real_gateway_works_under_the_acl(tmp_path: Path, acl_broker: MosquittoBroker) -> None:
    udp = free_port(kind=2)
    (frame,) = frames(1)
    settings = settings_for(tmp_path, acl_broker.port, udp, id="gw-a", username="gw-a", password="pa")
    with (
        acl_broker,
        Recorder(acl_broker, ["nightwatch/v1/#"], username="nightwatch-dispatch", password="pd") as dispatch,
        GatewayThread(settings) as gw,
    ):
        fwd = Forwarder(udp)
        fwd.wait_ready()
        fwd.push([rxpk(frame)])
        # The status and the first uplink race on connect (paho's thread and the loop's): wait for both.
        assert dispatch.wait_for(
            lambda r: len(r.payloads(topics.uplink("gw-a"))) == 1 and len(r.payloads(topics.status("gw-a"))) == 1,
            10,
        )
        assert json.loads(dispatch.payloads(topics.status("gw-a"))[0])["state"] == "online"
        assert gw.wait_until(lambda r: r.spool.depth == 0 and r.stats.rejected == 0, 5)
        fwd.close()
