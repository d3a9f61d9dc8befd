"""A small Leiden for dispatch tests: key rings with real keys, gateways with positions, responders on duty."""

import json
import os
from dataclasses import dataclass, field

from basestation.dispatch.core.assignment import Responder
from basestation.dispatch.core.context import Context
from basestation.dispatch.core.pipeline import UplinkPipeline
from basestation.dispatch.core.state import DispatchState, Gateway
from protocol import uplink
from protocol.constants import FLAG_ACK_REQUESTED
from protocol.keys import DeviceKeys

T0 = 1_800_000_000_000  # a fixed "now" in Unix ms

# Leiden: Centraal station, Breestraat, Stationsweg; responders around the Hooglandse Kerk and Pieterskerk.
GATEWAYS = {
    "gw-centraal": (52.1664, 4.4817),
    "gw-breestraat": (52.1589, 4.4894),
    "gw-lammermarkt": (52.1625, 4.4790),
}
RESPONDERS = {
    "r-pieters": (52.1575, 4.4856),
    "r-hooglandse": (52.1592, 4.4940),
    "r-far": (52.1400, 4.5200),
}


@dataclass
class World:
    state: DispatchState = field(default_factory=DispatchState)
    roots: dict[int, bytes] = field(default_factory=dict)
    counters: dict[int, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for gw, (lat, lon) in GATEWAYS.items():
            self.state.gateways[gw] = Gateway(gw, lat, lon, online=True)
        for rid, (lat, lon) in RESPONDERS.items():
            self.state.responders[rid] = Responder(rid, rid, "nl", ["patrol", "first_aid"], True, lat, lon)
        self.pipeline = UplinkPipeline(self.state)

    def ring(self, device_id: int) -> DeviceKeys:
        if device_id not in self.roots:
            self.roots[device_id] = os.urandom(16)
            self.state.resolver.add(device_id, self.roots[device_id])
        return DeviceKeys(self.roots[device_id])

    def frame(self, device_id: int, event: int, counter: int | None = None, **fields: int) -> tuple[bytes, int]:
        keys = self.ring(device_id)
        if counter is None:
            counter = self.counters.get(device_id, 0) + 1
        self.counters[device_id] = max(counter, self.counters.get(device_id, 0))
        flags = fields.pop("flags", FLAG_ACK_REQUESTED)
        up = uplink.Uplink(counter, device_id, event, fields.pop("battery", 90), flags=flags, **fields)
        return uplink.encode(keys, up), counter

    def send(
        self, frame: bytes, gw: str = "gw-breestraat", at: int = T0, radio: str = "lora", rssi: float = -90.0
    ) -> Context:
        """``frame`` as ``gw`` heard it at ``at``, through the whole pipeline."""
        return self.pipeline.handle(topic(gw), envelope(frame, gw, at, radio, rssi), at)


async def provision(db_url: str, roots: dict[int, bytes]) -> None:
    """Register key rings straight in a migrated database, as `POST /api/v1/devices` would."""
    from basestation.dispatch.io.store import Store

    store = Store(db_url)
    try:
        for device_id, root in roots.items():
            await store.add_device(device_id, root, None, 0)
    finally:
        await store.close()


def envelope(frame: bytes, gateway: str, rx_ms: int = T0, radio: str = "lora", rssi: float | None = -90.0) -> bytes:
    doc: dict[str, object] = {"v": 1, "gateway_id": gateway, "rx_time_ms": rx_ms, "radio": radio, "frame": frame.hex()}
    if rssi is not None:
        doc["rssi"] = rssi
    return json.dumps(doc).encode()


def topic(gateway: str) -> str:
    return f"nightwatch/v1/up/{gateway}"
