"""The power policy and the battery-life model of docs/keyring.md."""

from firmware import power
from tests.firmware.mp.sim import Sim


def test_goal_24_months_on_1000_mah_hourly_two_alarms():
    months = power.battery_months(1000.0, heartbeat_min=60, alarms_per_month=2)
    assert months >= 24, months
    # Still met when the server never answers a heartbeat (every one keeps a receive window open).
    assert power.battery_months(1000.0, acked_share=0.0) >= 24


def test_breakdown_adds_up_and_responds_to_inputs():
    m = power.monthly_mah()
    assert abs(m["total"] - (m["sleep"] + m["heartbeats"] + m["alarms"])) < 1e-9
    assert power.monthly_mah(heartbeat_min=15)["heartbeats"] > 3.9 * m["heartbeats"]
    assert power.monthly_mah(sf=12)["heartbeats"] > m["heartbeats"]
    assert power.monthly_mah(heartbeat_ble_ms=200)["total"] > m["total"]


def test_sleep_plan_deep_only_when_idle_and_worth_it():
    s = Sim()
    mode, _ms = power.sleep_plan(s.app, s.clock.ticks_ms())
    assert mode == power.LIGHT  # the boot heartbeat's receive window is open
    s.run_for(5000)
    mode, ms = power.sleep_plan(s.app, s.clock.ticks_ms())
    assert mode == power.DEEP and ms > power.DEEP_SLEEP_MIN_MS
    s.press(2100)
    mode, _ms = power.sleep_plan(s.app, s.clock.ticks_ms())
    assert mode == power.LIGHT


# (mV, %) from the curve's points, between them, and beyond its ends.
CURVE = ((3000, 0), (3300, 0), (3400, 2), (3700, 28), (3725, 34), (4200, 100), (4350, 100))


def test_battery_percent():
    for mv, pct in CURVE:
        assert power.battery_percent(mv) == pct, mv
    last = -1
    for mv in range(3200, 4300, 7):
        p = power.battery_percent(mv)
        assert p >= last
        last = p
