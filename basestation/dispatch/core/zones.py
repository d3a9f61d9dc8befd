"""Patrol zones (pure): polygons on the map, each with the responders and teams that patrol it.

An alarm inside a zone is offered first to those bound to it (assignment.ranked), because they know the streets
and are expected there; the nearest of them first, then everyone else, nearest first.

A polygon is a list of [lat, lon] points, closed implicitly (the last point joins the first). Points are taken
as plane coordinates (lon across, lat up): a zone is a few streets of one city, where the earth's curvature and
the antimeridian play no part. A point exactly on an edge may fall on either side of it, as a click does.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

MIN_POINTS = 3
MAX_POINTS = 200
NAME_MAX = 120
TEAM_MAX = 64
MIN_AREA_DEG2 = 1e-10

Point = tuple[float, float]  # (lat, lon)


@dataclass(frozen=True, slots=True)
class Zone:
    id: str
    name: str
    polygon: tuple[Point, ...]
    responders: frozenset[str] = frozenset()
    teams: frozenset[str] = frozenset()
    updated_ms: int = 0
    # The bounding box (south, west, north, east): most zones are far from most alarms, and the box says so in
    # four comparisons before the edges are walked.
    box: tuple[float, float, float, float] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        lats = [p[0] for p in self.polygon]
        lons = [p[1] for p in self.polygon]
        object.__setattr__(self, "box", (min(lats), min(lons), max(lats), max(lons)))

    def contains(self, lat: float, lon: float) -> bool:
        s, w, n, e = self.box
        if lat < s or lat > n or lon < w or lon > e:
            return False
        return inside(self.polygon, lat, lon)

    def binds(self, responder_id: str, team: str | None) -> bool:
        """Whether the responder patrols this zone: named in it, or in a team it names."""
        return responder_id in self.responders or (team is not None and team in self.teams)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "polygon": [[lat, lon] for lat, lon in self.polygon],
            "responders": sorted(self.responders),
            "teams": sorted(self.teams),
            "updated_ms": self.updated_ms,
        }

    @staticmethod
    def from_dict(doc: dict[str, Any]) -> "Zone":
        return Zone(
            str(doc["id"]),
            str(doc["name"]),
            tuple((float(p[0]), float(p[1])) for p in doc["polygon"]),
            frozenset(doc.get("responders") or ()),
            frozenset(doc.get("teams") or ()),
            int(doc.get("updated_ms") or 0),
        )


def polygon_problem(points: Sequence[Sequence[float]]) -> str | None:
    """Why ``points`` cannot be a zone's polygon, or None. Each point's own range is the API's to check."""
    if not MIN_POINTS <= len(points) <= MAX_POINTS:
        return f"a polygon has {MIN_POINTS} to {MAX_POINTS} points"
    if any(len(p) != 2 for p in points):
        return "each point is [lat, lon]"
    if len({(p[0], p[1]) for p in points}) < MIN_POINTS:
        return f"a polygon has at least {MIN_POINTS} different points"
    # Points on one line enclose nothing: every alarm would be outside it, which no operator means. The bound is
    # about a square metre (a degree is about 111 km), so rounding in the points does not hide a line.
    if _twice_area(points) < 2 * MIN_AREA_DEG2:
        return "the points enclose no area"
    return None


def _twice_area(points: Sequence[Sequence[float]]) -> float:
    total = 0.0
    for i in range(len(points)):
        lat1, lon1 = points[i - 1][0], points[i - 1][1]
        lat2, lon2 = points[i][0], points[i][1]
        total += lon1 * lat2 - lon2 * lat1
    return abs(total)


def inside(polygon: Sequence[Point], lat: float, lon: float) -> bool:
    """Whether (lat, lon) lies inside ``polygon``, by the even-odd rule: a ray from the point crosses the edges an
    odd number of times. Self-crossing outlines follow the same rule (their overlaps are outside)."""
    hit = False
    n = len(polygon)
    j = n - 1
    for i in range(n):
        lat_i, lon_i = polygon[i]
        lat_j, lon_j = polygon[j]
        # The edge straddles the point's latitude (half-open, so a vertex on the ray counts once), and crosses
        # the ray east of the point.
        if (lat_i > lat) != (lat_j > lat):
            cross = lon_i + (lat - lat_i) * (lon_j - lon_i) / (lat_j - lat_i)
            if lon < cross:
                hit = not hit
        j = i
    return hit


def zones_at(zones: Iterable[Zone], lat: float, lon: float) -> list[Zone]:
    """The zones that contain the point (zones may overlap)."""
    return [z for z in zones if z.contains(lat, lon)]


def bound_at(zones: Iterable[Zone], lat: float, lon: float) -> tuple[frozenset[str], frozenset[str]]:
    """The responders and teams bound to any zone containing the point."""
    responders: set[str] = set()
    teams: set[str] = set()
    for z in zones:
        if z.contains(lat, lon):
            responders |= z.responders
            teams |= z.teams
    return frozenset(responders), frozenset(teams)


def is_bound(zones: Iterable[Zone], responder_id: str, team: str | None) -> bool:
    """Whether the responder is bound to any of ``zones``, directly or through their team."""
    return any(z.binds(responder_id, team) for z in zones)
