"""What the incident's tests share (tests/dispatch/test_transitions.py, test_incident_document.py): ring 7's
incident of its first press, in the state and with the fields a test gives it."""

from typing import Any

from basestation.dispatch.core.incidents import Incident, Kind, State


def incident(state: State = State.OPEN, **fields: Any) -> Incident:
    """Incident 7-1, an SOS opened at 1000 ms (pressed at 900), in ``state``, with ``fields`` set."""
    return Incident("7-1", 7, 1, Kind.SOS, state, 1_000, 900, **fields)
