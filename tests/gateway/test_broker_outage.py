"""The broker is killed for 10+ s while frames keep arriving; every frame is delivered after it returns."""

import json
import os
import time
from pathlib import Path

import pytest

from basestation.gateway import topics
from harness.broker_base import Broker
from harness.forwarder import Forwarder
from harness.gateway import GatewayThread, frames, rxpk, settings_for
from harness.mosquitto import MosquittoBroker
from harness.ports import free_port
from harness.recorder import Recorder

UP = topics.uplink("gw-test")
OUTAGE_S = float(os.environ.get("NIGHTWATCH_TEST_OUTAGE_S", "10.5"))


def delivered(rec: Recorder) -> list[bytes]:
    return [bytes.fromhex(json.loads(p)["frame"]) for p in rec.payloads(UP)]


def first_copies(items: list[bytes]) -> list[bytes]:
    # QoS 1 is at least once: a frame in flight when the broker died may arrive twice. Order counts by
    # first arrival.
    return list(dict.fromkeys(items))


def test_broker_killed_while_frames_keep_arriving(tmp_path: Path, broker: Broker) -> None:
    if not broker.persistent:
        pytest.skip("needs a broker that keeps the subscriber's session across a kill (Mosquitto)")
    assert isinstance(broker, MosquittoBroker)
    udp = free_port(kind=2)
    during = frames(int(OUTAGE_S * 20), first_counter=100)
    # Counters after the outage's: a 60 s outage (make soak) sends 1,200 frames from counter 100.
    before, after = frames(20), frames(20, first_counter=100 + len(during) + 100)
    with Recorder(broker, [UP], client_id="outage-recorder") as rec:
        subscribed_at = time.time()
        with GatewayThread(settings_for(tmp_path, broker.port, udp)) as gw:
            fwd = Forwarder(udp)
            fwd.wait_ready()
            for f in before:
                fwd.push([rxpk(f)])
            assert rec.wait_for(lambda r: len(r.payloads(UP)) >= len(before), timeout=10)
            # The broker must have saved the recorder's session to disk, or a restarted broker would have
            # nobody to queue the replay for.
            assert gw.wait_until(lambda r: broker.saved_after(subscribed_at), timeout=5)

            broker.kill()
            down_at = time.monotonic()
            for i, f in enumerate(during):  # 20 frames a second for the whole outage
                fwd.push([rxpk(f, tmst=i)])
                time.sleep(max(0.0, down_at + (i + 1) / 20 - time.monotonic()))  # pacing a radio, not waiting
            assert time.monotonic() - down_at >= 10.0
            assert gw.wait_until(lambda r: r.spool.depth >= len(during), timeout=5), gw.call(gw.relay.snapshot)  # type: ignore[union-attr]
            assert gw.relay is not None and not gw.relay.sink.connected.is_set()  # type: ignore[union-attr]

            broker.start()
            for f in after:  # frames keep arriving while the gateway reconnects and replays
                fwd.push([rxpk(f)])
            want = before + during + after
            assert rec.wait_for(lambda r: set(want) <= set(delivered(r)), timeout=30)
            assert first_copies(delivered(rec)) == want
            assert gw.wait_until(lambda r: r.spool.depth == 0, timeout=10)
            assert gw.relay.stats.acknowledged >= len(want)
            fwd.close()
