"""The mirror broker without the network: its setting, its own spool beside the primary's, the relay writing every
frame to both, bounds and priorities applied to each, per-broker stats, and downlink copies carried out once."""

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from basestation.gateway import cli
from basestation.gateway.record import ReceivedFrame
from basestation.gateway.relay import Relay
from basestation.gateway.settings import GatewaySettings
from basestation.gateway.spool import Spool
from harness.gateway import ROOT_KEY, settings_for
from nightwatch.cli import app
from protocol import uplink
from protocol.constants import EVENT_HEARTBEAT, EVENT_SOS
from protocol.keys import DeviceKeys

KEYS = DeviceKeys(ROOT_KEY)
MIRROR = "mqtt://mirror.example:1884"


def test_mirror_from_the_environment_shares_credentials_and_tls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NIGHTWATCH_GATEWAY_MQTT_MIRROR", "mqtt://mirror.example")
    s = GatewaySettings(id="gw-1", mqtt="mqtts://primary.example", tls_ca=Path("/ca.pem"), spool=Path("/d/s.sqlite3"))
    primary, mirror = s.brokers
    assert (primary.name, primary.host, primary.port, primary.tls) == ("primary", "primary.example", 8883, True)
    # The CA bundle turns TLS on for both, as it does for the primary alone (docs/gateway.md).
    assert (mirror.name, mirror.host, mirror.port, mirror.tls) == ("mirror", "mirror.example", 1883, True)
    assert s.mirror_spool == Path("/d/s.mirror.sqlite3")
    assert GatewaySettings(id="gw-1", spool=Path("spool")).mirror_spool == Path("spool.mirror")
    assert len(GatewaySettings(id="gw-1", mqtt_mirror=None).brokers) == 1


@pytest.mark.parametrize(
    "mirror",
    [
        "http://mirror.example",
        "mqtt://mirror.example:99999",
        "mqtt://user:secret@mirror.example",
        "mqtt://127.0.0.1:1883",  # the primary itself, spelt out
        "mqtt://127.0.0.1",  # the primary itself, default port
    ],
)
def test_refused_mirrors(mirror: str) -> None:
    with pytest.raises(ValidationError):
        GatewaySettings(id="gw-1", mqtt="mqtt://127.0.0.1:1883", mqtt_mirror=mirror)


def test_cli_takes_the_mirror(monkeypatch: pytest.MonkeyPatch) -> None:
    got: list[GatewaySettings] = []

    async def main(settings: GatewaySettings) -> None:
        got.append(settings)

    monkeypatch.setattr(cli, "_main", main)
    runner = CliRunner()
    assert runner.invoke(app, ["gateway", "--id", "gw-1", "--mqtt-mirror", MIRROR]).exit_code == 0
    assert got[0].mqtt_mirror == MIRROR
    assert runner.invoke(app, ["gateway", "--id", "gw-1", "--mqtt-mirror", "http://x"]).exit_code == 2


def lora(frame: bytes, t: float) -> ReceivedFrame:
    return ReceivedFrame(frame, "lora", t, rssi=-100.0, tmst=int(t * 1e6), forwarder="00000000000000a1")


def mirrored(tmp_path: Path, now: list[float], max_frames: int = 100_000) -> Relay:
    settings = settings_for(tmp_path, 1, mqtt_mirror=MIRROR)
    primary = Spool(settings.spool, max_frames=max_frames, young_s=15.0)
    mirror = Spool(settings.mirror_spool, max_frames=max_frames, young_s=15.0)
    return Relay(settings, primary, clock=lambda: now[0], monotonic=lambda: now[0], mirror=mirror)


def payloads(spool: Spool) -> list[bytes]:
    return [p for _, p in spool.after(0, 1000)]


def test_every_frame_goes_to_both_spools_in_one_pass(tmp_path: Path) -> None:
    now = [1000.0]
    relay = mirrored(tmp_path, now)
    primary, mirror = (p.spool for p in relay.paths)
    sos = uplink.encode(KEYS, uplink.Uplink(500, 7, EVENT_SOS, 90, 0, 0, 0))
    beat = uplink.encode(KEYS, uplink.Uplink(1, 8, EVENT_HEARTBEAT, 90, 60, 0, 0))
    relay.on_frames([lora(sos, now[0]), lora(beat, now[0]), lora(sos, now[0])])  # the last is a copy
    assert payloads(primary) == payloads(mirror) and len(payloads(primary)) == 2
    assert relay.stats.forwarded == 2 and relay.stats.duplicates == 1
    # Its second copy showed the device repeats this counter: protected in both spools.
    assert primary.protected() == mirror.protected() == 1
    assert Path(tmp_path / "spool.mirror.sqlite3").exists()


