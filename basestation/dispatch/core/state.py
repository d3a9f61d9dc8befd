"""The dispatcher's in-memory state: rebuilt from storage at start, changed only by the pipeline and actions."""

import heapq
from collections import Counter, OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

import msgspec

from basestation.dispatch.core.assignment import Policy, Responder
from basestation.dispatch.core.envelope import Reception
from basestation.dispatch.core.incidents import Incident
from basestation.dispatch.core.outcomes import Outcome
from basestation.dispatch.core.ratelimit import RateLimiter
from basestation.dispatch.core.zones import Zone
from basestation.pseudonyms.resolver import Resolver


@dataclass(slots=True)
class Gateway:
    id: str
    lat: float | None = None
    lon: float | None = None
    online: bool = False
    changed_ms: int = 0


class Recent(msgspec.Struct, gc=False):
    """A frame accepted lately: later copies of it are duplicates that refine its incident.

    Tens of thousands are held at once and none can be part of a reference cycle: as Structs untracked by the
    cycle collector, no collection walks them (see gc_policy.py)."""

    event: str
    incident_id: str | None
    rx_ms: int
    heard: dict[str, tuple[str, float | None]] = {}  # gateway -> (radio, best rssi); a fresh dict per Recent
    frame: bytes = b""
    ack_state: int | None = None  # the last ACK state sent (or owed) for this frame, sent again on a retry
    acked_ms: int = 0
    # When it was pressed, by the gateway clock: the first copy's receive time less its ``age``. A copy that puts
    # the press later than this was recorded and played back (SPEC 10a); a retry puts it at the same moment.
    press_rx_ms: int = 0
    age: int = -1  # the first copy's age field, in s; -1 until decrypted (after a restart, until a copy needs it)
    acks: int = 0  # ACKs sent for this counter: the next one's seq (SPEC 6: never repeated, kept durably)
    # When each distinct frame of this counter was first received, by the gateway's clock (at most COPIES_KEPT):
    # a retry carries a new age and so new bytes, and only a recording repeats bytes heard long before.
    copies: dict[bytes, int] = {}


class DeviceInfo(msgspec.Struct, gc=False):
    last_seen_ms: int = 0
    battery: int | None = None
    heartbeat_min: int | None = None
    silent_notified: bool = False


@dataclass(frozen=True, slots=True)
class Timing:
    cancel_window_ms: int = 120_000
    recent_ms: int = 600_000  # how long copies of a frame still count as duplicates
    recent_max: int = 200_000
    unresolved_max: int = 10_000


