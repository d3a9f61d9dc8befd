"""Scenario files: TOML read with tomllib, checked field by field (docs/simulator.md, "Scenario files").

Every error names the file and the field (``gateways[2].position``) and says what was expected, so a planner
editing a scenario by hand sees what to fix. Defaults describe Leiden at night.
"""

import math
import tomllib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from basestation.dispatch.state import Timing

LEIDEN_CENTRE = (52.1601, 4.4970)
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


DEFAULT_HOPS = {
    "ble_gateway": Hop(2.0, 6.0),  # BlueZ report to bleak callback to envelope
    "lora_gateway": Hop(3.0, 8.0),  # concentrator to packet forwarder (UDP, loopback) to envelope
    "backhaul": Hop(15.0, 40.0),  # gateway to broker over the city's backhaul (fibre/4G)
    "broker": Hop(1.0, 4.0),  # broker to dispatch; FACTS: 3.8 ms max with TCP_NODELAY on loopback
    "dispatch": Hop(1.0, 3.0),  # pipeline (~tens of µs) plus the asyncio hand-off
    "commit": Hop(4.0, 12.0),  # the writer's group commit before a downlink is published (SQLite WAL)
    "push": Hop(60.0, 140.0),  # live stream to a responder's phone over 4G (WebSocket/SSE)
    "downlink": Hop(20.0, 50.0),  # dispatch to broker to gateway to forwarder, until the txpk leaves
}


@dataclass(frozen=True, slots=True)
class RadioSettings:
    ring_tx_dbm: float = 14.0
    ring_gain_db: float = -3.0  # a small antenna beside the body
    gateway_gain_db: float = 3.0
    gateway_tx_dbm: float = 14.0
    noise_figure_db: float = 6.0
    ble_tx_dbm: float = 0.0
    ble_sensitivity_dbm: float = -95.0
    scan_interval_ms: float = 60.0
    scan_window_ms: float = 30.0
    downlink_duty: float = 0.10  # 869.4-869.65 MHz


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


class _Reader:
    """Typed access to one table, with the path of each field for error messages."""

    def __init__(self, source: str, path: str, doc: dict[str, Any]) -> None:
        self.source, self.path, self.doc = source, path, doc
        self.used: set[str] = set()

    def _fail(self, key: str, what: str) -> ScenarioError:
        where = f"{self.path}.{key}" if self.path else key
        return ScenarioError(f"{self.source}: {where}: {what}")

    def _get(self, key: str, default: Any) -> Any:
        self.used.add(key)
        if key not in self.doc:
            if default is _REQUIRED:
                raise self._fail(key, "missing")
            return default
        return self.doc[key]

    def number(self, key: str, default: Any = None, lo: float = -math.inf, hi: float = math.inf) -> float:
        v = self._get(key, default)
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise self._fail(key, f"expected a number, got {v!r}")
        if not lo <= v <= hi:
            raise self._fail(key, f"{v} is outside {lo}..{hi}")
        return float(v)

    def integer(self, key: str, default: Any = None, lo: int = 0, hi: int = 1 << 31) -> int:
        v = self._get(key, default)
        if isinstance(v, bool) or not isinstance(v, int):
            raise self._fail(key, f"expected an integer, got {v!r}")
        if not lo <= v <= hi:
            raise self._fail(key, f"{v} is outside {lo}..{hi}")
        return v

    def text(self, key: str, default: Any = None, choices: tuple[str, ...] = ()) -> str:
        v = self._get(key, default)
        if not isinstance(v, str):
            raise self._fail(key, f"expected text, got {v!r}")
        if choices and v not in choices:
            raise self._fail(key, f"{v!r} is not one of {', '.join(choices)}")
        return v

    def pair(self, key: str, default: Any = None, lo: float = -math.inf, hi: float = math.inf) -> tuple[float, float]:
        v = self._get(key, default)
        if not isinstance(v, list | tuple) or len(v) != 2:
            raise self._fail(key, f"expected [a, b], got {v!r}")
        for x in v:
            if isinstance(x, bool) or not isinstance(x, int | float) or not lo <= x <= hi:
                raise self._fail(key, f"expected two numbers in {lo}..{hi}, got {v!r}")
        return float(v[0]), float(v[1])

    def position(self, key: str = "position") -> tuple[float, float]:
        lat, lon = self.pair(key, _REQUIRED)
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise self._fail(key, f"expected [lat, lon] in degrees, got {[lat, lon]}")
        return lat, lon

    def strings(self, key: str, default: Any, choices: tuple[str, ...] = ()) -> tuple[str, ...]:
        v = self._get(key, default)
        if not isinstance(v, list | tuple) or not all(isinstance(x, str) for x in v):
            raise self._fail(key, f"expected a list of text, got {v!r}")
        for x in v:
            if choices and x not in choices:
                raise self._fail(key, f"{x!r} is not one of {', '.join(choices)}")
        return tuple(v)

    def table(self, key: str) -> "_Reader":
        v = self._get(key, {})
        if not isinstance(v, dict):
            raise self._fail(key, "expected a table")
        return _Reader(self.source, f"{self.path}.{key}" if self.path else key, v)

    def tables(self, key: str) -> list["_Reader"]:
        v = self._get(key, [])
        if not isinstance(v, list) or not all(isinstance(x, dict) for x in v):
            raise self._fail(key, "expected an array of tables ([[...]])")
        base = f"{self.path}.{key}" if self.path else key
        return [_Reader(self.source, f"{base}[{i}]", x) for i, x in enumerate(v)]

    def done(self) -> None:
        """Refuse unknown keys: a typo must not silently fall back to a default."""
        extra = sorted(set(self.doc) - self.used)
        if extra:
            raise ScenarioError(f"{self.source}: {self.path or 'top level'}: unknown key(s) {', '.join(extra)}")


