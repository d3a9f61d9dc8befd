"""Downlinks on a real Mosquitto: a broker's refusal (an MQTT 5 PUBACK reason) is counted, logged and shown to
operators, not lost without a trace; and an alarm's ACK is never dropped from a full outbox, only heartbeats'."""

import asyncio
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from basestation.dispatch.core.effects import Downlink
from basestation.dispatch.io.bus import Message
from basestation.dispatch.io.mqtt_downlinks import DOWN_PREFIX, OUTBOX_MAX
from harness.broker_base import TEST_USERNAME
from harness.mosquitto import MosquittoBroker, mosquitto_binary
from harness.recorder import Recorder
from tests.dispatch.conftest import mqtt_settings, until, wired

pytestmark = pytest.mark.skipif(mosquitto_binary() is None, reason="needs Mosquitto (MQTT 5)")

# The dispatch account may send to the gateways the operator put in the ACL; a gateway added to the network but
# not yet to the ACL is the usual way a broker comes to refuse a downlink.
ACL = """user nightwatch-dispatch
topic read nightwatch/v1/up/+
topic read nightwatch/v1/gw/#
topic write nightwatch/v1/down/gw-listed
user viewer
topic read nightwatch/v1/down/#
"""
USERS = {"nightwatch-dispatch": "pd", "viewer": "pv"}


def _ack(n: int, gateway: str, alarm: bool) -> Downlink:
    return Downlink(gateway, {"id": f"{n}-{int(alarm)}", "frame": "00", "uplink": "00"}, alarm=alarm)


def test_a_downlink_the_broker_refuses_is_counted_logged_and_shown_to_operators(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    binary = mosquitto_binary()
    if binary is None or shutil.which("mosquitto_passwd") is None:
        pytest.skip("needs mosquitto_passwd")
    passwd, acl = tmp_path / "passwd", tmp_path / "acl"
    acl.write_text(ACL)
    for i, (user, password) in enumerate(USERS.items()):
        subprocess.run(["mosquitto_passwd", *(["-c"] if i == 0 else []), "-b", str(passwd), user, password], check=True)
    broker = MosquittoBroker(
        tmp_path / "broker", binary, extra_conf=f"password_file {passwd}\nacl_file {acl}\n", anonymous=False
    )
    with broker, Recorder(broker, [DOWN_PREFIX + "#"], username="viewer", password="pv") as rec:
        settings = mqtt_settings(
            tmp_path, broker.host, broker.port, mqtt_username="nightwatch-dispatch", mqtt_password="pd"
        )

        async def scenario() -> None:
            d, link = await wired(settings)
            await link.start()
            stream = d.bus.stream()

            async def first_notice() -> Message:
                async for msg in stream:
                    if msg.topic == "notice":
                        return msg
                raise AssertionError("the stream ended")

            # Reading before anything is published: a stream takes what comes after its first read.
            noticed = asyncio.create_task(first_notice())
            await asyncio.sleep(0.05)
            try:
                link.publish(_ack(1, "gw-unlisted", alarm=True))
                link.publish(_ack(2, "gw-listed", alarm=True))
                await until(lambda: link.figures()["downlinks_waiting"] == 0, 10)
                assert link.downlinks.refused == 1
                msg = await asyncio.wait_for(noticed, 5)
                assert msg.data["kind"] == "downlink_refused" and msg.data["subject"] == "gw-unlisted"
                assert msg.data["reason"] == 0x87 and msg.data["id"] == "1-1" and msg.data["alarm"] is True
                await until(lambda: len(d._notices) == 0, 5)
                kept = [n for n in await d.store.notices() if n["kind"] == "downlink_refused"]
                assert [n["subject"] for n in kept] == ["gw-unlisted"]
                # The connection stays: a refusal is about one message, not the session.
                assert link.connected.is_set() and link.reconnects == 0
            finally:
                await link.stop()
                await d.stop()

        asyncio.run(scenario())
        assert rec.wait_for(lambda r: len(r.payloads(DOWN_PREFIX)) == 1, 5)
        assert json.loads(rec.payloads(DOWN_PREFIX + "gw-listed")[0])["id"] == "2-1"
        assert any(
            "refused the downlink to nightwatch/v1/down/gw-unlisted: reason 0x87" in r.getMessage()
            for r in caplog.records
        )


def test_a_full_outbox_drops_heartbeat_acks_and_keeps_every_alarm_ack(tmp_path: Path) -> None:
    binary = mosquitto_binary()
    assert binary is not None
    with (
        MosquittoBroker(tmp_path / "broker", binary) as broker,
        Recorder(broker, [DOWN_PREFIX + "#"]) as rec,
    ):
        settings = mqtt_settings(tmp_path, broker.host, broker.port, mqtt_username=TEST_USERNAME)

        async def scenario() -> None:
            d, link = await wired(settings)
            try:
                # Not connected yet, as while the broker is away: everything waits in the outbox.
                for n in range(OUTBOX_MAX + 500):
                    link.publish(_ack(n, "gw-a", alarm=False))
                    if n % 1000 == 999:
                        link.publish(_ack(n, "gw-a", alarm=True))
                assert link.downlinks.dropped == 500
                assert link.figures()["downlinks_waiting"] == OUTBOX_MAX + (OUTBOX_MAX + 500) // 1000
                await link.start()
                await until(lambda: link.figures()["downlinks_waiting"] == 0, 60)
            finally:
                await link.stop()
                await d.stop()

        asyncio.run(scenario())
        expected = OUTBOX_MAX + (OUTBOX_MAX + 500) // 1000
        assert rec.wait_for(lambda r: len(r.payloads(DOWN_PREFIX)) == expected, 20)
        ids = [json.loads(p)["id"] for p in rec.payloads(DOWN_PREFIX)]
        assert sorted(i for i in ids if i.endswith("-1")) == sorted(
            f"{n}-1" for n in range(999, OUTBOX_MAX + 500, 1000)
        )
        assert not any(i in ids for i in (f"{n}-0" for n in range(OUTBOX_MAX, OUTBOX_MAX + 500)))
