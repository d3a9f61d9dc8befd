"""Per-device token buckets (pure): a flood from one key ring cannot crowd out the others.

Only supervision traffic (heartbeats, low battery, tests) is limited. Alarms are never dropped: a device that
floods alarms has them folded into its one open incident instead (see decisions.py).
"""

from dataclasses import dataclass


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at_ms: int


class RateLimiter:
    def __init__(self, burst: float = 6.0, per_minute: float = 2.0, max_devices: int = 1_000_000) -> None:
        self.burst = burst
        self.rate_per_ms = per_minute / 60_000.0
        self.max_devices = max_devices
        self._buckets: dict[int, _Bucket] = {}

    def allow(self, device_id: int, now_ms: int) -> bool:
        b = self._buckets.get(device_id)
        if b is None:
            if len(self._buckets) >= self.max_devices:
                self._buckets.clear()  # forgetting costs only a fresh burst per device
            b = self._buckets[device_id] = _Bucket(self.burst, now_ms)
        b.tokens = min(self.burst, b.tokens + max(0, now_ms - b.at_ms) * self.rate_per_ms)
        b.at_ms = now_ms
        if b.tokens >= 1.0:
            b.tokens -= 1.0
            return True
        return False
