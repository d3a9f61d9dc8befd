"""Real-time mode end to end: a small Leiden scenario for a few seconds against a real broker (Mosquitto from
harness/brokers.py, amqtt only when no mosquitto binary exists), the real dispatch service in its own process, the
real gateway relays (Semtech UDP from FakePacketForwarder, BLE through the fake bleak adapter) and the rings'
real firmware logic. No timing assertions: the speed is the benchmark's (bench/e2e_bench.py)."""

import itertools
import json
from collections.abc import Iterator

import pytest

from harness.broker_base import Broker
from harness.brokers import start_broker
from harness.mosquitto import MosquittoBroker
from simulator.chain import live_hop_times as hop_times
from simulator.realtime.run import Options, Result, run
from simulator.scenario import load
from tests.simulator.scenes import small

# The services stamp whole milliseconds (a gateway's rx_time_ms, an incident's opened_ms), the run's clock
# fractions of one: two stamps of one instant may differ by up to a millisecond.
STAMP_MS = 1.0


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    with start_broker(tmp_path_factory.mktemp("broker")) as b:
        yield b


@pytest.fixture(scope="module")
def result(broker: Broker, tmp_path_factory: pytest.TempPathFactory) -> Result:
    path = tmp_path_factory.mktemp("scenario") / "rt.toml"
    # No false alarms: every alarm is to be accepted and answered with "help on the way".
    path.write_text(small(rings=80, exact="alarm").replace("false_share = 0.3", "false_share = 0.0"))
    protocol = 5 if isinstance(broker, MosquittoBroker) else 4
    opts = Options(rate=1.5, seconds=4, broker="external", mqtt_port=broker.port, mqtt_protocol=protocol)
    return run(load(str(path)), opts, tmp_path_factory.mktemp("out"))


def test_every_alarm_reaches_a_responder_and_the_ring_hears_help(result: Result) -> None:
    traces = result.traces
    assert len(traces) == 6
    for t in traces:
        assert t.recognised_ms is not None, t
        assert t.dispatch_ms is not None, f"no incident for {t.incident_id}"
        assert t.push_ms is not None and t.responder, f"{t.incident_id} never reached a responder"
        assert t.accept_ms is not None
        assert t.ack_ring_ms is not None, f"ring {t.device_id} never verified an ACK"
        assert t.help_ring_ms is not None, f"ring {t.device_id} never heard 'help on the way'"
        assert "accepted" in t.states
    a = result.summary["alarms"]
    assert a["incidents"] == a["help_on_ring"] == a["pressed"] == 6


def test_every_hop_has_timestamps_in_order(result: Result) -> None:
    for t in result.traces:
        first = t.radios[t.first_radio]
        assert first.on_air_ms is not None and first.gateway_rx_ms is not None and first.broker_ms is not None
        assert t.recognised_ms is not None and t.dispatch_ms is not None and t.push_ms is not None
        assert t.accept_ms is not None and t.help_ring_ms is not None and t.help_downlink_ms is not None
        chain = [
            t.pressed_ms,
            t.recognised_ms,
            first.on_air_ms,
            first.gateway_rx_ms,
            t.dispatch_ms,
            t.push_ms,
            t.accept_ms,
            t.help_downlink_ms,
            t.help_ring_ms,
        ]
        assert all(b >= a - STAMP_MS for a, b in itertools.pairwise(chain)), (t.incident_id, chain)
        assert first.broker_ms >= first.gateway_rx_ms - STAMP_MS  # the broker delivered what the gateway heard
        for radio in ("ble", "lora"):
            hops = hop_times(t, radio)
            if hops is not None:
                assert hops["air"] > 0  # the radio's delay was waited out, not skipped


def test_the_report_has_both_radios_and_the_bare_broker_hop(result: Result) -> None:
    s = result.summary
    names = {f.name for f in result.files}
    assert {"latency.png", "hops.png", "summary.json", "summary.md"} <= names
    assert json.loads(next(f for f in result.files if f.name == "summary.json").read_text())["mode"] == "realtime"
    lat = s["latency_ms"]
    # The small city has BLE scanners and LoRa gateways by its centre: both radios carry first copies.
    assert lat["lora"]["press_to_screen"]["n"] >= 1 and lat["ble"]["press_to_screen"]["n"] >= 1
    assert s["bare_broker_hop_ms"]["n"] > 0
    assert s["ratios_to_bare_broker_hop"]["broker_to_screen_p50_x_bare"] is not None
