"""Counters the relay keeps and publishes periodically. Plain numbers, no I/O."""

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class DeliveryStats:
    """What one broker's MQTT sink counts. Each broker has its own, so one broker's PUBACKs never stand in
    for the other's."""

    acknowledged: int = 0  # frames the broker acknowledged (PUBACK)
    rejected: int = 0  # PUBACKs carrying a failure reason code (MQTT 5); rows stay spooled


@dataclass
class Stats(DeliveryStats):
    """The relay's counters. Its ``acknowledged`` and ``rejected`` are the primary broker's."""

    heard: Counter[str] = field(default_factory=Counter)  # copies heard, by radio
    forwarded: int = 0  # distinct frames put in the spool(s) for the broker(s), once each
    duplicates: int = 0  # copies suppressed inside the window
    malformed: Counter[str] = field(default_factory=Counter)  # bad inputs, by "source.reason"
    downlinks: Counter[str] = field(default_factory=Counter)  # downlink outcomes
    txack: Counter[str] = field(default_factory=Counter)  # TX_ACK results from forwarders
    ble_failures: int = 0  # times the BLE scanner could not start

    def snapshot(self) -> dict[str, Any]:
        """The relay's own counters; each broker's delivery figures come from its path (broker_paths.py)."""
        return {
            "heard": dict(self.heard),
            "forwarded": self.forwarded,
            "duplicates": self.duplicates,
            "malformed": dict(self.malformed),
            "malformed_total": sum(self.malformed.values()),
            "downlinks": dict(self.downlinks),
            "txack": dict(self.txack),
            "ble_failures": self.ble_failures,
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
