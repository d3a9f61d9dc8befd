"""The LoRa path end to end: real UDP datagrams in, a real Mosquitto out."""

import base64
import json
import os
import random
from pathlib import Path

from basestation.gateway import topics
from harness.broker_base import Broker
from harness.forwarder import EUI, Forwarder
from harness.gateway import GatewayThread, chunks, frames, rxpk, settings_for
from harness.ports import free_port
from harness.recorder import Recorder
from tests.gateway.schema_check import errors

SCHEMA = json.loads((Path(__file__).parents[2] / "docs/schemas/uplink-envelope.schema.json").read_text())
UP = topics.uplink("gw-test")


def uplinks(rec: Recorder) -> list[dict[str, object]]:
    return [json.loads(p) for p in rec.payloads(UP)]


def test_frames_forwarded_in_order_with_radio_fields_and_status(tmp_path: Path, broker: Broker) -> None:
    udp = free_port(kind=2)
    items = frames(20)
    with (
        Recorder(broker, ["nightwatch/v1/#"]) as rec,
        GatewayThread(settings_for(tmp_path, broker.port, udp)) as gw,
    ):
        fwd = Forwarder(udp)
        fwd.wait_ready()
        for group in chunks(items, 4):
            fwd.push([rxpk(f, tmst=1000 + i) for i, f in enumerate(group)])
        assert rec.wait_for(lambda r: len(r.payloads(UP)) >= 20, timeout=10)
        envs = uplinks(rec)
        assert [bytes.fromhex(str(e["frame"])) for e in envs] == items
        for env in envs:
            assert errors(SCHEMA, env) == []
            assert env["forwarder"] == EUI and env["datr"] == "SF9BW125" and env["snr"] == 7.5
        assert rec.wait_for(lambda r: len(r.payloads(topics.status("gw-test"))) >= 1, timeout=5)
        status = json.loads(rec.payloads(topics.status("gw-test"))[0])
        assert status["state"] == "online" and status["position"] == {"lat": 52.1601, "lon": 4.497}
        assert status["radios"] == ["lora"] and status["version"]
        assert gw.relay is not None and gw.relay.sink is not None
        assert gw.relay.sink.nodelay is True
        assert gw.wait_until(lambda r: r.spool.depth == 0, timeout=5)
        fwd.close()


def test_copies_within_window_suppressed_per_gateway(tmp_path: Path, broker: Broker) -> None:
    udp = free_port(kind=2)
    alarm, beat = frames(2)
    settings = settings_for(tmp_path, broker.port, udp, dedupe_window_s=30.0)
    with Recorder(broker, [UP]) as rec, GatewayThread(settings) as gw:
        fwd = Forwarder(udp)
        other = Forwarder(udp, eui="00000000000000aa")
        fwd.wait_ready()
        for _ in range(10):  # a burst heard by two forwarders of this gateway
            fwd.push([rxpk(alarm)])
            other.push([rxpk(alarm, rssi=-120, lsnr=-5.0)])
        fwd.push([rxpk(beat)])
        fwd.pull()
        assert rec.wait_for(lambda r: len(r.payloads(UP)) >= 2, timeout=10)
        assert [bytes.fromhex(e["frame"]) for e in map(json.loads, rec.payloads(UP))] == [alarm, beat]
        assert gw.relay is not None
        assert gw.relay.stats.duplicates == 19 and gw.relay.stats.heard["lora"] == 21
        fwd.close()
        other.close()


def _junk(rng: random.Random, good: bytes) -> bytes:
    """One malformed datagram of a kind picked at random: each is refused, none may stop the listener."""
    hdr = bytes((2, rng.randrange(256), rng.randrange(256), 0)) + bytes.fromhex(EUI)
    kind = rng.randrange(8)
    if kind == 0:
        return os.urandom(rng.randrange(0, 64))  # noise (first byte 2 is possible: then still refused)
    if kind == 1:
        return bytes((1,)) + os.urandom(20)  # protocol v1 header
    if kind == 2:
        return hdr + b'{"rxpk":['  # truncated JSON
    if kind == 3:
        return hdr + json.dumps({"rxpk": [{"data": "%%%"}]}).encode()  # bad base64
    if kind == 4:
        return hdr + json.dumps({"rxpk": [rxpk(good[:20])]}).encode()  # wrong frame length
    if kind == 5:
        return hdr + json.dumps({"rxpk": [rxpk(b"\x99" + good[1:])]}).encode()  # wrong frame version
    if kind == 6:
        return hdr + json.dumps({"rxpk": [rxpk(good, stat=-1)]}).encode()  # CRC failed
    return bytes((2, 0, 0, 0x07)) + os.urandom(8)  # unknown identifier