_REQUIRED = object()


def _windows(r: _Reader, key: str, limit_h: float) -> tuple[Window, ...]:
    out = []
    for w in r.tables(key):
        start, end = w.number("start_h", _REQUIRED, 0, limit_h), w.number("end_h", _REQUIRED, 0, limit_h)
        if end <= start:
            raise ScenarioError(f"{w.source}: {w.path}: end_h must come after start_h")
        w.done()
        out.append(Window(start, end))
    return tuple(out)


def _place(r: _Reader, share: bool = False) -> Place:
    lat, lon = r.position("centre")
    p = Place(
        r.text("name", _REQUIRED),
        lat,
        lon,
        r.number("radius_m", 500.0, 10, 20_000),
        r.number("share", 1.0, 0, 1) if share else 1.0,
    )
    r.done()
    return p


def _hop(r: _Reader, key: str, default: Hop) -> Hop:
    if key not in r.doc:
        r.used.add(key)
        return default
    median, p95 = r.pair(key, _REQUIRED, 0, 600_000)
    if p95 < median:
        raise ScenarioError(f"{r.source}: {r.path}.{key}: p95 must be at least the median")
    return Hop(median, p95)


def _area(area: _Reader) -> tuple[str, tuple[float, float], float, tuple[Place, ...], tuple[Place, ...]]:
    centre = area.pair("centre", list(LEIDEN_CENTRE), -180, 180)
    area_radius = area.number("radius_m", 3500.0, 100, 50_000)
    area_name = area.text("name", "Leiden")
    districts = tuple(_place(d, share=True) for d in area.tables("districts"))
    destinations = tuple(_place(d) for d in area.tables("destinations"))
    area.done()
    if not districts:
        districts = (Place(area_name, centre[0], centre[1], area_radius, 1.0),)
    if not destinations:
        destinations = (Place(area_name, centre[0], centre[1], area_radius / 5),)
    if sum(d.share for d in districts) <= 0:
        raise ScenarioError(f"{area.source}: area.districts: the shares add up to zero")
    return area_name, centre, area_radius, districts, destinations


