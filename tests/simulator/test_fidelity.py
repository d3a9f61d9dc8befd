"""The simulation's rings, replayed under the real MicroPython interpreter, send the very same frames."""

import pytest

from simulator.fidelity import check, timeline
from simulator.run import run
from simulator.scenario import parse
from tests.simulator.scenes import small


@pytest.mark.micropython
def test_micropython_sends_the_same_frames_at_the_same_ms() -> None:
    r = run(parse(small(rings=60, hours=1.0, sos=6.0)), fidelity=4)
    fid = r.summary["fidelity"]
    assert fid["rings"] == 4
    assert fid["differences"] == []
    assert fid["identical"] == 4
    assert fid["frames"] >= 8


@pytest.mark.micropython
def test_a_changed_life_is_caught() -> None:
    r = run(parse(small(rings=30, hours=0.5, sos=8.0)))
    alarm_ring = r.engine.rings[r.engine.traces[0].ring]
    # Drop the wearer's presses: under MicroPython the ring then never sends the alarm the simulation saw.
    alarm_ring.inputs = [(t, name) for t, name in alarm_ring.inputs if name not in ("down", "up")]
    assert "down@" not in timeline(alarm_ring, 1_800_000)
    result = check(r.engine, 1)[0]
    assert not result.ok
