"""Counters the relay keeps and publishes periodically. Plain numbers, no I/O."""

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Stats:
    heard: Counter[str] = field(default_factory=Counter)  # copies heard, by radio
    forwarded: int = 0  # distinct frames put in the spool for the broker
    acknowledged: int = 0  # frames the broker acknowledged (PUBACK)
    rejected: int = 0  # PUBACKs carrying a failure reason code (MQTT 5); rows stay spooled
    duplicates: int = 0  # copies suppressed inside the window
    malformed: Counter[str] = field(default_factory=Counter)  # bad inputs, by "source.reason"
    downlinks: Counter[str] = field(default_factory=Counter)  # downlink outcomes
    txack: Counter[str] = field(default_factory=Counter)  # TX_ACK results from forwarders
    ble_failures: int = 0  # times the BLE scanner could not start

    def snapshot(self, spool_depth: int, spool_oldest_age_s: float | None, evicted: int) -> dict[str, Any]:
        return {
            "heard": dict(self.heard),
            "forwarded": self.forwarded,
            "acknowledged": self.acknowledged,
            "rejected": self.rejected,
            "duplicates": self.duplicates,
            "malformed": dict(self.malformed),
            "malformed_total": sum(self.malformed.values()),
            "downlinks": dict(self.downlinks),
            "txack": dict(self.txack),
            "ble_failures": self.ble_failures,
            "spool_depth": spool_depth,
            "spool_oldest_age_s": spool_oldest_age_s,
            "spool_evicted": evicted,
        }


class RateLimitedLog:
    """Log the first ``burst`` events of a kind, then one in ``every``: a flood of junk datagrams must not
    turn into a flood of log lines on a small SD card."""

    def __init__(self, burst: int = 20, every: int = 1000) -> None:
        self.burst = burst
        self.every = every
        self._seen: Counter[str] = Counter()

    def should_log(self, kind: str) -> bool:
        self._seen[kind] += 1
        n = self._seen[kind]
        return n <= self.burst or n % self.every == 0