def _sfs(rr: _Reader) -> tuple[tuple[int, ...], tuple[float, ...]]:
    raw = rr._get("sf", 9)
    sfs = [raw] if isinstance(raw, int) and not isinstance(raw, bool) else raw
    if not isinstance(sfs, list) or not sfs or not all(isinstance(x, int) and 7 <= x <= 12 for x in sfs):
        raise rr._fail("sf", f"expected a spreading factor 7..12 or a list of them, got {raw!r}")
    if len(set(sfs)) != len(sfs):
        raise rr._fail("sf", "each spreading factor once")
    shares = rr._get("sf_share", [1.0] * len(sfs))
    if (
        not isinstance(shares, list)
        or len(shares) != len(sfs)
        or not all(isinstance(x, int | float) and not isinstance(x, bool) and x >= 0 for x in shares)
        or sum(shares) <= 0
    ):
        raise rr._fail("sf_share", f"expected {len(sfs)} non-negative numbers, one per sf, got {shares!r}")
    total = float(sum(shares))
    return tuple(sfs), tuple(float(x) / total for x in shares)


def _rings(rr: _Reader) -> Rings:
    out = rr.table("out")
    battery = rr.table("battery")
    sfs, shares = _sfs(rr)
    rings = Rings(
        count=rr.integer("count", _REQUIRED, 1, 10_000_000),
        exact=rr.text("exact", "alarm", ("alarm", "all")),
        heartbeat_min=rr.integer("heartbeat_min", 60, 1, 1440),
        out_share=out.number("share", 0.3, 0, 1),
        out_start_h=out.pair("start_h", [21.0, 1.0], 0, 24),
        out_hours=out.pair("hours", [2.0, 5.0], 0, 24),
        walking_mps=rr.number("walking_mps", 1.3, 0.1, 5),
        indoor_loss_db=rr.number("indoor_loss_db", 12.0, 0, 40),
        sf=sfs,
        sf_share=shares,
        battery_pct=battery.pair("percent", [100.0, 100.0], 0, 100),
        capacity_mah=battery.number("capacity_mah", 1000.0, 1, 100_000),
    )
    out.done()
    battery.done()
    rr.done()
    if rings.battery_pct[1] < rings.battery_pct[0]:
        raise ScenarioError(f"{rr.source}: rings.battery.percent: expected [low, high]")
    if rings.heartbeat_min < 60 and rings.exact != "all":
        # The bulk path delivers one hour at a time and settles each ring's backoff at the hour's end, so a ring
        # may beat at most once an hour there.
        raise ScenarioError(f'{rr.source}: rings.heartbeat_min: below 60 needs exact = "all"')
    return rings


def _alarms(al: _Reader, duration_h: float) -> Alarms:
    bursts = []
    for b in al.tables("bursts"):
        lat, lon = b.position("centre")
        bursts.append(
            Burst(
                b.number("start_h", _REQUIRED, 0, duration_h),
                b.number("minutes", 30.0, 0.1, 24 * 60),
                lat,
                lon,
                b.number("radius_m", 200.0, 1, 20_000),
                b.integer("sos", _REQUIRED, 1, 1_000_000),
            )
        )
        b.done()
    alarms = Alarms(
        sos_per_hour=al.number("sos_per_hour", 2.0, 0, 100_000),
        escort_per_hour=al.number("escort_per_hour", 1.0, 0, 100_000),
        false_share=al.number("false_share", 0.3, 0, 1),
        cancel_after_s=al.pair("cancel_after_s", [4.0, 60.0], 0, 3600),
        bursts=tuple(bursts),
        acts=_acts(al),
    )
    al.done()
    return alarms


def _ordered_pair(al: _Reader, key: str, default: tuple[float, float], lo: float, hi: float) -> tuple[float, float]:
    a, b = al.pair(key, list(default), lo, hi)
    if b < a:
        raise al._fail(key, f"expected [low, high], got {[a, b]}")
    return a, b