def test_ten_thousand_malformed_datagrams_do_not_stop_forwarding(tmp_path: Path, broker: Broker) -> None:
    udp = free_port(kind=2)
    good = frames(50)
    rng = random.Random(4)
    with Recorder(broker, [UP]) as rec, GatewayThread(settings_for(tmp_path, broker.port, udp)) as gw:
        fwd = Forwarder(udp)
        fwd.wait_ready()
        sent_junk = 0
        for i, frame in enumerate(good):
            for _ in range(200):
                fwd.send_raw(_junk(rng, frame))
                sent_junk += 1
            # The PULL_ACK is a barrier (datagrams are handled in order) that also keeps the socket's
            # receive buffer from overflowing: a dropped datagram would be the kernel's, not ours.
            fwd.pull()
            fwd.push([rxpk(frame, tmst=i)])
        fwd.pull()
        assert sent_junk == 10_000
        assert rec.wait_for(lambda r: len(r.payloads(UP)) >= 50, timeout=20)
        assert [bytes.fromhex(json.loads(p)["frame"]) for p in rec.payloads(UP)] == good
        assert gw.relay is not None
        counted = sum(gw.relay.stats.malformed.values())
        assert counted == 10_000, dict(gw.relay.stats.malformed)
        fwd.close()


def test_lora_downlink_goes_to_the_forwarder_that_heard_best_and_tx_ack_is_published(
    tmp_path: Path, broker: Broker
) -> None:
    udp = free_port(kind=2)
    (frame,) = frames(1)
    with (
        Recorder(broker, [topics.txack("gw-test")]) as rec,
        GatewayThread(settings_for(tmp_path, broker.port, udp)) as gw,
    ):
        near = Forwarder(udp, eui="00000000000000a1")
        far = Forwarder(udp, eui="00000000000000b2")
        near.wait_ready()
        far.pull()
        far.push([rxpk(frame, tmst=5_000_000, lsnr=-12.0, rssi=-125)])
        near.push([rxpk(frame, tmst=7_000_000, lsnr=9.0, rssi=-80)])
        ack = "11" + "ab" * 15
        down = topics.downlink("gw-test")
        # The gateway's session is clean: a downlink sent before it subscribed would be lost.
        assert gw.wait_until(lambda r: r.sink is not None and r.sink.subscribed.is_set(), 10)
        # At once, on the rings' receive channel, through the forwarder that heard the uplink best.
        rec.client.publish(down, json.dumps({"id": "dl-1", "frame": ack, "uplink": frame.hex()}), qos=1)
        token, txpk = near.receive_pull_resp()
        assert txpk["imme"] is True and txpk["freq"] == 869.525 and txpk["datr"] == "SF9BW125"
        assert txpk["ipol"] is True and txpk["size"] == 16
        assert base64.b64decode(txpk["data"]) == bytes.fromhex(ack)
        near.send_tx_ack(token, "NONE")
        # Timed on the uplink's tmst at that forwarder; this one the forwarder refuses.
        timed = {"id": "dl-3", "frame": ack, "uplink": frame.hex(), "delay_ms": 1000}
        rec.client.publish(down, json.dumps(timed), qos=1)
        token, txpk = near.receive_pull_resp()
        assert txpk["imme"] is False and txpk["tmst"] == 7_000_000 + 1_000_000
        near.send_tx_ack(token, "TOO_LATE")
        # A request the gateway cannot route is answered, not dropped.
        rec.client.publish(down, json.dumps({"id": "dl-2", "frame": ack}), qos=1)
        rec.client.publish(down, b"{junk", qos=1)
        assert rec.wait_for(lambda r: len(r.payloads(topics.txack("gw-test"))) >= 4, timeout=10)
        results = {json.loads(p)["id"]: json.loads(p) for p in rec.payloads(topics.txack("gw-test"))}
        assert results["dl-1"]["result"] == "NONE" and results["dl-1"]["forwarder"] == "00000000000000a1"
        assert results["dl-3"]["result"] == "TOO_LATE"
        assert results["dl-2"]["result"] == "no_route"
        assert results[None]["result"] == "json"
        assert gw.relay is not None and gw.relay.stats.txack == {"NONE": 1, "TOO_LATE": 1}
        assert gw.relay.stats.downlinks["sent"] == 2
        near.close()
        far.close()
