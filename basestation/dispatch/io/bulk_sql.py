"""The writer's SQLite statements, as plain SQL with rows as tuples, bound by the driver.

Multi-row statements for the two writes every heartbeat makes: a group commit's rows in one statement.

Python's sqlite3 releases the GIL around every row's step. Row by row (``executemany``), a commit of 850 frames
handed the GIL back and forth with a busy event loop 1,700 times, waiting up to a switch interval each time:
4 ms alone became 17 ms on average and up to 149 ms under a flood (bench/dispatch_bench.py), and every uplink
behind it waited for its acknowledgement. One statement per chunk steps once.
"""

from collections.abc import Iterator, Sequence
from functools import lru_cache
from typing import Any

import msgspec

from basestation.dispatch.core.effects import NoticeRow, ReceptionRow
from basestation.dispatch.core.incidents import Event

MAX_VARIABLES = 32_766  # SQLite's default SQLITE_MAX_VARIABLE_NUMBER since 3.32

FRAME_COLUMNS = ("device_id", "counter", "event", "rx_ms", "incident_id", "frame", "press_rx_ms")
# The earliest press time any copy gave wins (SPEC 10a); a row without one takes the first given.
EARLIER_PRESS = (
    "CASE WHEN frames.press_rx_ms IS NULL OR excluded.press_rx_ms < frames.press_rx_ms "
    "THEN excluded.press_rx_ms ELSE frames.press_rx_ms END"
)
DEVICE_COLUMNS = ("device_id", "highest", "bitmap", "last_seen_ms", "battery", "heartbeat_min")


def _values(rows: int, columns: int) -> str:
    one = "(" + ", ".join("?" * columns) + ")"
    return ", ".join([one] * rows)


@lru_cache(maxsize=64)
def insert_frames(rows: int) -> str:
    # The claim may have written the frame before the act named its incident: fill that in.
    return (
        f"INSERT INTO frames ({', '.join(FRAME_COLUMNS)}) VALUES {_values(rows, len(FRAME_COLUMNS))} "
        "ON CONFLICT (device_id, counter) DO UPDATE SET "
        "incident_id = coalesce(excluded.incident_id, frames.incident_id), "
        "frame = coalesce(excluded.frame, frames.frame), "
        f"press_rx_ms = {EARLIER_PRESS}"
    )


@lru_cache(maxsize=64)
def update_devices(rows: int) -> str:
    # Replicas may write one device's state out of order: the higher counter wins. In SET, ``devices.*`` is the
    # row as it was before this statement.
    names = ", ".join(f"column{i + 1} AS {c}" for i, c in enumerate(DEVICE_COLUMNS))
    return (
        "UPDATE devices SET "
        "highest = CASE WHEN devices.highest > v.highest THEN devices.highest ELSE v.highest END, "
        "bitmap = CASE WHEN devices.highest > v.highest THEN devices.bitmap ELSE v.bitmap END, "
        "last_seen_ms = v.last_seen_ms, battery = v.battery, heartbeat_min = v.heartbeat_min "
        f"FROM (SELECT {names} FROM (VALUES {_values(rows, len(DEVICE_COLUMNS))})) AS v "
        "WHERE devices.device_id = v.device_id"
    )


def chunks(rows: Sequence[tuple[Any, ...]], columns: int) -> Iterator[tuple[int, tuple[Any, ...]]]:
    """(row count, flattened parameters) per statement, each within SQLite's variable limit.

    Row counts are powers of two: a commit's rows go as 1024 + 256 + 16 + ..., so a handful of statements, each
    prepared once and then found in the driver's statement cache. At a statement per exact row count every group
    commit prepared new ones, and parsing a thousand rows' placeholders cost about as much as running them.
    """
    per = MAX_VARIABLES // columns
    top = 1 << (per.bit_length() - 1)  # the largest power of two within the limit
    start = 0
    while start < len(rows):
        left = len(rows) - start
        k = top if left >= top else 1 << (left.bit_length() - 1)
        part = rows[start : start + k]
        yield k, tuple(v for row in part for v in row)
        start += k


INSERT_RECEPTIONS = (
    "INSERT INTO receptions (incident_id, gateway_id, rx_time_ms, radio, rssi, snr) VALUES (?, ?, ?, ?, ?, ?) "
    "ON CONFLICT DO NOTHING"
)
UPSERT_INCIDENTS = (
    "INSERT INTO incidents (id, device_id, counter, kind, state, forced, opened_ms, updated_ms, doc) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
    "state = excluded.state, forced = excluded.forced, updated_ms = excluded.updated_ms, doc = excluded.doc"
)
INSERT_EVENTS = "INSERT INTO incident_events (incident_id, at_ms, kind, data) VALUES (?, ?, ?, ?)"
INSERT_NOTICES = "INSERT INTO notices (kind, subject, at_ms, data) VALUES (?, ?, ?, ?)"

_json = msgspec.json.Encoder()


def _text(value: Any) -> str:
    """A JSON column's text, as the API reads it back."""
    return _json.encode(value).decode()


def incident_statements(
    receptions: Sequence[ReceptionRow],
    snapshots: Sequence[dict[str, Any]],
    events: Sequence[Event],
    notices: Sequence[NoticeRow],
) -> list[tuple[bool, str, list[tuple[Any, ...]]]]:
    """(plain SQL, statement, rows) for what alarms and the clock write; an alarm's commit has a row or two of each."""
    out: list[tuple[bool, str, list[tuple[Any, ...]]]] = []
    if receptions:
        heard = [(r.incident_id, r.gateway_id, r.rx_time_ms, r.radio, r.rssi, r.snr) for r in receptions]
        out.append((True, INSERT_RECEPTIONS, heard))
    if snapshots:
        rows = [
            (
                d["id"],
                d["device_id"],
                d["counter"],
                d["kind"],
                d["state"],
                d["forced"],
                d["opened_ms"],
                d["updated_ms"],
                _text(d),
            )
            for d in snapshots
        ]
        out.append((True, UPSERT_INCIDENTS, rows))
    if events:
        out.append((True, INSERT_EVENTS, [(e.incident_id, e.at_ms, e.kind, _text(e.data)) for e in events]))
    if notices:
        out.append((True, INSERT_NOTICES, [(n.kind, n.subject, n.at_ms, _text(n.data)) for n in notices]))
    return out
