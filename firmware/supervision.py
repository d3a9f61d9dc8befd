"""Supervision: the heartbeat that tells the server the ring is alive, and the battery (docs/keyring.md,
"Heartbeat and battery"; SPEC 7.4, 7.5).

A heartbeat (LOW_BATTERY while the cell is low) goes out every ``beat_min`` minutes, at once after a cold boot,
unless an alarm is open (its copies already say the ring is alive). It asks for an ACK once its counter is
ACK_REQUEST_GAP past the last one acknowledged, so the server's lookahead never loses the ring; unanswered, the
period doubles up to a day, and the first ACK brings back the configured one.
"""

from firmware import retry
from firmware.const import const
from firmware.ticks import ticks_add, ticks_diff
from firmware.uplinks import Outgoing
from protocol.constants import ACK_REQUEST_GAP, BATTERY_UNKNOWN, EVENT_HEARTBEAT, EVENT_LOW_BATTERY, FLAG_ACK_REQUESTED

_BATTERY_SAMPLE_MS = const(10000)
_BEAT_MAX_MIN = const(1440)  # SPEC 7.5: out of coverage, the period doubles up to a day


class Battery:
    """The cell's last reading, and the low-battery latch with its hysteresis."""

    def __init__(self, sensor, low_pct: int, clear_pct: int, now: int) -> None:
        self._sensor = sensor
        self._low_pct = low_pct
        self._clear_pct = clear_pct
        self.pct = BATTERY_UNKNOWN
        self.low = False
        self.read_at = now

    def read(self, now: int) -> bool:
        """Read the cell; True when it has just dropped below the low mark."""
        self.read_at = now
        pct = self._sensor.percent()
        self.pct = pct
        if pct == BATTERY_UNKNOWN:
            return False
        if not self.low and pct < self._low_pct:
            self.low = True
            return True
        if self.low and pct >= self._clear_pct:
            self.low = False
        return False


class Supervisor:
    def __init__(self, hw, cfg, uplinks, battery, wearer, now: int) -> None:
        self._hw = hw
        self._cfg = cfg
        self._uplinks = uplinks
        self._wearer = wearer
        self.battery = battery
        self.beat = None  # the heartbeat in flight
        self.last_acked = 0  # the highest counter the ring saw acknowledged
        self.beat_min = cfg.heartbeat_min  # the current period: longer while heartbeats go unanswered
        self.heartbeat_at = now  # a cold boot announces itself at once, with FLAG_BOOT

    def restore(self, last_acked: int, to_beat: int, beat_min: int, now: int, slept_ms: int) -> None:
        """The state kept in RTC memory through a deep sleep of ``slept_ms``."""
        self.last_acked = last_acked
        self.beat_min = max(self._cfg.heartbeat_min, min(beat_min, _BEAT_MAX_MIN))
        self.heartbeat_at = ticks_add(now, max(0, min(to_beat, self.beat_min * 60000) - slept_ms))

    def read_battery(self, now: int) -> None:
        if self.battery.read(now):
            self.heartbeat_at = now  # report the crossing now, not at the next period
            self._wearer.low_battery(now)

    def poll_battery(self, now: int) -> None:
        if ticks_diff(now, self.battery.read_at) >= _BATTERY_SAMPLE_MS:
            self.read_battery(now)

    def service(self, now: int) -> None:
        beat = self.beat
        if beat is not None:
            self._uplinks.attempt(beat, now)
            self._uplinks.send_lora(beat, now)

    def retire(self, now: int) -> None:
        beat = self.beat
        if beat is None or beat.give_up_at is None or ticks_diff(now, beat.give_up_at) < 0:
            return
        self.beat = None
        if beat.flags & FLAG_ACK_REQUESTED:
            # SPEC 7.5: unanswered, so probably out of coverage; call less often to save the cell.
            self.beat_min = min(self.beat_min * 2, _BEAT_MAX_MIN)
            self.heartbeat_at = ticks_add(beat.raised, self.beat_min * 60000)

    def poll_heartbeat(self, now: int, alarm_open: bool) -> None:
        if ticks_diff(now, self.heartbeat_at) < 0:
            return
        self.heartbeat_at = ticks_add(now, self.beat_min * 60000)
        if alarm_open or self.beat is not None:
            return  # an open alarm already tells the server the ring is alive
        self.read_battery(now)
        up = self._uplinks
        counter = up.take(now)
        if not counter:
            return
        # SPEC 7.4: ask for an ACK before the server's lookahead could lose track of this device.
        want_ack = up.boot or counter - self.last_acked >= ACK_REQUEST_GAP
        event = EVENT_LOW_BATTERY if self.battery.low else EVENT_HEARTBEAT
        self.beat = Outgoing(counter, event, self.beat_min, up.flags(want_ack), now, retry.HEARTBEAT_ATTEMPTS, ())
        self._hw.tell(now, "uplink", counter)
        self.service(now)

    def acked(self, out, now: int) -> None:
        """A verified ACK for ``out``, any open uplink: the ring is in coverage."""
        self.last_acked = max(self.last_acked, out.counter)
        if self.beat_min != self._cfg.heartbeat_min:
            # Back in coverage: the configured period again, from now.
            self.beat_min = self._cfg.heartbeat_min
            period_end = ticks_add(now, self.beat_min * 60000)
            if ticks_diff(self.heartbeat_at, period_end) > 0:
                self.heartbeat_at = period_end
        if out is self.beat:
            self.beat = None
