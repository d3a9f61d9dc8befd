"""What the assignment tests share (tests/dispatch/test_assignment_*.py): a moment to start from, and Leiden: an
alarm at the Breestraat and responders at growing distances from it, made with a few words.
"""

from typing import Any

from basestation.dispatch.core.assignment import Responder
from basestation.dispatch.core.incidents import Incident, Kind, State

T0 = 1_800_000_000_000  # 2027-01-15 08:00 UTC, 09:00 in Amsterdam
HOUR_MS = 3_600_000

# Leiden: the alarm at the Breestraat, responders at growing distances from it.
HERE = (52.1589, 4.4894)
NEAR = (52.1592, 4.4940)  # ~320 m
MIDDLE = (52.1575, 4.4856)  # ~300 m the other way, so ordering is by distance, not by list position
FAR = (52.1400, 4.5200)  # ~3 km: outside the default broadcast radius


def responder(rid: str, at: tuple[float, float] | None = NEAR, **kw: Any) -> Responder:
    lat, lon = at if at is not None else (None, None)
    fields: dict[str, Any] = {"skills": ["patrol"], "on_duty": True, **kw}
    return Responder(rid, rid.title(), lat=lat, lon=lon, **fields)


def incident(
    kind: Kind = Kind.SOS, state: State = State.OPEN, at: tuple[float, float] | None = HERE, **kw: Any
) -> Incident:
    lat, lon = at if at is not None else (None, None)
    return Incident("7-1", 7, 1, kind, state, T0, T0, lat=lat, lon=lon, **kw)
