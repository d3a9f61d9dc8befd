"""Who gets offered an incident, and when it escalates (pure), as X-Guard does it.

Offer to the nearest available on-duty responder; on a decline or after ``offer_timeout`` offer to the next;
after ``broadcast_after`` offer to everyone on duty within ``broadcast_radius``; after ``escalate_after`` with
nobody accepted, escalate to the operators and the external webhook. ESCORT requests go to the night patrol only;
they escalate to the operators but never to the monitoring centre: they are not emergencies.
"""

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from functools import lru_cache
from typing import Final
from zoneinfo import ZoneInfo

from basestation.dispatch.core.geo import distance_m
from basestation.dispatch.core.incidents import Incident, Kind, State
from basestation.dispatch.core.zones import Zone, bound_at


@dataclass(slots=True)
class Responder:
    id: str
    name: str
    language: str = "nl"  # nl or en
    skills: list[str] = field(default_factory=list)  # patrol, first_aid, security
    on_duty: bool = False
    lat: float | None = None
    lon: float | None = None
    shift: str | None = None  # "01:00-05:00" local clock, None for any time
    position_ms: int = 0
    team: str | None = None  # a patrol zone may be bound to the team (zones.py)

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "language": self.language,
            "skills": list(self.skills),
            "on_duty": self.on_duty,
            "shift": self.shift,
            "team": self.team,
            "position": None if self.lat is None else {"lat": self.lat, "lon": self.lon, "at_ms": self.position_ms},
        }


@dataclass(frozen=True, slots=True)
class Policy:
    offer_timeout_ms: int = 30_000
    broadcast_after_ms: int = 90_000
    broadcast_radius_m: float = 2_000.0
    escalate_after_ms: int = 180_000
    timezone: str = "Europe/Amsterdam"  # shifts are read on this zone's wall clock (an IANA name)

    def __post_init__(self) -> None:
        local_clock(self.timezone)  # an unknown zone fails here, at start-up, not at the first alarm


DAY_MS = 86_400_000
MINUTE_MS = 60_000
_ONE_MS = timedelta(milliseconds=1)


