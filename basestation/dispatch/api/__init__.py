"""The HTTP API: one router per concern, and the app that mounts them (docs/architecture.md)."""
