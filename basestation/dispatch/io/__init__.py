"""The dispatch service's edges: MQTT link, database, streams, notifications, cluster (docs/architecture.md)."""
