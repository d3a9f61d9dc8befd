"""The bulk path's idle rings follow the firmware: backoff out of coverage, ACK cycle in coverage, low battery."""

import numpy as np
import pytest

from firmware.config import DEFAULTS
from simulator.idle_rings import BEAT_MAX_MIN, IdleSchedule, walk_channels
from simulator.ring import Record, SimRing
from simulator.scenario import parse
from simulator.world import H_MS, build
from tests.simulator.scenes import small

MIN = 60_000


def _schedule(rings: int = 20, battery: str = "") -> IdleSchedule:
    sc = parse(small(rings=rings, hours=48.0, sos=0.0, exact="alarm", extra=battery))
    world = build(sc)
    return IdleSchedule(world, np.arange(rings, dtype=np.int64), sc.seed)


def _firmware_sends(hours: int, device_id: int = 1, settings: dict[str, int] | None = None) -> list[tuple[int, Record]]:
    """(counter, radio record) of every frame a real Keyring, rebuilt from RTC memory at every wake, sends out of
    coverage (no ACK ever) in its first ``hours``."""
    out: list[tuple[int, Record]] = []
    counter = [0]

    def on(_ring: SimRing, rec: Record) -> None:
        if rec["kind"] == "uplink":
            counter[0] = int(rec["value"])
        elif rec["kind"] == "radio":
            out.append((counter[0], rec))

    ring = SimRing(0, device_id, bytes(16), on, settings)
    ring.boot(0)
    while ring.wake_at is not None and ring.wake_at < hours * H_MS:
        ring.wake(ring.wake_at)
    return out


def _firmware_heartbeats(hours: int) -> list[tuple[int, int]]:
    """(start ms, counter) of every heartbeat a real Keyring sends out of coverage (no ACK ever)."""
    return [(int(rec["t_ms"]), counter) for counter, rec in _firmware_sends(hours)]


def test_out_of_coverage_the_schedule_is_the_firmwares() -> None:
    fw = _firmware_heartbeats(72)
    # The firmware's boot heartbeat asked (FLAG_BOOT) and went unanswered: period 120 min, next counter 2 past 0.
    s = _schedule(rings=1)
    s.next_ms[:] = fw[1][0]
    s.beat_min[:] = 2 * s.period_min
    s.gap[:] = fw[1][1]
    ours = [fw[0][0]]
    while s.next_ms[0] < 72 * H_MS:
        b = s.beats(0.0, float(s.next_ms[0]) + 1)
        ours.append(int(b.start[0]))
        no = np.zeros(1, dtype=np.bool_)
        s.settle(b, no, no, np.zeros(1))
    assert ours == [t for t, _ in fw]
    assert s.beat_min[0] == BEAT_MAX_MIN


@pytest.mark.parametrize("gap", range(1, 9))
def test_in_coverage_every_eighth_heartbeat_asks_and_the_period_holds(gap: int) -> None:
    s = _schedule(rings=1)
    s.gap[:] = gap
    asks = []
    for _ in range(24):
        b = s.beats(0.0, float(s.next_ms[0]) + 1)
        asks.append(bool(b.asks[0]))
        yes = b.asks.copy()
        s.settle(b, np.ones(1, dtype=np.bool_), yes, np.full(1, 400.0))
        assert s.beat_min[0] == s.period_min
    assert [i for i, a in enumerate(asks) if a] == list(range(8 - gap, 24, 8))


def test_an_ack_after_backoff_restores_the_period_from_the_ack() -> None:
    s = _schedule(rings=1)
    s.beat_min[:] = 480
    s.gap[:] = 9
    b = s.beats(0.0, float(s.next_ms[0]) + 1)
    s.settle(b, np.ones(1, dtype=np.bool_), np.ones(1, dtype=np.bool_), np.full(1, 400.0))
    assert s.beat_min[0] == s.period_min
    assert s.next_ms[0] == b.start[0] + 400.0 + s.period_min * MIN
    assert s.gap[0] == 1


@pytest.mark.parametrize(
    ("percent", "low"),
    [("[0, 14.9]", True), ("[15.0, 100]", False), ("[40, 60]", False)],
)
def test_low_battery_below_the_firmware_threshold(percent: str, low: bool) -> None:
    s = _schedule(rings=50, battery=f"[rings.battery]\npercent = {percent}\n")
    b = s.beats(0.0, H_MS)
    assert len(b.rows) == 50
    assert bool(np.all(b.low == low))
    assert s.low_pct == DEFAULTS["low_battery_pct"]


def test_a_draining_cell_crosses_the_threshold_later_not_sooner() -> None:
    s = _schedule(rings=1, battery="[rings.battery]\npercent = [15.0001, 15.0001]\n")
    rows = np.zeros(1, dtype=np.int64)
    assert not bool(s.level(rows, np.zeros(1))[0] < s.low_pct)
    # The power model drains ~0.7 mAh a day from 1000 mAh: 0.0001 % goes within hours, not minutes.
    assert bool(s.level(rows, np.full(1, 24.0 * H_MS))[0] < s.low_pct)
    assert not bool(s.level(rows, np.full(1, 60_000.0))[0] < s.low_pct)


def test_idle_heartbeats_go_on_the_channel_the_firmware_picks() -> None:
    # A real Keyring, rebuilt from RTC memory at every wake, against the bulk path's walk for the same counters.
    from firmware.airtime import UPLINK_CHANNELS

    device_id = 4321
    sends = _firmware_sends(6, device_id, {"heartbeat_min": 1})
    fw = [(counter, UPLINK_CHANNELS.index(int(rec["freq_hz"]))) for counter, rec in sends]
    counters = np.array([c for c, _ in fw], dtype=np.int64)
    assert len(fw) >= 10 and counters.tolist() == list(range(1, len(fw) + 1))
    ours = walk_channels(np.full(len(fw), device_id, dtype=np.int64), counters)
    assert ours.tolist() == [ch for _, ch in fw]
    assert len(set(ours.tolist())) >= 7  # counters 1-7, then 8-14: seven channels of each round's eight


def test_the_walk_in_numpy_is_the_firmwares() -> None:
    from firmware import channels

    rng = np.random.default_rng(7)
    devices = np.concatenate([rng.integers(0, 1 << 32, size=3000), [0, 1, 0xFFFF, 0x10000, 0xFFFFFFFF]])
    positions = np.concatenate([rng.integers(0, 1 << 32, size=3000), [0, 7, 8, 0xFFFF * 8, 0xFFFFFFFF]])
    buf = bytearray(channels.N_CHANNELS)
    want = []
    for d, p in zip(devices.tolist(), positions.tolist(), strict=True):
        channels.order(d, p // channels.N_CHANNELS, buf)
        want.append(buf[p % channels.N_CHANNELS])
    assert walk_channels(devices, positions).tolist() == want


def test_idle_heartbeats_spread_evenly_over_the_channels() -> None:
    # The hour's heartbeats of many rings, and one ring's over a day: each near an eighth on every channel (a
    # chi-square bound that a single channel, or a walk shared by every ring, fails by far).
    s = _schedule(rings=2000)
    b = s.beats(0.0, H_MS)
    counts = np.bincount(b.channel, minlength=8)
    chi2 = float(((counts - counts.mean()) ** 2 / counts.mean()).sum())
    assert len(b.rows) == 2000 and chi2 < 24.3, counts
    day = walk_channels(np.full(24, 99, dtype=np.int64), np.arange(104, 128, dtype=np.int64))  # three whole rounds
    assert np.bincount(day, minlength=8).tolist() == [3] * 8
