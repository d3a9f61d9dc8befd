"""What the engine's parts need of it: the clock, the heap, the world and its models, the counters, and each
other's few entry points.

The parts (exact_rings, ble_air, lora_air, backend, downlinks, attacker) take an ``EngineAPI`` rather than the
``Engine`` itself, so none of them imports the engine and the engine imports them all without a cycle. Every
member is read-only here: a part reads the engine's state and schedules events, it never swaps a model out.
"""

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from simulator.bulk import BulkHeartbeats
from simulator.dispatch_model import DispatchModel
from simulator.hops import HopSampler
from simulator.links import LoraLink
from simulator.on_air import Tx
from simulator.ring import SimRing
from simulator.scenario import Scenario
from simulator.space import GridIndex
from simulator.trace import AlarmTrace
from simulator.world import World

Progress = Callable[[float, dict[str, Any]], None]  # (virtual ms, live counters)


@dataclass
class Counters:
    events: int = 0
    exact_frames: Counter[str] = field(default_factory=Counter)  # by radio
    gateway_copies: Counter[str] = field(default_factory=Counter)  # by radio, forwarded by a gateway
    outcomes: Counter[str] = field(default_factory=Counter)
    replay_outcomes: Counter[str] = field(default_factory=Counter)
    replay_moved_location: int = 0
    replays_sent: int = 0
    downlinks: Counter[str] = field(default_factory=Counter)  # sent, heard, missed, dropped_*
    incidents: int = 0
    operator_closed: int = 0
    sweeps: int = 0
    sweep_s: float = 0.0  # real CPU time of the recovery sweeps: a cost an attacker can force
    alarm_copies_as_replay: int = 0  # retries of an alarm older than dispatch's 10-minute memory


class Rings(Protocol):
    """The exact rings, as the air, the backend and the downlinks find a frame's ring or alarm."""

    @property
    def rings(self) -> dict[int, SimRing]: ...
    @property
    def frame_ring(self) -> dict[bytes, int]: ...
    @property
    def frame_trace(self) -> dict[bytes, AlarmTrace]: ...
    def schedule(self, ring: SimRing) -> None: ...


class LoraAir(Protocol):
    def on_air(self, tx: Tx) -> None: ...


class BleAir(Protocol):
    def burst(self, ring: SimRing, t: float, x: float, y: float, ind_db: float, frame: bytes) -> None: ...


class Downlinks(Protocol):
    @property
    def on_air(self) -> list[tuple[int, float, float]]: ...  # (gateway, start, end)
    def take_hour(self, h: int) -> list[tuple[int, float, float]]: ...


class Attacker(Protocol):
    def record(self, t: float, x: float, y: float, frame: bytes) -> None: ...
    def record_sf(self, frame: bytes, sf: int) -> None: ...


class EngineAPI(Protocol):
    @property
    def now(self) -> float: ...  # virtual ms from the scenario start
    @property
    def end_ms(self) -> float: ...
    def push(self, t: float, kind: str, args: tuple[Any, ...]) -> None: ...
    def unix_ms(self, t: float) -> int: ...

    @property
    def sc(self) -> Scenario: ...
    @property
    def world(self) -> World: ...
    @property
    def rng(self) -> np.random.Generator: ...
    @property
    def hops(self) -> HopSampler: ...
    @property
    def link(self) -> LoraLink: ...
    @property
    def index(self) -> GridIndex: ...
    @property
    def counters(self) -> Counters: ...
    @property
    def bulk(self) -> BulkHeartbeats: ...
    @property
    def dispatch(self) -> DispatchModel: ...

    @property
    def exact(self) -> Rings: ...
    @property
    def lora(self) -> LoraAir: ...
    @property
    def ble(self) -> BleAir: ...
    @property
    def downlinks(self) -> Downlinks: ...
    @property
    def attacker(self) -> Attacker: ...
