"""The gateway's paho link black-holed by a middlebox (tests/blackhole.py): frames heard meanwhile are spooled,
paho's keepalive notices that the broker stopped answering, and after the reconnect every frame reaches the
broker. Real Mosquitto, real sockets, the real gateway in a thread."""

import json
import time
from pathlib import Path

from basestation.gateway import topics
from harness.broker_base import Broker
from harness.forwarder import Forwarder
from harness.gateway import GatewayThread, frames, rxpk, settings_for
from harness.ports import free_port
from harness.recorder import Recorder
from tests.blackhole import Blackhole

UP = topics.uplink("gw-test")
KEEPALIVE_S = 5  # the gateway's least (GatewaySettings.mqtt_keepalive_s)
# paho sends a PINGREQ after a keepalive of quiet and gives up a keepalive later without a PINGRESP; then its
# reconnect delay (1-2 s) and the resends. Generous on a busy machine: four keepalives.
NOTICE_BOUND_S = 4 * KEEPALIVE_S


def delivered(rec: Recorder) -> list[bytes]:
    return [bytes.fromhex(json.loads(p)["frame"]) for p in rec.payloads(UP)]


def test_frames_heard_during_a_blackout_are_spooled_and_delivered_after_paho_reconnects(
    tmp_path: Path, broker: Broker
) -> None:
    udp = free_port(kind=2)
    before, during = frames(5), frames(10, first_counter=100)
    with (
        Blackhole(broker.host, broker.port) as hole,
        Recorder(broker, [UP], client_id="blackout-recorder") as rec,
        GatewayThread(settings_for(tmp_path, hole.port, udp, mqtt_keepalive_s=KEEPALIVE_S)) as gw,
    ):
        fwd = Forwarder(udp)
        fwd.wait_ready()
        for f in before:
            fwd.push([rxpk(f)])
        assert rec.wait_for(lambda r: set(before) <= set(delivered(r)), timeout=10)
        assert gw.wait_until(lambda r: r.spool.depth == 0, timeout=10)

        [swallowed] = hole.swallow()
        blackout = time.monotonic()
        for i, f in enumerate(during):
            fwd.push([rxpk(f, tmst=i)])
        # paho took them and wrote them into the hole; the spool keeps every one until a PUBACK.
        assert gw.wait_until(lambda r: r.spool.depth == len(during), timeout=5)
        assert rec.wait_for(lambda r: set(during) <= set(delivered(r)), timeout=NOTICE_BOUND_S)
        took = time.monotonic() - blackout
        assert gw.wait_until(lambda r: r.spool.depth == 0, timeout=10)
        assert hole.accepted == 2  # one reconnect, through the proxy
        assert UP.encode() in swallowed.swallowed_up  # the first attempt went into the hole
        fwd.close()
    print(f"gateway: frames of the blackout delivered {took:.1f} s after it began, keepalive {KEEPALIVE_S} s")
