"""The link's persistent session on a real Mosquitto: messages the broker queued while the service was away come
right behind the CONNACK, before the SUBACK that completes the link's connect. Each one handled is acknowledged
on that connection, so a later connection of the same session gets none of them again."""

import asyncio
import time
from pathlib import Path

import pytest

from basestation.dispatch.io.migrate import upgrade
from basestation.dispatch.io.mqtt_link import MqttLink
from basestation.dispatch.service import Dispatcher
from basestation.dispatch.settings import DispatchSettings
from harness.broker_base import TEST_USERNAME
from harness.mosquitto import MosquittoBroker, mosquitto_binary
from tests.dispatch.conftest import publish_as_gateway
from tests.dispatch.world import topic

pytestmark = pytest.mark.skipif(mosquitto_binary() is None, reason="needs Mosquitto")

QUEUED = 300


def test_messages_queued_while_away_are_acknowledged_even_when_handled_before_the_suback(tmp_path: Path) -> None:
    binary = mosquitto_binary()
    assert binary is not None
    db = f"sqlite+aiosqlite:///{tmp_path / 'd.db'}"
    upgrade(db)
    with MosquittoBroker(tmp_path / "broker", binary) as broker:
        settings = DispatchSettings(
            mqtt_url=f"mqtt://{broker.host}:{broker.port}", mqtt_username=TEST_USERNAME, database_url=db
        )

        async def connect_once(wait_s: float) -> dict[str, int]:
            d = Dispatcher(settings)
            await d.start()
            link = MqttLink(settings, d)
            await link.start()
            try:
                deadline = time.monotonic() + wait_s
                while time.monotonic() < deadline and d.health()["outcomes"].get("malformed_envelope", 0) < QUEUED:
                    await asyncio.sleep(0.02)
                await asyncio.sleep(0.3)  # any redelivery would come now
                return dict(d.health()["outcomes"])
            finally:
                await link.stop()
                await d.stop()

        asyncio.run(connect_once(2))  # makes the persistent session
        # Handled at once, with nothing to commit: acknowledged in the same turn of the loop they came in.
        publish_as_gateway(broker, [(topic("gw-a"), b'{"v": 1, "not": "an envelope %d"}' % n) for n in range(QUEUED)])
        first = asyncio.run(connect_once(10))
        assert first.get("malformed_envelope") == QUEUED
        again = asyncio.run(connect_once(1))
        assert again.get("malformed_envelope", 0) == 0, "messages handled before the SUBACK came back"
