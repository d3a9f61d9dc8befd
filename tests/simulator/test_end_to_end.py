"""A small city in virtual time: the real firmware's alarms are delivered, acknowledged and decode."""

import json
from pathlib import Path

import pytest

from basestation.pseudonyms.resolver import search_key
from protocol import uplink
from protocol.constants import EVENT_ESCORT, EVENT_HEARTBEAT, EVENT_SOS
from protocol.keys import DeviceKeys
from simulator.run import Result, run
from simulator.scenario import parse
from tests.simulator.scenes import small


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> Result:
    out = tmp_path_factory.mktemp("sim")
    return run(parse(small(rings=200, hours=1.0, sos=6.0)), out)


def test_alarms_are_delivered_shown_and_acknowledged(result: Result) -> None:
    traces = result.engine.traces
    assert len(traces) >= 3
    for t in traces:
        assert t.recognised_ms is not None, "the firmware recognised the gesture"
        assert t.screen_ms is not None, "the incident reached a screen"
        assert t.incident_id is not None
        # Every alarm hears an ACK: "received" at once, or "help on the way" when a responder accepts first.
        assert t.ack_ring_ms is not None or t.help_ring_ms is not None or t.cancelled_ms is not None
    s = result.summary
    assert s["alarms"]["incidents"] == len(traces)
    assert s["latency_ms"]["lora"]["press_to_screen"]["n"] >= 1


def test_false_alarms_are_cancelled(result: Result) -> None:
    false = [t for t in result.engine.traces if t.false_alarm]
    for t in false:
        assert t.cancelled_ms is not None
        inc = result.engine.dispatch.state.incidents[t.incident_id or ""]
        assert inc.state == "cancelled"


def test_every_firmware_frame_decodes_with_the_codec(result: Result) -> None:
    frames = result.engine.ring_frames
    assert frames
    events = set()
    for ring, _radio, frame in frames[:400]:
        keys = DeviceKeys(result.engine.world.root_key(ring))
        counter = search_key(keys, frame, 1, 4096)
        up = uplink.decode(keys, frame, counter)
        assert up.device_id == ring + 1
        events.add(up.event)
    assert EVENT_HEARTBEAT in events
    assert events & {EVENT_SOS, EVENT_ESCORT}


def test_heartbeats_reach_dispatch(result: Result) -> None:
    # exact = "all": every ring's boot heartbeat goes through the real pipeline.
    outcomes = result.summary["dispatch"]["outcomes"]
    assert outcomes["accepted"] >= 0.9 * 200


def test_report_files(result: Result) -> None:
    names = {p.name for p in result.files}
    assert {"latency.png", "coverage.png", "delivery_vs_distance.png", "timeline.png"} <= names
    summary = json.loads(next(p for p in result.files if p.name == "summary.json").read_text())
    assert summary["scenario"] == "test-small"
    md = next(p for p in result.files if p.name == "summary.md").read_text()
    assert "Latency budget" in md
    for p in result.files:
        assert Path(p).stat().st_size > 0


def test_bulk_heartbeats_with_idle_rings() -> None:
    r = run(parse(small(rings=3000, hours=2.0, sos=3.0, exact="alarm")))
    hb = r.summary["heartbeats"]
    idle = 3000 - len(r.engine.rings)
    # Every idle ring beats once an hour, except those whose first-hour ask went unanswered: they back off.
    first = r.engine.bulk.totals.hourly[0]
    assert hb["sent"] == 2 * idle - (first["asked"] - first["acked"])
    assert 0.5 < hb["delivery_ratio"] <= 1.0
    assert r.summary["exact_rings"] == len({a.ring for a in r.engine.world.alarms})


def test_same_seed_same_run() -> None:
    a = run(parse(small(rings=100, hours=0.5, sos=4.0))).summary
    b = run(parse(small(rings=100, hours=0.5, sos=4.0))).summary
    for s in (a, b):
        del s["speed"]
        del s["dispatch"]["pipeline_us"]
        s["dispatch"].pop("recovery_sweep_cpu_s")
    assert a == b


def test_a_half_hour_run_sends_half_the_heartbeats() -> None:
    r = run(parse(small(rings=2000, hours=0.5, sos=1.0, exact="alarm")))
    idle = 2000 - len(r.engine.rings)
    assert 0.4 * idle < r.summary["heartbeats"]["sent"] < 0.6 * idle
