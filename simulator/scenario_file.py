"""The scenario file's schema: pydantic models of the TOML as written, strict and closed.

Strict: a number is a number (``count = 2.5`` is refused, not rounded) and text is text. Closed: unknown keys are
refused, so a typo cannot silently fall back to a default. Each check that spans fields raises a ``scenario``
error naming the field it is about, so simulator/scenario.py can say ``rings.heartbeat_min: ...`` as it says
``rings.count: ...`` for a check of one value. simulator/scenario.py turns a valid file into the dataclasses the
simulator reads.
"""

import math
from datetime import datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from basestation.dispatch.core.state import Timing

LEIDEN_CENTRE = (52.1601, 4.4970)
DEFAULT_START = "2026-11-20T22:00:00+01:00"


def fail(field: str, what: str) -> PydanticCustomError:
    """An error about ``field`` (a path below the model raising it; "" for the model itself)."""
    return PydanticCustomError("scenario", "{what}", {"field": field, "what": what})


def _n(v: float) -> str:
    return str(int(v)) if math.isfinite(v) and v == int(v) and abs(v) < 1e15 else str(v)


def within(lo: float = -math.inf, hi: float = math.inf) -> AfterValidator:
    def check(v: float) -> float:
        if not lo <= v <= hi:
            raise PydanticCustomError(
                "scenario", "{what}", {"field": "", "what": f"{_n(v)} is outside {_n(lo)}..{_n(hi)}"}
            )
        return v

    return AfterValidator(check)


def _ordered(v: list[float]) -> list[float]:
    if v[1] < v[0]:
        raise fail("", f"expected [low, high], got {v!r}")
    return v


def _degrees(v: list[float]) -> list[float]:
    if not (-90 <= v[0] <= 90 and -180 <= v[1] <= 180):
        raise fail("", f"expected [lat, lon] in degrees, got {v!r}")
    return v


def _hop(v: list[float]) -> list[float]:
    if v[1] < v[0]:
        raise fail("", "p95 must be at least the median")
    return v


FINITE = Field(allow_inf_nan=False)
PAIR = Field(min_length=2, max_length=2)
Share = Annotated[float, FINITE, within(0, 1)]
Rate = Annotated[float, FINITE, within(0, 100_000)]
Position = Annotated[list[Annotated[float, FINITE]], PAIR, AfterValidator(_degrees)]


Degrees = Annotated[list[Annotated[float, FINITE, within(-180, 180)]], PAIR]
Hours = Annotated[list[Annotated[float, FINITE, within(0, 24)]], PAIR]
Seconds = Annotated[list[Annotated[float, FINITE, within(0, 3600)]], PAIR]
OrderedSeconds = Annotated[list[Annotated[float, FINITE, within(0, 3600)]], PAIR, AfterValidator(_ordered)]
OrderedMinutes = Annotated[list[Annotated[float, FINITE, within(0, 600)]], PAIR, AfterValidator(_ordered)]
Percent = Annotated[list[Annotated[float, FINITE, within(0, 100)]], PAIR, AfterValidator(_ordered)]
AgainMinutes = Annotated[list[Annotated[float, FINITE, within(0.5, 600)]], PAIR, AfterValidator(_ordered)]
HopMs = Annotated[list[Annotated[float, FINITE, within(0, 600_000)]], PAIR, AfterValidator(_hop)]


