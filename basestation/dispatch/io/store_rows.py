"""A batch of durable records as the rows each table gets, whichever database writes them: the SQLite writer's
statements (store_sqlite.py) and PostgreSQL's (store_postgres.py) are both made from these."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from basestation.dispatch.core.effects import (
    AckSent,
    DeviceState,
    Durable,
    FrameSeen,
    IncidentSnapshot,
    NoticeRow,
    ReceptionRow,
)
from basestation.dispatch.core.incidents import Event


@dataclass
class Rows:
    # (device, highest, bitmap signed, last seen, battery, heartbeat period): bulk_sql.DEVICE_COLUMNS' order.
    devices: list[tuple[int, int, int, int, int | None, int | None]] = field(default_factory=list)
    frames: list[tuple[Any, ...]] = field(default_factory=list)  # bulk_sql.FRAME_COLUMNS' order
    receptions: list[ReceptionRow] = field(default_factory=list)
    snapshots: list[dict[str, Any]] = field(default_factory=list)  # the incidents' documents
    events: list[Event] = field(default_factory=list)
    notices: list[NoticeRow] = field(default_factory=list)
    acks: list[tuple[int, int, int, int]] = field(default_factory=list)  # update_acks' parameters


def rows(batch: Sequence[Durable]) -> Rows:
    """One row per device (its highest counter) and per incident (its last snapshot); the rest as they came."""
    devices: dict[int, DeviceState] = {}
    snapshots: dict[str, dict[str, Any]] = {}
    acks: dict[tuple[int, int], int] = {}
    out = Rows()
    for r in batch:
        if isinstance(r, DeviceState):
            prev = devices.get(r.device_id)
            if prev is None or r.highest >= prev.highest:
                devices[r.device_id] = r
        elif isinstance(r, FrameSeen):
            out.frames.append((r.device_id, r.counter, r.event, r.rx_ms, r.incident_id, r.frame, r.press_rx_ms))
        elif isinstance(r, ReceptionRow):
            out.receptions.append(r)
        elif isinstance(r, IncidentSnapshot):
            snapshots[r.incident["id"]] = r.incident
        elif isinstance(r, Event):
            out.events.append(r)
        elif isinstance(r, AckSent):
            key = (r.device_id, r.counter)
            acks[key] = max(acks.get(key, 0), r.seq + 1)
        else:
            out.notices.append(r)
    out.devices = [
        (d.device_id, d.highest, signed64(d.bitmap), d.last_seen_ms, d.battery, d.heartbeat_min)
        for d in devices.values()
    ]
    out.snapshots = list(snapshots.values())
    out.acks = [(n, n, d, c) for (d, c), n in acks.items()]
    return out


def update_acks(p: str) -> str:
    """The ACK numbers' statement, in the driver's parameter style ``p`` (``?`` or ``%s``). ACK numbers only grow
    (SPEC 6): a replica that numbered fewer cannot take one back."""
    return (
        f"UPDATE frames SET acks = CASE WHEN acks > {p} THEN acks ELSE {p} END WHERE device_id = {p} AND counter = {p}"
    )


def signed64(v: int) -> int:
    # The replay bitmap is 32 bits today; storing it signed keeps a future 64-bit window inside BIGINT.
    return v - (1 << 64) if v >= 1 << 63 else v


def incident_row(d: dict[str, Any]) -> dict[str, Any]:
    """An incident's row in ``incidents`` from its document, as SQLAlchemy binds it."""
    return {
        "id": d["id"],
        "device_id": d["device_id"],
        "counter": d["counter"],
        "kind": d["kind"],
        "state": d["state"],
        "forced": d["forced"],
        "opened_ms": d["opened_ms"],
        "updated_ms": d["updated_ms"],
        "doc": d,
    }