def test_each_spool_is_bounded_on_its_own(tmp_path: Path) -> None:
    now = [1000.0]
    relay = mirrored(tmp_path, now, max_frames=6)
    primary, mirror = (p.spool for p in relay.paths)
    sos = [uplink.encode(KEYS, uplink.Uplink(500, 7, EVENT_SOS, 90, 0, age, 0)) for age in (0, 20)]
    beats = [uplink.encode(KEYS, uplink.Uplink(c, 8, EVENT_HEARTBEAT, 90, 60, 0, 0)) for c in range(1, 20)]
    heard = [sos[0], *beats[:5], sos[1], *beats[5:]]
    for frame in heard:
        relay.on_frames([lora(frame, now[0])])
        # The primary's broker acknowledges everything; the mirror's is down and its spool fills.
        primary.remove([seq for seq, _ in primary.after(0, 1000)])
        now[0] += 10.0
    assert primary.depth == 0 and primary.evicted == 0
    kept = [bytes.fromhex(json.loads(p)["frame"]) for p in payloads(mirror)]
    assert mirror.depth == 6 and mirror.evicted == len(heard) - 6
    assert [f for f in kept if f in sos] == sos  # the alarm's copies stay; only heartbeats were shed
    snap = relay.snapshot()
    assert (snap["spool_depth"], snap["spool_evicted"]) == (0, 0)
    assert (snap["mirror"]["spool_depth"], snap["mirror"]["spool_evicted"]) == (6, len(heard) - 6)
    assert snap["mirror"]["spool_oldest_age_s"] > 0 and snap["spool_oldest_age_s"] is None


def test_stats_keep_the_primary_at_the_top_and_the_mirror_beside_it(tmp_path: Path) -> None:
    now = [1000.0]
    relay = mirrored(tmp_path, now)
    relay.paths[1].counts.acknowledged = 7  # as the mirror's sink counts its PUBACKs
    snap = relay.snapshot()
    per_broker = {
        "spool_depth",
        "spool_oldest_age_s",
        "spool_evicted",
        "inflight",
        "acknowledged",
        "rejected",
        "mqtt_connected",
        "mqtt_connect_failures",
    }
    assert set(snap["mirror"]) == per_broker and per_broker < set(snap)
    assert (snap["acknowledged"], snap["mirror"]["acknowledged"]) == (0, 7)
    json.dumps(snap)  # it is published as JSON
    alone = Relay(settings_for(tmp_path / "one", 1), Spool(tmp_path / "one.db"))
    assert "mirror" not in alone.snapshot()


def test_a_mirror_spool_goes_with_a_mirror_broker(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="mirror"):
        Relay(settings_for(tmp_path, 1), Spool(tmp_path / "a.db"), mirror=Spool(tmp_path / "b.db"))
    with pytest.raises(ValueError, match="mirror"):
        Relay(settings_for(tmp_path, 1, mqtt_mirror=MIRROR), Spool(tmp_path / "a.db"))


def downlink(ident: Any) -> bytes:
    return json.dumps({"id": ident, "frame": "11" + "ab" * 15, "forwarder": "00000000000000a1"}).encode()


@pytest.mark.parametrize(
    ("copies", "outcomes"),
    [
        # The same request from both brokers: one outcome, one duplicate.
        ([downlink("a"), downlink("a")], {"no_forwarder": 1, "duplicate": 1}),
        ([downlink("a"), downlink("b"), downlink("a"), downlink("b")], {"no_forwarder": 2, "duplicate": 2}),
        # A refused request is refused once too: its id is read before it is checked.
        ([downlink("bad id"), downlink("bad id")], {"id": 1, "duplicate": 1}),
        # No id to know a copy by: each copy is refused, and reported, on its own.
        ([b"{junk", b"{junk"], {"json": 2}),
        ([downlink(None), downlink(None)], {"id": 2}),
    ],
)
def test_downlink_copies_are_carried_out_once(tmp_path: Path, copies: list[bytes], outcomes: dict[str, int]) -> None:
    now = [1000.0]
    relay = mirrored(tmp_path, now)  # no forwarder (udp is None): every request ends as no_forwarder
    for payload in copies:
        relay.on_downlink(payload)
        now[0] += 0.05
    assert relay.stats.downlinks == outcomes


def test_a_downlink_copy_after_the_memory_is_carried_out_again(tmp_path: Path) -> None:
    now = [1000.0]
    relay = mirrored(tmp_path, now)
    relay.on_downlink(downlink("a"))
    now[0] += relay.downlink_ids.memory_s
    relay.on_downlink(downlink("a"))
    assert relay.stats.downlinks == {"no_forwarder": 2}