class LocalClock:
    """One zone's wall clock, as milliseconds into the local day.

    The instant's own offset is what counts: on the spring night 02:00-03:00 local never happens, on the autumn
    night it happens twice, and a shift covers the instants whose wall clock reads inside it, however many.

    Asking zoneinfo for the offset costs more than the rest of a shift check, and ``available()`` checks every
    responder at every alarm, so the offset is kept for the minute it was asked in: zones change their offset on
    minute boundaries. Not every historical change did (Amsterdam's of 1937 fell at 22:40:28 UTC): a minute whose
    two ends have different offsets is not kept, and is asked again at every call. With 50 responders on the night
    patrol's shift a plan takes 22 us (compiled), against 21 us with the fixed offset this replaced and 17 us with
    no shifts; asking zoneinfo for every responder (0.4 us each) would have added 20 us.
    """

    def __init__(self, name: str) -> None:
        self.zone = ZoneInfo(name)
        # (minute, offset) in one attribute, replaced whole: a reader on another thread never pairs a minute with
        # another minute's offset. Minute -2^62 is before anything datetime can hold, so it is never asked.
        self._kept: tuple[int, int] = (-(1 << 62), 0)

    def day_ms(self, now_ms: int) -> int:
        minute = now_ms // MINUTE_MS
        kept_minute, offset = self._kept
        if minute != kept_minute:
            first = self.offset_ms(minute * MINUTE_MS)
            if first == self.offset_ms(minute * MINUTE_MS + MINUTE_MS - 1):
                self._kept = (minute, first)
                offset = first
            else:
                offset = self.offset_ms(now_ms)
        return (now_ms + offset) % DAY_MS

    def offset_ms(self, at_ms: int) -> int:
        # Offsets change on whole seconds, so the second holds the offset of every millisecond in it.
        off = datetime.fromtimestamp(at_ms // 1000, self.zone).utcoffset()
        return 0 if off is None else off // _ONE_MS


_CLOCKS: Final[dict[str, LocalClock]] = {}


def local_clock(timezone: str) -> LocalClock:
    """The shared clock of a zone (raises for an unknown one, as ``ZoneInfo`` does)."""
    clock = _CLOCKS.get(timezone)
    if clock is None:
        clock = _CLOCKS[timezone] = LocalClock(timezone)
    return clock


@lru_cache(maxsize=1024)
def shift_bounds(shift: str) -> tuple[int, int]:
    """A shift such as "01:00-05:00" as milliseconds into the local day, start and end. Parsed once per shift:
    an alarm checks every responder's shift, and parsing them (and reading the clock) each time was most of the
    offer's cost: with 50 responders on the night patrol's shift a plan took 93 us, now 36 us, against 30 us with
    no shifts."""
    start_s, _, end_s = shift.partition("-")
    start, end = time.fromisoformat(start_s), time.fromisoformat(end_s)
    return _day_ms(start), _day_ms(end)


def _day_ms(t: time) -> int:
    return ((t.hour * 60 + t.minute) * 60 + t.second) * 1000 + t.microsecond // 1000


def in_shift(shift: str | None, now_ms: int, timezone: str) -> bool:
    """Whether the wall clock of ``timezone`` at ``now_ms`` reads inside ``shift`` (start included, end not)."""
    if not shift:
        return True
    start, end = shift_bounds(shift)
    local = local_clock(timezone).day_ms(now_ms)
    # A shift like 22:00-06:00 wraps midnight.
    return start <= local < end if start <= end else local >= start or local < end


def available(r: Responder, now_ms: int, policy: Policy, busy: set[str]) -> bool:
    return r.on_duty and r.id not in busy and in_shift(r.shift, now_ms, policy.timezone)


def suits(r: Responder, inc: Incident) -> bool:
    # A welfare check is a patrol's visit, as an escort is.
    return inc.kind == Kind.SOS or "patrol" in r.skills


def ranked(
    inc: Incident,
    responders: list[Responder],
    now_ms: int,
    policy: Policy,
    busy: set[str],
    zones: dict[str, Zone] | None = None,
) -> list[tuple[float, Responder]]:
    """Available, suitable responders not yet offered or declined, nearest first (unknown position last).

    When the incident lies in patrol zones, the responders bound to them come first (nearest first among them):
    they patrol those streets and are expected there. Without zones, or outside them, nearest first alone."""
    out = []
    for r in responders:
        if r.id in inc.offered_to or r.id in inc.declined_by or not suits(r, inc):
            continue
        if not available(r, now_ms, policy, busy):
            continue
        if inc.lat is None or r.lat is None or r.lon is None or inc.lon is None:
            d = float("inf")
        else:
            d = distance_m(inc.lat, inc.lon, r.lat, r.lon)
        out.append((d, r))
    out.sort(key=lambda x: x[0])
    if zones and inc.lat is not None and inc.lon is not None and out:
        ids, teams = bound_at(zones.values(), inc.lat, inc.lon)
        if ids or teams:
            # A stable partition of the sorted list: each part stays nearest first.
            bound: list[tuple[float, Responder]] = []
            rest: list[tuple[float, Responder]] = []
            for x in out:
                r = x[1]
                (bound if r.id in ids or (r.team is not None and r.team in teams) else rest).append(x)
            out = bound + rest
    return out


@dataclass(frozen=True, slots=True)
class Plan:
    offer: list[str]  # responder ids to offer to now
    escalate_to: int  # new escalation level, or the current one


def plan(
    inc: Incident,
    responders: list[Responder],
    now_ms: int,
    last_offer_ms: int,
    policy: Policy,
    busy: set[str],
    zones: dict[str, Zone] | None = None,
) -> Plan:
    """What to do for one incident at ``now_ms``: nothing, offer to one or more, or escalate. ``zones`` (the
    patrol zones by id) put the responders bound to the incident's zone first for a single offer."""
    if inc.state not in (State.OPEN, State.OFFERED, State.ESCALATED):
        return Plan([], inc.escalation)
    age = now_ms - inc.opened_ms
    level = inc.escalation
    if age >= policy.broadcast_after_ms and level < 1:
        level = 1
    if age >= policy.escalate_after_ms and level < 2:
        level = 2  # for an escort too: nobody of the patrol came, so an operator must know (not the webhook)
    # A broadcast offers everyone near at once: nobody comes first, so the zones are not asked.
    candidates = ranked(inc, responders, now_ms, policy, busy, zones if level < 1 else None)
    if level >= 1:
        near = [r.id for d, r in candidates if d <= policy.broadcast_radius_m or d == float("inf")]
        return Plan(near, level)
    waiting = [o for o in inc.offered_to if o not in inc.declined_by]
    due = not waiting or now_ms - last_offer_ms >= policy.offer_timeout_ms
    if due and candidates:
        return Plan([candidates[0][1].id], level)
    return Plan([], level)
