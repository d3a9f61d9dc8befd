"""A gateway's retained status, read (pure): whether it is online, on any broker, and where it stands.

With two brokers a gateway is online while it is online on either: its connection to one going down (and its will
said so there) is not the gateway going down.
"""

import json
from typing import Any

Status = tuple[bool, float | None, float | None]  # online, lat, lon


def read(payload: bytes) -> dict[str, Any] | None:
    """The status document; None when it is not an object. An empty payload (a will cleared) is "offline"; JSON
    that does not parse raises ValueError."""
    doc = json.loads(payload) if payload else {"state": "offline"}
    return doc if isinstance(doc, dict) else None


def _degrees(value: float, limit: float) -> float | None:
    try:
        f = float(value)
    except OverflowError:
        return None
    return f if -limit <= f <= limit else None


class GatewayLinks:
    """Each gateway's state on each broker that told of it."""

    def __init__(self) -> None:
        self.by_gateway: dict[str, dict[str, bool]] = {}  # gateway -> broker -> online there

    def heard(self, gateway_id: str, via: str, doc: dict[str, Any]) -> Status:
        """``doc`` (``read``'s) as the broker at ``via`` has it: whether the gateway is online now, on any broker,
        and its position (none when the document's is missing or off the globe)."""
        by_broker = self.by_gateway.setdefault(gateway_id, {})
        by_broker[via] = doc.get("state", doc.get("status")) == "online"
        online = any(by_broker.values())
        pos = doc.get("position")
        lat = lon = None
        if isinstance(pos, dict) and all(isinstance(pos.get(k), int | float) for k in ("lat", "lon")):
            # JSON's integers have no bound: float() of 10**400 raises, and a status that raised would be set
            # aside. A position off the globe is no position.
            lat, lon = _degrees(pos["lat"], 90), _degrees(pos["lon"], 180)
            if lat is None or lon is None:
                lat = lon = None
        return online, lat, lon
