"""Patrol zones (zones.py): which points a polygon holds, as properties over any polygon and as a table of edge
cases; who is bound to a zone; and how an offer prefers the responders bound to the alarm's zone
(assignment.ranked and plan), with everything else as it was: no position, outside every zone, the broadcast."""

import math
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from basestation.dispatch.core.assignment import Policy, Responder, plan, ranked
from basestation.dispatch.core.incidents import Incident, Kind, State
from basestation.dispatch.core.zones import Zone, bound_at, inside, is_bound, polygon_problem, zones_at

T0 = 1_800_000_000_000
POLICY = Policy()

# Leiden: a rectangle over the centre around the Breestraat, and points in and out of it.
CENTRE = ((52.157, 4.484), (52.157, 4.496), (52.162, 4.496), (52.162, 4.484))
HERE = (52.1589, 4.4894)  # inside CENTRE
NEAR = (52.1592, 4.4900)  # ~50 m from HERE
FARTHER = (52.1610, 4.4950)  # ~450 m from HERE
STATION = (52.1664, 4.4817)  # outside CENTRE, north
STATION_BOX = ((52.165, 4.480), (52.165, 4.484), (52.168, 4.484), (52.168, 4.480))
SQUARE_AROUND_LEIDEN = ((52.10, 4.40), (52.10, 4.60), (52.20, 4.60), (52.20, 4.40))


def _zone(zid: str = "centre", polygon: Any = CENTRE, responders: Any = (), teams: Any = ()) -> Zone:
    return Zone(zid, zid.title(), tuple(polygon), frozenset(responders), frozenset(teams))


def _r(rid: str, at: tuple[float, float] | None, team: str | None = None) -> Responder:
    lat, lon = at if at is not None else (None, None)
    return Responder(rid, rid.title(), skills=["patrol"], on_duty=True, lat=lat, lon=lon, team=team)


def _inc(at: tuple[float, float] | None = HERE, opened: int = T0) -> Incident:
    lat, lon = at if at is not None else (None, None)
    return Incident("7-1", 7, 1, Kind.SOS, State.OPEN, opened, opened, lat=lat, lon=lon)


# -- point in polygon: a table of edge cases ---------------------------------------------------------------------

SQUARE = ((0.0, 0.0), (0.0, 10.0), (10.0, 10.0), (10.0, 0.0))
# A "U" open to the north: its notch (lat 4..10, lon 4..6) is outside.
U = ((0.0, 0.0), (0.0, 10.0), (10.0, 10.0), (10.0, 6.0), (4.0, 6.0), (4.0, 4.0), (10.0, 4.0), (10.0, 0.0))
# A bow tie: two triangles, south and north, meeting at (5, 5).
BOW = ((0.0, 0.0), (10.0, 10.0), (10.0, 0.0), (0.0, 10.0))


@pytest.mark.parametrize(
    ("polygon", "point", "want"),
    [
        (SQUARE, (5.0, 5.0), True),
        (SQUARE, (0.001, 9.999), True),
        (SQUARE, (-0.001, 5.0), False),
        (SQUARE, (5.0, 10.001), False),
        (SQUARE, (20.0, 20.0), False),
        (SQUARE, (5.0, -100.0), False),  # west of it, on the ray's line through it
        (U, (2.0, 5.0), True),  # the U's base
        (U, (8.0, 2.0), True),  # its west arm
        (U, (8.0, 5.0), False),  # the notch
        (U, (5.0, 5.0), False),  # the notch too
        (U, (5.0, 8.0), True),  # its east arm
        (U, (4.0, 8.0), True),  # a ray along a vertex's latitude still counts each edge once
        (U, (4.0, 2.0), True),  # from the west arm, the same ray crosses the notch
        (U, (10.0, 5.0), False),  # on the line of the arms' tops, over the notch
        (BOW, (2.0, 5.0), True),  # the southern triangle
        (BOW, (5.0, 2.0), False),  # beside the crossing
        (BOW, (8.0, 5.0), True),  # the northern triangle
    ],
)
def test_inside_at_the_edges(polygon: Any, point: tuple[float, float], want: bool) -> None:
    assert inside(polygon, *point) is want
    assert _zone(polygon=polygon).contains(*point) is want


@pytest.mark.parametrize(
    ("points", "problem"),
    [
        ([[0, 0], [0, 1], [1, 1]], None),
        ([[0, 0], [0, 1]], "3 to 200"),
        ([[0, 0]] * 201, "3 to 200"),
        ([[0, 0], [0, 1], [0, 0]], "different points"),
        ([[0, 0], [1, 1], [2, 2]], "no area"),
        ([[0, 0], [0, 1, 2], [1, 1]], "[lat, lon]"),
    ],
)
def test_what_cannot_be_a_polygon_says_why(points: list[list[float]], problem: str | None) -> None:
    got = polygon_problem(points)
    assert got is None if problem is None else problem in (got or "")


