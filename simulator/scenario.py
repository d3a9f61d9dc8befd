"""Scenarios: a TOML file read with tomllib, checked by the pydantic models of simulator/scenario_file.py
(docs/simulator.md, "Scenario files"), and handed to the simulator as the plain frozen dataclasses below.

Every error names the file and the field (``gateways[2].position``) and says what was expected, so a planner
editing a scenario by hand sees what to fix; every mistake in the file is listed, one a line. Defaults describe
Leiden at night.
"""

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from simulator import scenario_file as f

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"


class ScenarioError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Window:
    """An interval in hours from the scenario start."""

    start_h: float
    end_h: float

    def contains_ms(self, t_ms: float) -> bool:
        return self.start_h * 3_600_000 <= t_ms < self.end_h * 3_600_000


@dataclass(frozen=True, slots=True)
class Place:
    name: str
    lat: float
    lon: float
    radius_m: float
    share: float = 1.0


@dataclass(frozen=True, slots=True)
class GatewaySpec:
    id: str
    lat: float
    lon: float
    radios: tuple[str, ...]
    outages: tuple[Window, ...] = ()


@dataclass(frozen=True, slots=True)
class GatewayGrid:
    spacing_m: float
    radios: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Rings:
    count: int
    exact: str  # "alarm": real firmware for rings that alarm; "all": for every ring
    heartbeat_min: int
    out_share: float  # share of people out during the night
    out_start_h: tuple[float, float]  # local clock hours; e.g. (21, 1) means 21:00-01:00
    out_hours: tuple[float, float]
    walking_mps: float
    indoor_loss_db: float
    sf: tuple[int, ...] = (9,)  # the LoRa spreading factors the rings use (firmware setting lora_sf) ...
    sf_share: tuple[float, ...] = (1.0,)  # ... and the share of rings on each
    battery_pct: tuple[float, float] = (100.0, 100.0)  # charge at the start, uniform between the two
    capacity_mah: float = 1000.0  # the cell (firmware/power.py's battery-life model uses 1000 mAh)


@dataclass(frozen=True, slots=True)
class Burst:
    """A cluster of alarms: a fight, a crowd crush, a festival."""

    start_h: float
    minutes: float
    lat: float
    lon: float
    radius_m: float
    sos: int


@dataclass(frozen=True, slots=True)
class Acts:
    """What wearers do besides one SOS or escort (docs/lifecycle.md). The shares are of the genuine (not false)
    SOS alarms, and each alarm does at most one of these; delays are uniform between the two bounds."""

    again_share: float = 0.0  # the wearer holds SOS again while help comes ...
    again_after_min: tuple[float, float] = (2.0, 8.0)  # ... this long after the first press
    again_after_close_share: float = 0.0  # the wearer holds SOS again after the alarm was resolved ...
    again_after_close_min: tuple[float, float] = (1.0, 10.0)  # ... this long after the resolve
    duress_share: float = 0.0  # an SOS, then the duress word (a cancel under coercion) ...
    duress_after_s: tuple[float, float] = (10.0, 90.0)  # ... this long after the hold
    late_cancel_share: float = 0.0  # an SOS, then the cancel word after dispatch's cancel window ...
    late_cancel_after_s: tuple[float, float] = (180.0, 600.0)  # ... this long after the hold
    escort_out_of_hours_per_hour: float = 0.0  # escorts asked for while no patrol responder is on shift

    @property
    def sos_shares(self) -> tuple[float, float, float, float]:
        return (self.duress_share, self.late_cancel_share, self.again_share, self.again_after_close_share)


@dataclass(frozen=True, slots=True)
class Alarms:
    sos_per_hour: float
    escort_per_hour: float
    false_share: float
    cancel_after_s: tuple[float, float]
    bursts: tuple[Burst, ...]
    acts: Acts = field(default_factory=Acts)


@dataclass(frozen=True, slots=True)
class ResponderSpec:
    id: str
    lat: float
    lon: float
    skills: tuple[str, ...]
    shift: str | None


@dataclass(frozen=True, slots=True)
class ResponderBehaviour:
    accept_s: tuple[float, float]  # median and p95 of the time to accept an offer
    accept_share: float  # the rest decline
    on_scene_min: float
    operator_close_min: float  # the operators close what nobody took (escalated, or an escort out of shift)


