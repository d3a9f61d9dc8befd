"""The dispatch service's decisions: pure functions and state, no I/O (docs/architecture.md)."""
