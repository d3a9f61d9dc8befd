"""deploy/mosquitto/nightwatch.acl on a real Mosquitto: a gateway publishes only to its own topics, and only the
dispatch service reads uplinks and other gateways' traffic."""

import asyncio
import json
import shutil
import subprocess
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from basestation.dispatch.io.migrate import upgrade
from basestation.dispatch.settings import DispatchSettings
from basestation.gateway import topics
from harness.forwarder import Forwarder
from harness.gateway import ROOT_KEY, GatewayThread, frames, rxpk, settings_for
from harness.mosquitto import MosquittoBroker, mosquitto_binary
from harness.ports import free_port
from harness.recorder import Recorder
from protocol import ack
from protocol.constants import ACK_UNAVAILABLE
from protocol.keys import DeviceKeys
from tests.dispatch.conftest import wired
from tests.dispatch.world import envelope, provision

ACL = Path(__file__).parents[2] / "deploy" / "mosquitto" / "nightwatch.acl"
# "viewer" stands for any other account on the broker: valid credentials, no rules of its own.
USERS = {"gw-a": "pa", "gw-b": "pb", "nightwatch-dispatch": "pd", "viewer": "pv"}


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


class _Listener:
    """A client that subscribes to everything it might hope to read and records what the broker gives it."""

    EVERYTHING = (
        "#",
        "nightwatch/v1/up/+",
        "nightwatch/v1/gw/#",
        "nightwatch/v1/down/#",
        "$share/g/nightwatch/v1/up/+",
    )

    def __init__(self, broker: MosquittoBroker, user: str) -> None:
        self.user = user
        self.received: list[tuple[str, bytes]] = []
        self.own_downlink = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"listen-{user}", protocol=mqtt.MQTTv5)
        self.client.username_pw_set(user, USERS[user])
        subscribed = threading.Event()
        self.client.on_connect = lambda c, *a: c.subscribe([(t, 1) for t in self.EVERYTHING])
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.on_message = self._message
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        assert subscribed.wait(10)

    def _message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        self.received.append((msg.topic, bytes(msg.payload)))
        if msg.topic == topics.downlink(self.user):
            self.own_downlink.set()

    @property
    def topics(self) -> list[str]:
        return [t for t, _ in self.received]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _publisher(broker: MosquittoBroker, user: str) -> mqtt.Client:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{user}")
    c.username_pw_set(user, USERS[user])
    c.connect(broker.host, broker.port)
    c.loop_start()
    return c


def test_only_the_dispatch_service_reads_uplinks_and_other_gateways_traffic(acl_broker: MosquittoBroker) -> None:
    with (
        acl_broker,
        Recorder(
            acl_broker,
            ["nightwatch/v1/up/+", "nightwatch/v1/gw/+/status"],
            username="nightwatch-dispatch",
            password="pd",
        ) as dispatch,
    ):
        gw_a, viewer = _Listener(acl_broker, "gw-a"), _Listener(acl_broker, "viewer")
        gw_b = _publisher(acl_broker, "gw-b")
        for topic, payload in ((topics.status("gw-b"), b'{"state":"online"}'), (topics.uplink("gw-b"), b"b-up")):
            gw_b.publish(topic, payload, qos=1).wait_for_publish(5)
        gw_a.client.publish(topics.uplink("gw-a"), b"a-up", qos=1).wait_for_publish(5)
        # Each listener's own downlink goes last: Mosquitto delivers to one client in order, so once it arrived,
        # anything the ACL let through before it would have arrived too.
        for gw in ("gw-b", "gw-a", "viewer"):
            dispatch.client.publish(topics.downlink(gw), b"down", qos=1).wait_for_publish(5)
        assert gw_a.own_downlink.wait(10) and viewer.own_downlink.wait(10)
        # Overlapping subscriptions may each deliver a copy: compare what arrived, not how often.
        assert set(gw_a.topics) == {topics.downlink("gw-a")}  # not even its own uplink comes back
        assert set(viewer.topics) == {topics.downlink("viewer")}
        assert dispatch.wait_for(lambda r: len(r.messages) == 3, 10)
        assert sorted(t for t, _, _ in dispatch.messages) == sorted(
            [topics.status("gw-b"), topics.uplink("gw-b"), topics.uplink("gw-a")]
        )
        for c in (gw_a, viewer):
            c.close()
        gw_b.loop_stop()
        gw_b.disconnect()


def _connect_reason(broker: MosquittoBroker, user: str | None, password: str | None) -> object:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="intruder", protocol=mqtt.MQTTv311)
    if user is not None:
        c.username_pw_set(user, password)
    reasons: list[object] = []
    done = threading.Event()

    def on_connect(client: mqtt.Client, userdata: object, flags: object, reason: object, props: object) -> None:
        reasons.append(reason)
        done.set()

    c.on_connect = on_connect
    c.connect(broker.host, broker.port)
    c.loop_start()
    try:
        assert done.wait(10)
    finally:
        c.loop_stop()
        c.disconnect()
    return reasons[0]


def test_the_broker_refuses_anonymous_and_wrong_passwords(acl_broker: MosquittoBroker) -> None:
    with acl_broker:
        assert not getattr(_connect_reason(acl_broker, "gw-a", "pa"), "is_failure", True)  # the control
        for user, password in ((None, None), ("gw-a", "wrong"), ("nobody", "pa")):
            reason = _connect_reason(acl_broker, user, password)
            assert getattr(reason, "is_failure", False), (user, reason)


def test_the_dispatch_service_works_under_the_acl_with_its_default_user(
    tmp_path: Path, acl_broker: MosquittoBroker
) -> None:
    """The real service, its user name left at the default, reads an alarm and answers through the gateway."""
    db = f"sqlite+aiosqlite:///{tmp_path / 'd.db'}"
    upgrade(db)
    (frame,) = frames(1, device_id=42)
    asyncio.run(provision(db, {42: ROOT_KEY}))
    settings = DispatchSettings(
        mqtt_url=f"mqtt://{acl_broker.host}:{acl_broker.port}",
        mqtt_password=USERS["nightwatch-dispatch"],
        database_url=db,
    )
    assert settings.mqtt_username == "nightwatch-dispatch"

    async def scenario(gw: _Listener) -> None:
        d, link = await wired(settings)
        try:
            await link.start()
            gw.client.publish(topics.uplink("gw-a"), envelope(frame, "gw-a"), qos=1)
            assert await asyncio.to_thread(gw.own_downlink.wait, 10), "no ACK came back through the gateway"
            assert "42-1" in d.state.incidents
        finally:
            await link.stop()
            await d.stop()

    with acl_broker:
        gw = _Listener(acl_broker, "gw-a")
        try:
            asyncio.run(scenario(gw))
        finally:
            gw.close()
    assert set(gw.topics) == {topics.downlink("gw-a")}
    doc = json.loads(gw.received[0][1])
    # No responder is registered here: the ring is told at once that nobody can come (docs/lifecycle.md).
    assert ack.decode(DeviceKeys(ROOT_KEY), bytes.fromhex(doc["frame"]), 1).state == ACK_UNAVAILABLE