# -- point in polygon: properties --------------------------------------------------------------------------------

coord = st.floats(-50.0, 50.0, allow_nan=False, allow_infinity=False)
points = st.tuples(coord, coord)


@st.composite
def star_polygons(draw: st.DrawFn) -> tuple[tuple[float, float], tuple[tuple[float, float], ...]]:
    """A polygon visible whole from its centre (a star shape), and that centre: the centre is always inside."""
    c = draw(points)
    n = draw(st.integers(3, 40))
    angles = sorted(draw(st.lists(st.floats(0.0, 2 * math.pi, exclude_max=True), min_size=n, max_size=n, unique=True)))
    # Every gap well under half a turn: the centre is then strictly inside, not on an edge.
    gaps = [b - a for a, b in zip(angles, [*angles[1:], angles[0] + 2 * math.pi], strict=True)]
    assume(max(gaps) < math.pi * 0.9)
    radii = draw(st.lists(st.floats(1.0, 10.0), min_size=n, max_size=n))
    poly = tuple((c[0] + r * math.sin(a), c[1] + r * math.cos(a)) for a, r in zip(angles, radii, strict=True))
    return c, poly


@given(star_polygons())
def test_a_star_shapes_centre_is_inside(shape: tuple[tuple[float, float], tuple[tuple[float, float], ...]]) -> None:
    centre, poly = shape
    assert inside(poly, *centre)
    assert _zone(polygon=poly).contains(*centre)


@given(star_polygons(), points, st.integers(0, 39), st.booleans())
def test_where_the_outline_starts_or_turns_changes_nothing(
    shape: tuple[tuple[float, float], tuple[tuple[float, float], ...]], p: tuple[float, float], k: int, flip: bool
) -> None:
    _, poly = shape
    turned = poly[k % len(poly) :] + poly[: k % len(poly)]
    if flip:
        turned = turned[::-1]
    assert inside(turned, *p) == inside(poly, *p)


@given(star_polygons(), points)
def test_nothing_outside_the_bounding_box_is_inside(
    shape: tuple[tuple[float, float], tuple[tuple[float, float], ...]], p: tuple[float, float]
) -> None:
    _, poly = shape
    lats, lons = [q[0] for q in poly], [q[1] for q in poly]
    if not (min(lats) <= p[0] <= max(lats) and min(lons) <= p[1] <= max(lons)):
        assert not inside(poly, *p)
    # The box is only a shortcut: the zone says what the polygon says.
    assert _zone(polygon=poly).contains(*p) == inside(poly, *p)


@given(coord, coord, st.floats(0.1, 20.0), st.floats(0.1, 20.0), points)
def test_a_rectangle_holds_what_lies_strictly_between_its_sides(
    s: float, w: float, h: float, wd: float, p: tuple[float, float]
) -> None:
    rect = ((s, w), (s, w + wd), (s + h, w + wd), (s + h, w))
    strictly = s < p[0] < s + h and w < p[1] < w + wd
    outside = p[0] < s or p[0] > s + h or p[1] < w or p[1] > w + wd
    if strictly:
        assert inside(rect, *p)
    if outside:
        assert not inside(rect, *p)


@given(star_polygons(), points)
def test_zones_at_names_exactly_the_zones_holding_the_point(
    shape: tuple[tuple[float, float], tuple[tuple[float, float], ...]], p: tuple[float, float]
) -> None:
    _, poly = shape
    zones = [_zone("a", poly), _zone("b", SQUARE), _zone("c", CENTRE)]
    assert [z.id for z in zones_at(zones, *p)] == [z.id for z in zones if inside(z.polygon, *p)]


# -- who is bound ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("responders", "teams", "who", "team", "want"),
    [
        ({"anna"}, set(), "anna", None, True),
        ({"anna"}, set(), "ben", None, False),
        (set(), {"noord"}, "ben", "noord", True),
        (set(), {"noord"}, "ben", "zuid", False),
        (set(), {"noord"}, "ben", None, False),
        ({"anna"}, {"noord"}, "anna", "zuid", True),
        (set(), set(), "anna", "noord", False),
    ],
)
def test_a_responder_is_bound_by_name_or_by_team(
    responders: set[str], teams: set[str], who: str, team: str | None, want: bool
) -> None:
    z = _zone(responders=responders, teams=teams)
    assert z.binds(who, team) is want
    assert is_bound([_zone("other"), z], who, team) is want


def test_bound_at_joins_every_zone_holding_the_point() -> None:
    zones = [
        _zone("centre", CENTRE, {"anna"}, {"noord"}),
        _zone("all", SQUARE_AROUND_LEIDEN, {"ben"}, {"zuid"}),
        _zone("station", STATION_BOX, {"chloe"}, {"west"}),
    ]
    assert bound_at(zones, *HERE) == (frozenset({"anna", "ben"}), frozenset({"noord", "zuid"}))
    assert bound_at(zones, 0.0, 0.0) == (frozenset(), frozenset())