@dataclass(frozen=True, slots=True)
class Hop:
    """One hop's latency: log-normal from its median and p95 (ms)."""

    median_ms: float
    p95_ms: float


def _hops(latency: f.Latency) -> dict[str, Hop]:
    return {k: Hop(v[0], v[1]) for k, v in latency.model_dump().items()}


# Each hop's latency where the scenario file sets none: the defaults of its [latency] table.
DEFAULT_HOPS = _hops(f.Latency())


# The radio's settings: the scenario file's [radio] table, checked there and with its defaults there.
RadioSettings = f.Radio


@dataclass(frozen=True, slots=True)
class Attacker:
    lat: float
    lon: float
    listen_range_m: float
    replay_after_s: tuple[float, ...]
    tx_dbm: float


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    description: str
    seed: int
    start: datetime
    duration_h: float
    area_name: str
    centre: tuple[float, float]
    area_radius_m: float
    districts: tuple[Place, ...]
    destinations: tuple[Place, ...]
    gateways: tuple[GatewaySpec, ...]
    gateway_grid: GatewayGrid | None
    rings: Rings
    alarms: Alarms
    responders: tuple[ResponderSpec, ...]
    behaviour: ResponderBehaviour
    hops: dict[str, Hop] = field(default_factory=lambda: dict(DEFAULT_HOPS))
    radio: RadioSettings = field(default_factory=RadioSettings)
    broker_outages: tuple[Window, ...] = ()
    attacker: Attacker | None = None
    timezone: str = "Europe/Amsterdam"  # the responders' shifts are read on this zone's wall clock

    @property
    def utc_offset_min(self) -> int:
        off = self.start.utcoffset()
        return 0 if off is None else int(off.total_seconds() // 60)

    @property
    def start_unix_ms(self) -> int:
        return int(self.start.timestamp() * 1000)


def _message(e: ErrorDetails) -> tuple[list[str | int], str]:
    """Where an error is (the path of keys) and what it says, in the words of the hand-written checks before it."""
    loc: list[str | int] = list(e["loc"])
    kind, got, ctx = e["type"], e.get("input"), e.get("ctx") or {}
    if kind == "scenario":
        return [*loc, str(ctx["field"])] if ctx["field"] else loc, str(ctx["what"])
    if kind not in ("model_type", "dict_type", "missing") and loc and isinstance(loc[-1], int):
        loc.pop()  # one item of a list of values: the message quotes it, the list is the field
    words = {
        "missing": "missing",
        "float_type": f"expected a number, got {got!r}",
        "finite_number": f"expected a number, got {got!r}",
        "int_type": f"expected an integer, got {got!r}",
        "string_type": f"expected text, got {got!r}",
        "list_type": f"expected a list ([...]), got {got!r}",
        "model_type": f"expected a table, got {got!r}",
        "literal_error": f"{got!r} is not one of {ctx.get('expected', '')}",
        "too_short": f"expected at least {ctx.get('min_length')} item(s), got {got!r}",
        "too_long": f"expected at most {ctx.get('max_length')} item(s), got {got!r}",
    }
    return loc, words.get(kind, e["msg"])


def _path(loc: Sequence[str | int]) -> str:
    out = ""
    for k in loc:
        out += f"[{k}]" if isinstance(k, int) else f".{k}" if out else str(k)
    return out


def errors(err: ValidationError, source: str) -> ScenarioError:
    """One line per mistake, each naming the file and the field; unknown keys gathered per table."""
    lines: list[str] = []
    unknown: dict[str, list[str]] = {}
    for e in err.errors():
        if e["type"] == "extra_forbidden":
            *table, key = e["loc"]
            unknown.setdefault(_path(table) or "top level", []).append(str(key))
            continue
        loc, what = _message(e)
        lines.append(f"{source}: {_path(loc)}: {what}")
    lines += [f"{source}: {table}: unknown key(s) {', '.join(keys)}" for table, keys in unknown.items()]
    return ScenarioError("\n".join(lines))


def _place(p: f.Place, share: float = 1.0) -> Place:
    return Place(p.name, p.centre[0], p.centre[1], p.radius_m, share)


def _window(w: f.Window) -> Window:
    return Window(w.start_h, w.end_h)


def _pair(v: list[float]) -> tuple[float, float]:
    return v[0], v[1]


def _rings(r: f.Rings) -> Rings:
    shares = r.sf_share or [1.0] * len(r.sf)
    total = sum(shares)
    return Rings(
        count=r.count,
        exact=r.exact,
        heartbeat_min=r.heartbeat_min,
        out_share=r.out.share,
        out_start_h=_pair(r.out.start_h),
        out_hours=_pair(r.out.hours),
        walking_mps=r.walking_mps,
        indoor_loss_db=r.indoor_loss_db,
        sf=tuple(r.sf),
        sf_share=tuple(x / total for x in shares),
        battery_pct=_pair(r.battery.percent),
        capacity_mah=r.battery.capacity_mah,
    )


def _alarms(a: f.Alarms) -> Alarms:
    acts = Acts(
        again_share=a.again_share,
        again_after_min=_pair(a.again_after_min),
        again_after_close_share=a.again_after_close_share,
        again_after_close_min=_pair(a.again_after_close_min),
        duress_share=a.duress_share,
        duress_after_s=_pair(a.duress_after_s),
        late_cancel_share=a.late_cancel_share,
        late_cancel_after_s=_pair(a.late_cancel_after_s),
        escort_out_of_hours_per_hour=a.escort_out_of_hours_per_hour,
    )
    bursts = tuple(Burst(b.start_h, b.minutes, b.centre[0], b.centre[1], b.radius_m, b.sos) for b in a.bursts)
    return Alarms(a.sos_per_hour, a.escort_per_hour, a.false_share, _pair(a.cancel_after_s), bursts, acts)


def scenario(doc: f.ScenarioFile) -> Scenario:
    """The simulator's view of a checked file: positions as lat/lon, defaults for what the file leaves out."""
    area = doc.area
    centre = _pair(area.centre)
    districts = tuple(_place(d, d.share) for d in area.districts) or (
        Place(area.name, centre[0], centre[1], area.radius_m, 1.0),
    )
    destinations = tuple(_place(d) for d in area.destinations) or (
        Place(area.name, centre[0], centre[1], area.radius_m / 5),
    )
    at = doc.attacker
    return Scenario(
        name=doc.name,
        description=doc.description,
        seed=doc.seed,
        start=doc.start,
        duration_h=doc.duration_h,
        area_name=area.name,
        centre=centre,
        area_radius_m=area.radius_m,
        districts=districts,
        destinations=destinations,
        gateways=tuple(
            GatewaySpec(g.id, g.position[0], g.position[1], tuple(g.radios), tuple(map(_window, g.outages)))
            for g in doc.gateways
        ),
        gateway_grid=None
        if doc.gateway_grid is None
        else GatewayGrid(doc.gateway_grid.spacing_m, tuple(doc.gateway_grid.radios)),
        rings=_rings(doc.rings),
        alarms=_alarms(doc.alarms),
        responders=tuple(
            ResponderSpec(r.id, r.position[0], r.position[1], tuple(r.skills), r.shift or None) for r in doc.responders
        ),
        behaviour=ResponderBehaviour(
            _pair(doc.behaviour.accept_s),
            doc.behaviour.accept_share,
            doc.behaviour.on_scene_min,
            doc.behaviour.operator_close_min,
        ),
        hops=_hops(doc.latency),
        radio=doc.radio,
        broker_outages=tuple(map(_window, doc.broker.outages)),
        attacker=None
        if at is None
        else Attacker(at.position[0], at.position[1], at.listen_range_m, tuple(at.replay_after_s), at.tx_dbm),
        timezone=doc.timezone,
    )


def parse(text: str, source: str = "<scenario>") -> Scenario:
    """A scenario from TOML text; ScenarioError names the file and the field of every mistake."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ScenarioError(f"{source}: not valid TOML: {e}") from None
    try:
        checked = f.ScenarioFile.model_validate(doc)
    except ValidationError as e:
        raise errors(e, source) from None
    return scenario(checked)


def load(name_or_path: str) -> Scenario:
    """A scenario by file path, or by the name of one shipped in simulator/scenarios/."""
    path = Path(name_or_path)
    if not path.is_file():
        shipped = SCENARIO_DIR / f"{name_or_path}.toml"
        if not shipped.is_file():
            names = ", ".join(sorted(p.stem for p in SCENARIO_DIR.glob("*.toml")))
            raise ScenarioError(f"no scenario file {name_or_path!r}; shipped scenarios: {names}")
        path = shipped
    return parse(path.read_text(encoding="utf-8"), str(path))