class Table(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class Window(Table):
    start_h: Annotated[float, FINITE, within(0)]
    end_h: Annotated[float, FINITE, within(0)]

    @model_validator(mode="after")
    def _ends_after_start(self) -> "Window":
        if self.end_h <= self.start_h:
            raise fail("", "end_h must come after start_h")
        return self


class Place(Table):
    name: str
    centre: Position
    radius_m: Annotated[float, FINITE, within(10, 20_000)] = 500.0


class District(Place):
    share: Share = 1.0


class Area(Table):
    name: str = "Leiden"
    centre: Degrees = list(LEIDEN_CENTRE)
    radius_m: Annotated[float, FINITE, within(100, 50_000)] = 3500.0
    districts: list[District] = []
    destinations: list[Place] = []

    @model_validator(mode="after")
    def _shares(self) -> "Area":
        if self.districts and sum(d.share for d in self.districts) <= 0:
            raise fail("districts", "the shares add up to zero")
        return self


class Gateway(Table):
    id: str
    position: Position
    radios: list[Literal["lora", "ble"]] = ["lora"]
    outages: list[Window] = []


class GatewayGrid(Table):
    spacing_m: Annotated[float, FINITE, within(100, 50_000)]
    radios: list[Literal["lora"]] = ["lora"]


class Out(Table):
    share: Share = 0.3
    start_h: Hours = [21.0, 1.0]
    hours: Hours = [2.0, 5.0]


class Battery(Table):
    percent: Percent = [100.0, 100.0]
    capacity_mah: Annotated[float, FINITE, within(1, 100_000)] = 1000.0


def _sfs(raw: Any) -> Any:
    sfs = [raw] if isinstance(raw, int) and not isinstance(raw, bool) else raw
    if (
        not isinstance(sfs, list)
        or not sfs
        or not all(isinstance(x, int) and not isinstance(x, bool) and 7 <= x <= 12 for x in sfs)
    ):
        raise fail("", f"expected a spreading factor 7..12 or a list of them, got {raw!r}")
    if len(set(sfs)) != len(sfs):
        raise fail("", "each spreading factor once")
    return sfs


class Rings(Table):
    count: Annotated[int, within(1, 10_000_000)]
    exact: Literal["alarm", "all"] = "alarm"
    heartbeat_min: Annotated[int, within(1, 1440)] = 60
    walking_mps: Annotated[float, FINITE, within(0.1, 5)] = 1.3
    indoor_loss_db: Annotated[float, FINITE, within(0, 40)] = 12.0
    sf: Annotated[list[int], BeforeValidator(_sfs)] = [9]
    sf_share: list[Annotated[float, FINITE, within(0)]] | None = None
    out: Out = Field(default_factory=Out)
    battery: Battery = Field(default_factory=Battery)

    @model_validator(mode="after")
    def _together(self) -> "Rings":
        if self.sf_share is not None and (len(self.sf_share) != len(self.sf) or sum(self.sf_share) <= 0):
            raise fail("sf_share", f"expected {len(self.sf)} non-negative numbers, one per sf, got {self.sf_share!r}")
        if self.heartbeat_min < 60 and self.exact != "all":
            # The bulk path delivers one hour at a time and settles each ring's backoff at the hour's end, so a
            # ring may beat at most once an hour there.
            raise fail("heartbeat_min", 'below 60 needs exact = "all"')
        return self


class Burst(Table):
    start_h: Annotated[float, FINITE, within(0)]
    minutes: Annotated[float, FINITE, within(0.1, 24 * 60)] = 30.0
    centre: Position
    radius_m: Annotated[float, FINITE, within(1, 20_000)] = 200.0
    sos: Annotated[int, within(1, 1_000_000)]


class Alarms(Table):
    sos_per_hour: Rate = 2.0
    escort_per_hour: Rate = 1.0
    false_share: Share = 0.3
    cancel_after_s: Seconds = [4.0, 60.0]
    bursts: list[Burst] = []
    # What wearers do besides one press (docs/lifecycle.md); the shares are of the genuine SOS alarms.
    again_share: Share = 0.0
    again_after_min: AgainMinutes = [2.0, 8.0]
    again_after_close_share: Share = 0.0
    again_after_close_min: OrderedMinutes = [1.0, 10.0]
    duress_share: Share = 0.0
    duress_after_s: OrderedSeconds = [10.0, 90.0]
    late_cancel_share: Share = 0.0
    late_cancel_after_s: OrderedSeconds = [180.0, 600.0]
    escort_out_of_hours_per_hour: Rate = 0.0

    @model_validator(mode="after")
    def _acts(self) -> "Alarms":
        shares = (self.again_share, self.again_after_close_share, self.duress_share, self.late_cancel_share)
        if sum(shares) > 1 + 1e-9:
            raise fail(
                "",
                "again_share, again_after_close_share, duress_share and late_cancel_share add up to more than 1 "
                "(each genuine SOS does at most one of them)",
            )
        window_s = Timing().cancel_window_ms / 1000
        if self.late_cancel_after_s[0] <= window_s:
            # A cancel inside the window stands the responders down: that is a false alarm (false_share), not this.
            raise fail("late_cancel_after_s", f"must start after dispatch's cancel window of {window_s:.0f} s")
        return self


def _hh_mm(part: str) -> bool:
    hh, colon, mm = part.partition(":")
    return bool(colon) and hh.isdigit() and mm.isdigit() and int(hh) <= 23 and int(mm) <= 59


def _shift(shift: str) -> str:
    start, dash, end = shift.partition("-")
    if shift and not (dash and _hh_mm(start) and _hh_mm(end)):
        raise fail("", f"expected HH:MM-HH:MM, got {shift!r}")
    return shift


class Responder(Table):
    id: str
    position: Position
    skills: list[Literal["patrol", "first_aid", "security"]] = ["patrol", "first_aid"]
    shift: Annotated[str, AfterValidator(_shift)] = ""


class Behaviour(Table):
    accept_s: Seconds = [15.0, 60.0]
    accept_share: Share = 0.9
    on_scene_min: Annotated[float, FINITE, within(0, 600)] = 20.0
    operator_close_min: Annotated[float, FINITE, within(1, 24 * 60)] = 30.0


class Latency(Table):
    """One ``[median, p95]`` in ms per hop; a hop left out keeps its default here."""

    ble_gateway: HopMs = [2.0, 6.0]  # BlueZ report to bleak callback to envelope
    lora_gateway: HopMs = [3.0, 8.0]  # concentrator to packet forwarder (UDP, loopback) to envelope
    backhaul: HopMs = [15.0, 40.0]  # gateway to broker over the city's backhaul (fibre/4G)
    broker: HopMs = [1.0, 4.0]  # broker to dispatch; FACTS: 3.8 ms max with TCP_NODELAY on loopback
    dispatch: HopMs = [1.0, 3.0]  # pipeline (~tens of µs) plus the asyncio hand-off
    commit: HopMs = [4.0, 12.0]  # the writer's group commit before a downlink is published (SQLite WAL)
    push: HopMs = [60.0, 140.0]  # live stream to a responder's phone over 4G (WebSocket/SSE)
    downlink: HopMs = [20.0, 50.0]  # dispatch to broker to gateway to forwarder, until the txpk leaves


Setting = Annotated[float, FINITE, within(-200, 10_000)]


class Radio(Table):
    ring_tx_dbm: Setting = 14.0
    ring_gain_db: Setting = -3.0  # a small antenna beside the body
    gateway_gain_db: Setting = 3.0
    gateway_tx_dbm: Setting = 14.0
    noise_figure_db: Setting = 6.0
    ble_tx_dbm: Setting = 0.0
    ble_sensitivity_dbm: Setting = -95.0
    scan_interval_ms: Setting = 60.0
    scan_window_ms: Setting = 30.0
    downlink_duty: Setting = 0.10  # 869.4-869.65 MHz

    @model_validator(mode="after")
    def _scan(self) -> "Radio":
        if self.scan_window_ms > self.scan_interval_ms:
            raise fail("scan_window_ms", "longer than scan_interval_ms")
        return self


class Broker(Table):
    outages: list[Window] = []


def _delays(v: list[float]) -> list[float]:
    if not v or not all(x > 0 for x in v):
        raise fail("", "expected a list of positive seconds")
    return v


class Attacker(Table):
    position: Position
    listen_range_m: Annotated[float, FINITE, within(1, 50_000)] = 1500.0
    replay_after_s: Annotated[list[Annotated[float, FINITE]], AfterValidator(_delays)] = [30.0, 900.0, 7200.0]
    tx_dbm: Annotated[float, FINITE, within(-30, 30)] = 14.0


def _start(v: Any) -> Any:
    if isinstance(v, str):
        try:
            v = datetime.fromisoformat(v)
        except ValueError:
            raise fail("", f"expected an ISO date-time, got {v!r}") from None
    if not isinstance(v, datetime):
        raise fail("", f"expected an ISO date-time, got {v!r}")
    if v.utcoffset() is None:
        raise fail("", f"give the UTC offset, e.g. {DEFAULT_START}")
    return v


def _zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (KeyError, ValueError, OSError):
        raise fail("", f"no time zone {name!r}; give an IANA name such as Europe/Amsterdam") from None
    return name


class ScenarioFile(Table):
    name: str
    description: str = ""
    seed: Annotated[int, within(0, 1 << 62)] = 1
    start: Annotated[datetime, BeforeValidator(_start)] = datetime.fromisoformat(DEFAULT_START)
    timezone: Annotated[str, AfterValidator(_zone)] = "Europe/Amsterdam"
    duration_h: Annotated[float, FINITE, within(0.01, 168)] = 8.0
    area: Area = Field(default_factory=Area)
    gateways: list[Gateway] = []
    gateway_grid: GatewayGrid | None = None
    rings: Rings
    alarms: Alarms = Field(default_factory=Alarms)
    responders: list[Responder] = []
    behaviour: Behaviour = Field(default_factory=Behaviour)
    latency: Latency = Field(default_factory=Latency)
    radio: Radio = Field(default_factory=Radio)
    broker: Broker = Field(default_factory=Broker)
    attacker: Attacker | None = None

    @model_validator(mode="after")
    def _whole(self) -> "ScenarioFile":
        # The going-out hours are read off the start's wall clock and the shifts off the zone's: they must agree.
        local = self.start.astimezone(ZoneInfo(self.timezone))
        if local.utcoffset() != self.start.utcoffset():
            raise fail("start", f"{self.start.isoformat()} is {local.isoformat()} in {self.timezone}; give that offset")
        if not self.gateways and self.gateway_grid is None:
            raise fail("gateways", "give at least one [[gateways]] or a [gateway_grid]")
        if len({g.id for g in self.gateways}) != len(self.gateways):
            raise fail("gateways", "ids must be unique")
        for where, t in self._times():
            if t > self.duration_h:
                raise fail(where, f"{_n(t)} is outside 0..{_n(self.duration_h)} (duration_h)")
        return self

    def _times(self) -> list[tuple[str, float]]:
        """Every hour in the file that must fall within the run, with its field."""
        out = []
        for i, g in enumerate(self.gateways):
            for k, w in enumerate(g.outages):
                out += [
                    (f"gateways[{i}].outages[{k}].start_h", w.start_h),
                    (f"gateways[{i}].outages[{k}].end_h", w.end_h),
                ]
        for k, w in enumerate(self.broker.outages):
            out += [(f"broker.outages[{k}].start_h", w.start_h), (f"broker.outages[{k}].end_h", w.end_h)]
        out += [(f"alarms.bursts[{k}].start_h", b.start_h) for k, b in enumerate(self.alarms.bursts)]
        return out
