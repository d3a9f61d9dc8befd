"""A gateway with a mirror broker (docs/gateway.md, "Mirror broker"): two private Mosquittos, the real gateway in a
thread, real Semtech UDP datagrams. One broker is SIGKILLed while frames stream in: the other gets every frame
without a pause, and the killed one gets every frame from its own spool once it is back. A downlink the dispatch
service publishes on both brokers goes on air once."""

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from basestation.gateway import topics
from basestation.gateway.broker_paths import BrokerPath
from basestation.gateway.relay import Relay
from harness.forwarder import Forwarder
from harness.gateway import GatewayThread, frames, rxpk, settings_for
from harness.mosquitto import MosquittoBroker, mosquitto_binary
from harness.ports import free_port
from harness.recorder import Recorder

GW = "gw-test"
UP = topics.uplink(GW)
N = 200
RATE_HZ = 50  # a busy city gateway hears tens of frames a second
KILL_AT = 60  # frames sent before the kill; the other 140 (2.8 s) stream while the broker is down
WORST_DELAY_S = 1.0  # on the surviving path, from the datagram sent to the frame at the subscriber


class TimedRecorder(Recorder):
    """A Recorder that also notes when each uplink frame first arrived (time.monotonic())."""

    def __init__(self, broker: MosquittoBroker, client_id: str) -> None:
        super().__init__(broker, [UP], client_id=client_id)
        self.arrived: dict[bytes, float] = {}
        self.order: list[bytes] = []

    def _message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        # Noted before the base class wakes its waiters, so a waiter sees the time too.
        frame = bytes.fromhex(json.loads(msg.payload)["frame"])
        if frame not in self.arrived:
            self.arrived[frame] = time.monotonic()
            self.order.append(frame)
        super()._message(client, userdata, msg)

    def has(self, want: list[bytes]) -> bool:
        return set(want) <= self.arrived.keys()

    def __enter__(self) -> "TimedRecorder":
        super().__enter__()
        return self

    def wait_has(self, want: list[bytes], timeout: float) -> bool:
        return self.wait_for(lambda _: self.has(want), timeout)


@pytest.fixture
def brokers(tmp_path: Path) -> Iterator[dict[str, MosquittoBroker]]:
    binary = mosquitto_binary()
    if binary is None:
        pytest.skip("needs Mosquitto: a broker that keeps its subscribers' sessions across a kill")
    with (
        MosquittoBroker(tmp_path / "primary", binary) as primary,
        MosquittoBroker(tmp_path / "mirror", binary) as mirror,
    ):
        yield {"primary": primary, "mirror": mirror}


def path(relay: Relay, name: str) -> BrokerPath:
    return next(p for p in relay.paths if p.name == name)


def mirrored(tmp_path: Path, brokers: dict[str, MosquittoBroker], udp: int) -> GatewayThread:
    mirror = f"mqtt://127.0.0.1:{brokers['mirror'].port}"
    return GatewayThread(settings_for(tmp_path, brokers["primary"].port, udp, mqtt_mirror=mirror))


