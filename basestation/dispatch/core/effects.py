"""What one uplink changes, as plain records: the pipeline decides, the writer and the notifier carry it out.

``Durable`` records must be committed before the MQTT message is acknowledged; ``Push`` records go to responders
and dashboards at once, without waiting on the disk; ``Downlink`` records go to a gateway after the commit, so a
key ring is told "received" only when that is true.

The records made for every frame are msgspec Structs: built in a tenth of a frozen dataclass's time.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from basestation.dispatch.core.incidents import Event, Incident


class DeviceState(msgspec.Struct, frozen=True, gc=False):
    device_id: int
    highest: int
    bitmap: int
    last_seen_ms: int
    battery: int | None
    heartbeat_min: int | None


class FrameSeen(msgspec.Struct, frozen=True, gc=False):
    device_id: int
    counter: int
    event: str
    rx_ms: int
    incident_id: str | None
    frame: bytes | None = None  # kept for incidents and cancels: their copies are answered after a restart
    press_rx_ms: int | None = None  # when it was pressed, by the first copy's gateway clock (SPEC 10a)


class AckSent(msgspec.Struct, frozen=True, gc=False):
    """An ACK numbered ``seq`` goes out for this counter: stored before it is sent, so that no seq is used twice
    for one counter, restarts included (SPEC 6)."""

    device_id: int
    counter: int
    seq: int


class ReceptionRow(msgspec.Struct, frozen=True, gc=False):
    incident_id: str
    gateway_id: str
    radio: str
    rssi: float | None
    snr: float | None
    rx_time_ms: int


@dataclass(frozen=True, slots=True)
class IncidentSnapshot:
    incident: dict[str, Any]


@dataclass(frozen=True, slots=True)
class NoticeRow:
    # silent_device, gateway_offline, low_battery, invalid_body, recovery_overflow, unavailable, duress;
    # from the MQTT link: downlink_refused, dead_letter
    kind: str
    subject: str
    at_ms: int
    data: dict[str, Any] = field(default_factory=dict)


Durable = DeviceState | FrameSeen | AckSent | ReceptionRow | IncidentSnapshot | Event | NoticeRow


@dataclass(frozen=True, slots=True)
class Push:
    """A message for the live stream: an incident changed, or an operator notice."""

    topic: str  # "incident" or "notice"
    data: dict[str, Any]


class Downlink:
    """A message for a gateway to send, after the commit. Its payload may be given as the function that makes
    it, called when it is first read: an alarm's ACK is encoded after the alarm's push has gone out, not in
    front of it (three AES operations, on a ring's first alarm the building of a key context too)."""

    __slots__ = ("_make", "_payload", "alarm", "gateway_id")

    def __init__(
        self,
        gateway_id: str,
        payload: dict[str, Any] | None = None,
        make: Callable[[], dict[str, Any]] | None = None,
        alarm: bool = False,
    ) -> None:
        if (payload is None) == (make is None):
            raise ValueError("a downlink takes its payload or the function that makes it")
        self.gateway_id = gateway_id
        # The answer to an alarm (SOS, escort, cancel, duress): never dropped on the way, unlike a heartbeat's.
        self.alarm = alarm
        self._payload = payload
        self._make = make

    @property
    def payload(self) -> dict[str, Any]:
        if self._payload is None:
            assert self._make is not None
            self._payload = self._make()
            self._make = None
        return self._payload


class Effects:
    """What one uplink or action changes. A plain class, which the compiled modules (nightwatch/native.py) make
    native: one is made for every uplink, and its lists are read and appended to directly."""

    def __init__(self) -> None:
        self.durable: list[Durable] = []
        self.pushes: list[Push] = []
        self.downlinks: list[Downlink] = []
        self.urgent = False  # an alarm's effects: committed ahead of supervision traffic

    def merge(self, other: "Effects") -> None:
        self.durable.extend(other.durable)
        self.pushes.extend(other.pushes)
        self.downlinks.extend(other.downlinks)
        self.urgent = self.urgent or other.urgent

    def snapshot(self, inc: Incident) -> None:
        """Record the incident's new state both durably and on the live stream."""
        d = inc.to_dict()
        self.urgent = True
        self.durable.append(IncidentSnapshot(d))
        self.pushes.append(Push("incident", d))


def notice_push(row: NoticeRow) -> Push:
    """The live push of an operator notice that is also kept (``row``)."""
    return Push("notice", {"kind": row.kind, "subject": row.subject, "at_ms": row.at_ms, **row.data})