def _acts(al: _Reader) -> Acts:
    d = Acts()
    acts = Acts(
        again_share=al.number("again_share", d.again_share, 0, 1),
        again_after_min=_ordered_pair(al, "again_after_min", d.again_after_min, 0.5, 600),
        again_after_close_share=al.number("again_after_close_share", d.again_after_close_share, 0, 1),
        again_after_close_min=_ordered_pair(al, "again_after_close_min", d.again_after_close_min, 0, 600),
        duress_share=al.number("duress_share", d.duress_share, 0, 1),
        duress_after_s=_ordered_pair(al, "duress_after_s", d.duress_after_s, 0, 3600),
        late_cancel_share=al.number("late_cancel_share", d.late_cancel_share, 0, 1),
        late_cancel_after_s=_ordered_pair(al, "late_cancel_after_s", d.late_cancel_after_s, 0, 3600),
        escort_out_of_hours_per_hour=al.number("escort_out_of_hours_per_hour", 0.0, 0, 100_000),
    )
    if sum(acts.sos_shares) > 1 + 1e-9:
        raise ScenarioError(
            f"{al.source}: alarms: again_share, again_after_close_share, duress_share and late_cancel_share add up "
            "to more than 1 (each genuine SOS does at most one of them)"
        )
    window_s = Timing().cancel_window_ms / 1000
    if acts.late_cancel_after_s[0] <= window_s:
        # A cancel inside the window stands the responders down: that is a false alarm (false_share), not this.
        raise al._fail("late_cancel_after_s", f"must start after dispatch's cancel window of {window_s:.0f} s")
    return acts


def _responders(tables: list[_Reader]) -> tuple[ResponderSpec, ...]:
    responders = []
    for r in tables:
        lat, lon = r.position()
        shift = r.text("shift", "") or None
        if shift is not None and not _shift_ok(shift):
            raise ScenarioError(f"{r.source}: {r.path}.shift: expected HH:MM-HH:MM, got {shift!r}")
        responders.append(
            ResponderSpec(
                r.text("id", _REQUIRED),
                lat,
                lon,
                r.strings("skills", ["patrol", "first_aid"], ("patrol", "first_aid", "security")),
                shift,
            )
        )
        r.done()
    return tuple(responders)


def _gateways(top: _Reader, duration_h: float) -> tuple[tuple[GatewaySpec, ...], GatewayGrid | None]:
    gateways = []
    for g in top.tables("gateways"):
        lat, lon = g.position()
        gateways.append(
            GatewaySpec(
                g.text("id", _REQUIRED),
                lat,
                lon,
                g.strings("radios", ["lora"], ("lora", "ble")),
                _windows(g, "outages", duration_h),
            )
        )
        g.done()
    ids = [g.id for g in gateways]
    if len(set(ids)) != len(ids):
        raise ScenarioError(f"{top.source}: gateways: ids must be unique")
    grid = None
    if "gateway_grid" in top.doc:
        gr = top.table("gateway_grid")
        grid = GatewayGrid(gr.number("spacing_m", _REQUIRED, 100, 50_000), gr.strings("radios", ["lora"], ("lora",)))
        gr.done()
    else:
        top.used.add("gateway_grid")
    if not gateways and grid is None:
        raise ScenarioError(f"{top.source}: gateways: give at least one [[gateways]] or a [gateway_grid]")
    return tuple(gateways), grid