@dataclass
class DispatchState:
    resolver: Resolver = field(default_factory=Resolver)
    policy: Policy = field(default_factory=Policy)
    timing: Timing = field(default_factory=Timing)
    limiter: RateLimiter = field(default_factory=RateLimiter)
    alarm_limiter: RateLimiter = field(default_factory=lambda: RateLimiter(burst=5.0, per_minute=6.0))
    gateways: dict[str, Gateway] = field(default_factory=dict)
    devices: dict[int, DeviceInfo] = field(default_factory=dict)
    responders: dict[str, Responder] = field(default_factory=dict)
    # The removed (roster_store.py): responders' names, for the incidents that still name them; gateways' ids,
    # whose status is refused until an operator adds them again; and how many such statuses were refused.
    former: dict[str, str] = field(default_factory=dict)
    removed_gateways: set[str] = field(default_factory=set)
    gateway_status_refused: int = 0
    zones: dict[str, Zone] = field(default_factory=dict)  # patrol zones by id: offers prefer those bound to them
    incidents: dict[str, Incident] = field(default_factory=dict)  # active ones, and closed ones until purged
    open_by_device: dict[int, str] = field(default_factory=dict)
    engaged: set[str] = field(default_factory=set)  # incidents a responder accepted (see ``busy``)
    # The clock's memory (actions.tick): per incident the key of its last plan, its next deadline, passed or not,
    # and the next one still to come, which is on the heap of deadlines; who could be offered anything, and a
    # number that changes with it.
    planned: dict[str, tuple[tuple[object, ...], int, int]] = field(default_factory=dict)
    deadlines: list[tuple[int, str]] = field(default_factory=list)  # a heap of (deadline, incident id)
    # Called with a deadline put on the heap that is now its earliest: the service's clock is set by it.
    on_earliest: Callable[[int], None] | None = None
    pool: tuple[object, ...] = ()
    pool_version: int = 0
    _device_round: list[int] = field(default_factory=list)  # the devices still to look at in this round
    last_offer_ms: dict[str, int] = field(default_factory=dict)
    recent: OrderedDict[tuple[int, int], Recent] = field(default_factory=OrderedDict)
    # The pseudonym of each remembered frame: another copy of it is known without the resolver's window, so a
    # late copy of an open alarm still counts as a copy when the ring has since moved past the lookbehind.
    by_pseudonym: dict[bytes, tuple[int, int]] = field(default_factory=dict)
    # Downlinks that copies and over-budget presses may cost one device: replayed recordings cannot use up a
    # gateway's airtime or a counter's ACK numbers (SPEC 6).
    ack_limiter: RateLimiter = field(default_factory=lambda: RateLimiter(burst=4.0, per_minute=2.0))
    acks_withheld: int = 0  # ACKs not sent: over a device's budget, or a counter's numbers used up
    unresolved: deque[tuple[Reception, int]] = field(default_factory=deque)
    counts: Counter[Outcome] = field(default_factory=Counter)
    unresolved_dropped: int = 0
    # Pseudonyms a recovery sweep already failed to place: a replayed recording of them costs no second sweep.
    unresolvable: OrderedDict[bytes, None] = field(default_factory=OrderedDict)
    unresolved_given_up: int = 0

    def push_deadline(self, at_ms: int, incident_id: str) -> None:
        """Put an incident's deadline on the heap (actions.deadline_slices takes them off as they fall due)."""
        heap = self.deadlines
        heapq.heappush(heap, (at_ms, incident_id))
        if self.on_earliest is not None and heap[0][0] == at_ms:
            self.on_earliest(at_ms)

    def devices_due(self, ticks_per_round: int) -> list[int]:
        """The next share of the devices, so that every device comes up once every ``ticks_per_round`` calls."""
        if not self._device_round:
            self._device_round = list(self.devices)
        share = -(-len(self.devices) // ticks_per_round)
        due, self._device_round = self._device_round[:share], self._device_round[share:]
        return due

    def track(self, inc: Incident) -> None:
        """Hold an incident read from storage or another replica."""
        self.incidents[inc.id] = inc
        if inc.accepted_by:
            self.engaged.add(inc.id)

    def busy(self) -> set[str]:
        """Responders engaged in an accepted incident: not offered another.

        Runs for every alarm, so it looks only at incidents someone accepted, not at every one held (at a
        thousand alarms a second, most of them open and unanswered, that scan was a tenth of a core)."""
        out: set[str] = set()
        for inc_id in list(self.engaged):
            inc = self.incidents.get(inc_id)
            if inc is None or not inc.active:
                self.engaged.discard(inc_id)
            else:
                out.update(inc.accepted_by)
        return out

    def remember(self, key: tuple[int, int], recent: Recent, now_ms: int) -> None:
        self.recent[key] = recent
        if recent.frame:
            self.by_pseudonym[recent.frame[1:7]] = key
        self.recent.move_to_end(key)
        horizon = now_ms - self.timing.recent_ms
        kept = 0
        while self.recent and kept < len(self.recent):
            k, oldest = next(iter(self.recent.items()))
            if oldest.rx_ms >= horizon and len(self.recent) <= self.timing.recent_max:
                break
            inc = self.incidents.get(oldest.incident_id) if oldest.incident_id else None
            if inc is not None and inc.active and len(self.recent) <= self.timing.recent_max:
                # An alarm still open keeps its frame: its retries must count as copies and be answered, and
                # "help on the way" must know where to go, however long help takes.
                self.recent.move_to_end(k)
                kept += 1
                continue
            del self.recent[k]
            if self.by_pseudonym.get(oldest.frame[1:7]) == k:
                del self.by_pseudonym[oldest.frame[1:7]]
