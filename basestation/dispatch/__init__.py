"""The dispatch service: from an MQTT uplink to the right responder (see docs/dispatch.md)."""