def test_a_zone_reads_back_what_it_wrote() -> None:
    z = Zone("z-1", "Centrum", CENTRE, frozenset({"b", "a"}), frozenset({"noord"}), 12)
    doc = z.to_dict()
    assert doc["polygon"][0] == [52.157, 4.484] and doc["responders"] == ["a", "b"]
    assert Zone.from_dict(doc) == z


# -- an offer prefers the alarm's zone ---------------------------------------------------------------------------

# Ben is nearest; Anna is bound to the centre by name, Chloe by her team; Dirk is bound to the station only.
CREW = [_r("ben", NEAR), _r("anna", FARTHER), _r("chloe", STATION, team="noord"), _r("dirk", NEAR, team="west")]
ZONES = {
    "centre": _zone("centre", CENTRE, {"anna"}, {"noord"}),
    "station": _zone("station", STATION_BOX, {"dirk"}),
}


@pytest.mark.parametrize(
    ("why", "at", "zones", "want"),
    [
        ("no zones: nearest first", HERE, {}, ["ben", "dirk", "anna", "chloe"]),
        ("in the centre: those bound to it first, nearest first", HERE, ZONES, ["anna", "chloe", "ben", "dirk"]),
        ("at the station: the one bound to it by name first", STATION, ZONES, ["dirk", "chloe", "ben", "anna"]),
        (
            "a zone bound to a team only",
            HERE,
            {"n": _zone("n", CENTRE, teams={"noord"})},
            ["chloe", "ben", "dirk", "anna"],
        ),
        ("outside every zone: nearest first", (52.14, 4.52), ZONES, None),
        ("in a zone nobody available is bound to", (52.166, 4.482), {"s": _zone("s", STATION_BOX)}, None),
        ("no position: as today", None, ZONES, None),
    ],
)
def test_ranked_puts_the_zones_own_first(
    why: str, at: tuple[float, float] | None, zones: dict[str, Zone], want: list[str] | None
) -> None:
    inc = _inc(at)
    plain = [r.id for _, r in ranked(inc, CREW, T0, POLICY, set())]
    got = [r.id for _, r in ranked(inc, CREW, T0, POLICY, set(), zones)]
    # None: where no zone applies, nothing changes.
    assert got == (plain if want is None else want), why


@pytest.mark.parametrize(
    ("why", "offered", "declined", "busy", "want"),
    [
        ("the first offer goes to the bound responder although Ben is nearer", [], [], set(), ["anna"]),
        ("Anna declined: the next bound one, by team", ["anna"], ["anna"], set(), ["chloe"]),
        ("both bound declined: then the nearest", ["anna", "chloe"], ["anna", "chloe"], set(), ["ben"]),
        ("Anna busy elsewhere: Chloe", [], [], {"anna"}, ["chloe"]),
    ],
)
def test_plan_offers_the_zones_own_first(
    why: str, offered: list[str], declined: list[str], busy: set[str], want: list[str]
) -> None:
    inc = _inc(HERE)
    inc.offered_to.extend(offered)
    inc.declined_by.extend(declined)
    p = plan(inc, CREW, T0 + 1000, T0, POLICY, busy, ZONES)
    assert p.offer == want, why


def test_the_broadcast_offers_everyone_near_as_before() -> None:
    inc = _inc(HERE, opened=T0)
    late = T0 + POLICY.broadcast_after_ms
    with_zones = plan(inc, CREW, late, T0, POLICY, set(), ZONES)
    without = plan(inc, CREW, late, T0, POLICY, set())
    assert with_zones.escalate_to == without.escalate_to == 1
    assert with_zones.offer == without.offer  # the same people, in the same order
    assert set(with_zones.offer) == {"ben", "anna", "dirk", "chloe"}


@given(st.permutations(CREW), st.sampled_from([HERE, STATION, (52.14, 4.52), None]))
def test_zones_reorder_but_never_add_or_drop(crew: list[Responder], at: tuple[float, float] | None) -> None:
    inc = _inc(at)
    plain = ranked(inc, crew, T0, POLICY, set())
    zoned = ranked(inc, crew, T0, POLICY, set(), ZONES)
    assert sorted(r.id for _, r in zoned) == sorted(r.id for _, r in plain)
    # Within each part, nearest first.
    if at is not None:
        ids, teams = bound_at(ZONES.values(), *at)
        flags = [r.id in ids or (r.team is not None and r.team in teams) for _, r in zoned]
        assert flags == sorted(flags, reverse=True)
        for part in (True, False):
            ds = [d for (d, _), f in zip(zoned, flags, strict=True) if f is part]
            assert ds == sorted(ds)