def parse(text: str, source: str = "<scenario>") -> Scenario:
    """A scenario from TOML text; ScenarioError names the field when something is wrong."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ScenarioError(f"{source}: not valid TOML: {e}") from None
    top = _Reader(source, "", doc)
    name = top.text("name", _REQUIRED)
    start_text = top.text("start", "2026-11-20T22:00:00+01:00")
    try:
        start = datetime.fromisoformat(start_text)
    except ValueError:
        raise ScenarioError(f"{source}: start: expected an ISO date-time, got {start_text!r}") from None
    if start.utcoffset() is None:
        raise ScenarioError(f"{source}: start: give the UTC offset, e.g. 2026-11-20T22:00:00+01:00")
    timezone = _timezone(top, start)
    duration_h = top.number("duration_h", 8.0, 0.01, 168)

    area_name, centre, area_radius, districts, destinations = _area(top.table("area"))
    gateways, grid = _gateways(top, duration_h)

    rings = _rings(top.table("rings"))
    alarms = _alarms(top.table("alarms"), duration_h)
    responders = _responders(top.tables("responders"))
    beh = top.table("behaviour")
    behaviour = ResponderBehaviour(
        accept_s=beh.pair("accept_s", [15.0, 60.0], 0, 3600),
        accept_share=beh.number("accept_share", 0.9, 0, 1),
        on_scene_min=beh.number("on_scene_min", 20.0, 0, 600),
        operator_close_min=beh.number("operator_close_min", 30.0, 1, 24 * 60),
    )
    beh.done()

    lat_t = top.table("latency")
    hops = {k: _hop(lat_t, k, v) for k, v in DEFAULT_HOPS.items()}
    lat_t.done()

    rad = top.table("radio")
    defaults = RadioSettings()
    radio = RadioSettings(
        **{
            name: rad.number(name, getattr(defaults, name), -200, 10_000)
            for name in RadioSettings.__dataclass_fields__  # every setting is a number
        }
    )
    rad.done()
    if radio.scan_window_ms > radio.scan_interval_ms:
        raise ScenarioError(f"{source}: radio.scan_window_ms: longer than scan_interval_ms")

    broker = top.table("broker")
    broker_outages = _windows(broker, "outages", duration_h)
    broker.done()

    attacker = None
    if "attacker" in doc:
        at = top.table("attacker")
        lat, lon = at.position()
        delays = at._get("replay_after_s", [30, 900, 7200])
        if not isinstance(delays, list) or not delays or not all(isinstance(x, int | float) and x > 0 for x in delays):
            raise ScenarioError(f"{source}: attacker.replay_after_s: expected a list of positive seconds")
        attacker = Attacker(
            lat,
            lon,
            at.number("listen_range_m", 1500.0, 1, 50_000),
            tuple(float(x) for x in delays),
            at.number("tx_dbm", 14.0, -30, 30),
        )
        at.done()
    else:
        top.used.add("attacker")

    scenario = Scenario(
        name=name,
        description=top.text("description", ""),
        seed=top.integer("seed", 1, 0, 1 << 62),
        start=start,
        duration_h=duration_h,
        area_name=area_name,
        centre=centre,
        area_radius_m=area_radius,
        districts=districts,
        destinations=destinations,
        gateways=gateways,
        gateway_grid=grid,
        rings=rings,
        alarms=alarms,
        responders=responders,
        behaviour=behaviour,
        hops=hops,
        radio=radio,
        broker_outages=broker_outages,
        attacker=attacker,
        timezone=timezone,
    )
    top.done()
    return scenario


def _timezone(top: _Reader, start: datetime) -> str:
    """The zone of the shifts' clock; ``start`` must carry that zone's offset at that instant, since the
    going-out hours are read off ``start``'s wall clock and the shifts off the zone's."""
    name = top.text("timezone", "Europe/Amsterdam")
    try:
        zone = ZoneInfo(name)
    except (KeyError, ValueError, OSError):
        raise top._fail("timezone", f"no time zone {name!r}; give an IANA name such as Europe/Amsterdam") from None
    if start.astimezone(zone).utcoffset() != start.utcoffset():
        local = start.astimezone(zone).isoformat()
        raise top._fail("start", f"{start.isoformat()} is {local} in {name}; give that offset")
    return name


def _shift_ok(shift: str) -> bool:
    a, sep, b = shift.partition("-")
    if not sep:
        return False
    for part in (a, b):
        hh, colon, mm = part.partition(":")
        if not colon or not (hh.isdigit() and mm.isdigit()) or int(hh) > 23 or int(mm) > 59:
            return False
    return True


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
