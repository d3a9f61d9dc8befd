"""MQTT topic names (docs/mqtt.md). One gateway publishes only under its own id."""

PREFIX = "nightwatch/v1"


def uplink(gateway_id: str) -> str:
    return f"{PREFIX}/up/{gateway_id}"


def downlink(gateway_id: str) -> str:
    return f"{PREFIX}/down/{gateway_id}"


def status(gateway_id: str) -> str:
    return f"{PREFIX}/gw/{gateway_id}/status"


def stats(gateway_id: str) -> str:
    return f"{PREFIX}/gw/{gateway_id}/stats"


def txack(gateway_id: str) -> str:
    return f"{PREFIX}/gw/{gateway_id}/txack"