@pytest.mark.parametrize("victim", ["primary", "mirror"])
def test_a_killed_broker_holds_up_nothing_on_the_other_and_catches_up_from_its_own_spool(
    tmp_path: Path, brokers: dict[str, MosquittoBroker], victim: str
) -> None:
    survivor = "mirror" if victim == "primary" else "primary"
    udp = free_port(kind=2)
    sent = frames(N)
    sent_at: dict[bytes, float] = {}
    with (
        TimedRecorder(brokers["primary"], "two-brokers-primary") as rec_primary,
        TimedRecorder(brokers["mirror"], "two-brokers-mirror") as rec_mirror,
    ):
        recs = {"primary": rec_primary, "mirror": rec_mirror}
        subscribed_at = time.time()
        with mirrored(tmp_path, brokers, udp) as gw:
            assert gw.wait_until(lambda r: len(r.sinks) == 2 and all(s.subscribed.is_set() for s in r.sinks), 10)
            # A restarted broker must find the recorder's session on disk, or it has nobody to queue for.
            assert gw.wait_until(lambda r: all(b.saved_after(subscribed_at) for b in brokers.values()), 5)
            fwd = Forwarder(udp)
            fwd.wait_ready()
            next_at = time.monotonic()
            for i, frame in enumerate(sent):
                if i == KILL_AT:
                    # Killed between two frames, once its subscriber has every frame so far: what a broker
                    # acknowledged but had not yet passed on when SIGKILLed is lost by the broker, and that is
                    # its own durability (docs/mqtt.md), not what this test is about.
                    assert recs[victim].wait_has(sent[:KILL_AT], 5)
                    brokers[victim].kill()
                    next_at = time.monotonic()
                sent_at[frame] = time.monotonic()
                fwd.push([rxpk(frame, tmst=i)])
                next_at += 1 / RATE_HZ
                time.sleep(max(0.0, next_at - time.monotonic()))  # pacing a radio, not waiting for anything

            assert recs[survivor].wait_has(sent, 5)
            delays = [recs[survivor].arrived[f] - sent_at[f] for f in sent]
            during = delays[KILL_AT:]
            print(
                f"\n{victim} killed: {survivor} got all {N} frames, worst {max(delays) * 1000:.1f} ms "
                f"(worst while {victim} was down {max(during) * 1000:.1f} ms, median "
                f"{sorted(during)[len(during) // 2] * 1000:.1f} ms)"
            )
            assert max(delays) < WORST_DELAY_S
            assert gw.wait_until(lambda r: path(r, survivor).spool.depth == 0, 5)
            assert gw.wait_until(lambda r: path(r, victim).spool.depth >= N - KILL_AT, 5)
            assert not recs[victim].has(sent[KILL_AT:])
            snap = gw.call(gw.relay.snapshot)  # type: ignore[union-attr]
            down = snap if victim == "primary" else snap["mirror"]
            assert down["spool_depth"] >= N - KILL_AT and down["mqtt_connected"] is False

            back = time.monotonic()
            brokers[victim].start()
            assert recs[victim].wait_has(sent, 30)
            print(
                f"{victim} back: its {N - KILL_AT} spooled frames arrived "
                f"{time.monotonic() - back:.1f} s after its start"
            )
            assert recs[victim].order == sent  # in order: paho's resends, then the spool
            assert recs[survivor].order == sent
            assert gw.wait_until(lambda r: all(p.spool.depth == 0 for p in r.paths), 10)
            snap = gw.call(gw.relay.snapshot)  # type: ignore[union-attr]
            for figures in (snap, snap["mirror"]):
                assert figures["spool_depth"] == 0 and figures["inflight"] == 0
                assert figures["acknowledged"] >= N and figures["rejected"] == 0
            assert snap["forwarded"] == N
            fwd.close()


def test_a_downlink_published_on_both_brokers_is_transmitted_once(
    tmp_path: Path, brokers: dict[str, MosquittoBroker]
) -> None:
    udp = free_port(kind=2)
    (uplink,) = frames(1)
    ack = "11" + "ab" * 15
    txack, down = topics.txack(GW), topics.downlink(GW)
    with (
        Recorder(brokers["primary"], [txack]) as rec_primary,
        Recorder(brokers["mirror"], [txack]) as rec_mirror,
        mirrored(tmp_path, brokers, udp) as gw,
    ):
        fwd = Forwarder(udp)
        fwd.wait_ready()
        fwd.push([rxpk(uplink, tmst=5_000_000)])  # the route the ACK goes back on
        # The gateway's sessions are clean: a downlink sent before it subscribed would be lost.
        assert gw.wait_until(lambda r: len(r.sinks) == 2 and all(s.subscribed.is_set() for s in r.sinks), 10)
        request = json.dumps({"id": "dl-both", "frame": ack, "uplink": uplink.hex()})
        for rec in (rec_primary, rec_mirror):  # as the dispatch service does
            rec.client.publish(down, request, qos=1)
        token, txpk = fwd.receive_pull_resp()
        assert base64.b64decode(txpk["data"]) == bytes.fromhex(ack)
        assert gw.wait_until(lambda r: r.stats.downlinks == {"sent": 1, "duplicate": 1}, 5)
        fwd.sock.settimeout(0.3)  # both copies were handled: a second transmission would be here already
        with pytest.raises(TimeoutError):
            fwd.receive_pull_resp()
        fwd.sock.settimeout(5.0)

        fwd.send_tx_ack(token, "NONE")
        for rec in (rec_primary, rec_mirror):  # one result, on each broker
            assert rec.wait_for(lambda r: len(r.payloads(txack)) >= 1, 5)
        time.sleep(0.3)  # nothing else is coming; a second result would have arrived with the first
        for rec in (rec_primary, rec_mirror):
            [result] = [json.loads(p) for p in rec.payloads(txack)]
            assert (result["id"], result["result"]) == ("dl-both", "NONE")

        # With the primary gone, a downlink that reaches the mirror alone still goes on air.
        brokers["primary"].kill()
        rec_mirror.client.publish(down, json.dumps({"id": "dl-mirror", "frame": ack, "uplink": uplink.hex()}), qos=1)
        _, txpk = fwd.receive_pull_resp()
        assert base64.b64decode(txpk["data"]) == bytes.fromhex(ack)
        assert gw.wait_until(lambda r: r.stats.downlinks == {"sent": 2, "duplicate": 1}, 5)
        fwd.close()
