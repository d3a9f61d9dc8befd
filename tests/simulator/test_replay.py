"""The replay attacker: every frame dispatch already had, sent again, is refused by the real pipeline."""

from simulator.run import run
from simulator.scenario import parse
from tests.simulator.scenes import small

ATTACKER = """
[attacker]
position = [52.1590, 4.4905]
listen_range_m = 3000
replay_after_s = [30, 700, 1500]
"""


def test_replays_of_delivered_frames_are_all_rejected() -> None:
    r = run(parse(small(rings=80, hours=1.0, sos=6.0, extra=ATTACKER)))
    a = r.summary["attacker"]
    assert a["frames_recorded"] > 50
    assert a["replays_sent"] >= 2 * a["frames_recorded"]
    outcomes = a["outcomes_at_dispatch"]
    rejected = sum(v for k, v in outcomes.items() if k.startswith("delivered_before:"))
    assert rejected > 100
    assert a["accepted_after_delivery"] == 0
    assert "delivered_before:accepted" not in outcomes
    # No replay ever opened a second incident: one per alarm pressed.
    assert r.summary["alarms"]["incidents"] == len(r.engine.traces)
