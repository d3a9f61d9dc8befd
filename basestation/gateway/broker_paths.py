"""One path per broker: the broker's address, its own spool, its own MQTT sink and its own delivery counts.

With a mirror broker (``mqtt_mirror``) the relay writes every frame to both paths' spools in one pass, and each
sink deletes rows from its own spool on its own broker's PUBACK. Nothing is shared between the paths but the
frames going in, so a broker that is down, slow or refusing holds up nothing on the other: its spool grows, is
bounded and evicts on its own, and it catches up from that spool when it returns.
"""

from dataclasses import dataclass, field
from typing import Any

from basestation.gateway.mqtt_sink import MqttSink
from basestation.gateway.settings import BrokerAddress
from basestation.gateway.spool import Spool
from basestation.gateway.stats import DeliveryStats


@dataclass
class BrokerPath:
    broker: BrokerAddress
    spool: Spool
    counts: DeliveryStats = field(default_factory=DeliveryStats)
    sink: MqttSink | None = None  # set once the event loop runs (relay.run); None in tests without a broker

    @property
    def name(self) -> str:
        return self.broker.name

    def snapshot(self, now: float) -> dict[str, Any]:
        """This broker's figures for the stats message (docs/mqtt.md), at ``now`` (Unix seconds)."""
        oldest = self.spool.oldest_rx_time()
        sink = self.sink
        return {
            "spool_depth": self.spool.depth,
            "spool_oldest_age_s": None if oldest is None else round(max(0.0, now - oldest), 3),
            "spool_evicted": self.spool.evicted,
            "inflight": sink.inflight if sink is not None else 0,
            "acknowledged": self.counts.acknowledged,
            "rejected": self.counts.rejected,
            "mqtt_connected": sink is not None and sink.connected.is_set(),
            "mqtt_connect_failures": sink.connect_failures if sink is not None else 0,
        }
