"""Every incident the database holds, however old: pages of the list with filters and search, and the export.

Pages are keyset pages on (opened_ms, id), newest first: a page never repeats or skips an incident because others
were opened meanwhile, and page 500 reads none of the rows of the pages before it. Ids compare byte by byte on both
databases (PostgreSQL's ``COLLATE "C"``), as Python compares them, so the incidents memory adds to a page sort the
same way.

Retention (``Store.purge``, docs/privacy.md) forgets where people were once an incident has not changed for the
retention period; the export leaves the same out by the same rule, whether or not the purge has run yet.
"""

import base64
import binascii
import csv
import io
from collections.abc import AsyncIterator, Callable, Container, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Text, and_, cast, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from basestation.dispatch.core.incidents import ACTIVE
from basestation.dispatch.io import schema as t
from basestation.dispatch.io.store import Store

# What the search looks in besides the id: who called, their number, and what they and the operator said.
SEARCHED = ("caller_name", "callback_number", "address", "notes", "destination")
# Where a person was: left out of an incident past retention (Store.purge removes the same from the database).
PLACES = ("location", "address", "destination")
LOCATED = "located"  # the log entries that carry a position
CHUNK = 500  # incidents read per query by the export and by a responder's filtered pages

Key = tuple[int, str]  # (opened_ms, id)


@dataclass(frozen=True, slots=True)
class Filters:
    states: frozenset[str] = field(default_factory=frozenset)
    kind: str | None = None
    from_ms: int | None = None  # opened at or after
    to_ms: int | None = None  # opened before
    device_id: int | None = None
    q: str | None = None
    active: bool = False

    def matches(self, doc: dict[str, Any]) -> bool:
        """The same test as :meth:`where`, for the incidents memory holds."""
        if self.states and doc["state"] not in self.states:
            return False
        if self.active and doc["state"] not in _ACTIVE:
            return False
        if self.kind is not None and doc["kind"] != self.kind:
            return False
        if self.from_ms is not None and doc["opened_ms"] < self.from_ms:
            return False
        if self.to_ms is not None and doc["opened_ms"] >= self.to_ms:
            return False
        if self.device_id is not None and doc["device_id"] != self.device_id:
            return False
        if self.q:
            needle = self.q.lower()
            texts = [doc["id"], *(doc.get(k) for k in SEARCHED)]
            return any(needle in x.lower() for x in texts if isinstance(x, str))
        return True

    def where(self) -> list[ColumnElement[bool]]:
        c = t.incidents.c
        cond: list[ColumnElement[bool]] = []
        if self.states:
            cond.append(c.state.in_(sorted(self.states)))
        if self.active:
            cond.append(c.state.in_(sorted(_ACTIVE)))
        if self.kind is not None:
            cond.append(c.kind == self.kind)
        if self.from_ms is not None:
            cond.append(c.opened_ms >= self.from_ms)
        if self.to_ms is not None:
            cond.append(c.opened_ms < self.to_ms)
        if self.device_id is not None:
            cond.append(c.device_id == self.device_id)
        if self.q:
            needle = self.q.lower()
            if _plain(needle):
                # Reading each document's fields costs a JSON parse per field and row; a word that is nowhere in
                # the document's text is in none of them, and most rows are passed over on that cheaper test.
                cond.append(func.lower(cast(c.doc, Text)).contains(needle, autoescape=True))
            texts = [c.id, *(c.doc[k].as_string() for k in SEARCHED)]
            cond.append(or_(*(func.lower(x).contains(needle, autoescape=True) for x in texts)))
        return cond


_ACTIVE = frozenset(s.value for s in ACTIVE)


def encode_cursor(key: Key) -> str:
    return base64.urlsafe_b64encode(f"{key[0]}:{key[1]}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> Key:
    """The key a cursor stands for; ValueError for anything :func:`encode_cursor` did not make."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise ValueError("not a cursor") from None
    ms, sep, inc_id = raw.partition(":")
    if not sep or not inc_id or not ms.isdigit():
        raise ValueError("not a cursor")
    return int(ms), inc_id


def key_of(doc: dict[str, Any]) -> Key:
    return int(doc["opened_ms"]), str(doc["id"])


def _id(store: Store) -> ColumnElement[str]:
    return t.incidents.c.id.collate("C") if store.dialect == "postgresql" else t.incidents.c.id


def _before(store: Store, key: Key) -> ColumnElement[bool]:
    c = t.incidents.c
    return or_(c.opened_ms < key[0], and_(c.opened_ms == key[0], _id(store) < key[1]))


def _after(store: Store, key: Key) -> ColumnElement[bool]:
    c = t.incidents.c
    return or_(c.opened_ms > key[0], and_(c.opened_ms == key[0], _id(store) > key[1]))


def _plain(text: str) -> bool:
    """Written the same inside a stored document's JSON text as it is: printable ASCII, no quote or backslash.
    (Documents are stored as JSON text: non-ASCII letters may be escaped there, and quotes always are.)"""
    return text.isascii() and text.isprintable() and not any(ch in text for ch in '"\\')


def _readable_by(responder_id: str) -> ColumnElement[bool] | None:
    """A cheap first sieve for a responder's incidents: their id, quoted, somewhere in the document. It may let
    through more (the exact test follows in Python), never fewer; ids it cannot find so are not sieved."""
    if not _plain(responder_id):
        return None
    return cast(t.incidents.c.doc, Text).contains(f'"{responder_id}"', autoescape=True)


async def page(
    store: Store,
    filters: Filters,
    limit: int,
    cursor: Key | None = None,
    live: Iterable[dict[str, Any]] = (),
    keep: Callable[[dict[str, Any]], bool] | None = None,
    responder_id: str | None = None,
    live_ids: Container[str] | None = None,
) -> tuple[list[dict[str, Any]], Key | None]:
    """Up to ``limit`` incidents after ``cursor``, newest first, and the cursor of the next page (None when this
    one is the last). ``live`` is memory's incidents (or the first ``limit`` of them after ``cursor`` that pass the
    filters and ``keep``): they replace the database's copies, and one memory has not committed yet is in its
    place. ``live_ids`` is every id memory holds, when ``live`` is not all of them. ``keep`` refuses some (a
    responder sees only their own)."""
    live = list(live)
    mine = {d["id"]: d for d in live if filters.matches(d) and (cursor is None or key_of(d) < cursor)}
    memory = {d["id"] for d in live} if live_ids is None else live_ids
    conds = filters.where()
    if responder_id is not None and (sieve := _readable_by(responder_id)) is not None:
        conds.append(sieve)
    found: list[dict[str, Any]] = []
    covered = 0  # incidents of the page found so far, from the database or memory's copies of its rows
    after = cursor
    batch = limit if keep is None else max(limit, CHUNK)
    async with store.engine.connect() as conn:
        while True:
            q = select(t.incidents.c.doc).where(*conds)
            if after is not None:
                q = q.where(_before(store, after))
            q = q.order_by(t.incidents.c.opened_ms.desc(), _id(store).desc()).limit(batch)
            docs = [r.doc for r in await conn.execute(q)]
            for doc in docs:
                if doc["id"] in memory:
                    # Memory's copy is newer: it is added below if it still matches, and then it counts.
                    covered += doc["id"] in mine
                    continue
                if keep is None or keep(doc):
                    found.append(doc)
                    covered += 1
            if len(docs) < batch or covered >= limit:
                break
            after = key_of(docs[-1])
    seen = {d["id"] for d in found}
    found += [d for d in mine.values() if d["id"] not in seen and (keep is None or keep(d))]
    found.sort(key=key_of, reverse=True)
    out = found[:limit]
    return out, key_of(out[-1]) if len(out) == limit else None


# -- export ----------------------------------------------------------------------------------------------------


def past_retention(doc: dict[str, Any], cutoff_ms: int) -> bool:
    """Store.purge's rule: an incident not changed since the cut-off has ended, however it ended."""
    return int(doc["updated_ms"]) < cutoff_ms


async def export(
    store: Store, from_ms: int, to_ms: int, cutoff_ms: int, chunk: int = CHUNK
) -> AsyncIterator[list[dict[str, Any]]]:
    """Every incident opened in [from_ms, to_ms), oldest first, as {incident, events, receptions, retention_passed},
    ``chunk`` at a time: three queries a chunk, and never more than a chunk in memory."""
    c = t.incidents.c
    after: Key | None = None
    while True:
        q = select(c.doc).where(c.opened_ms >= from_ms, c.opened_ms < to_ms)
        if after is not None:
            q = q.where(_after(store, after))
        q = q.order_by(c.opened_ms, _id(store)).limit(chunk)
        async with store.engine.connect() as conn:
            docs = [dict(r.doc) for r in await conn.execute(q)]
            if not docs:
                return
            ids = [d["id"] for d in docs]
            events: dict[str, list[dict[str, Any]]] = {i: [] for i in ids}
            e = t.incident_events
            eq = select(e.c.incident_id, e.c.at_ms, e.c.kind, e.c.data).where(e.c.incident_id.in_(ids))
            # In the index's order (incident, id): ordered by id alone, SQLite read the whole log for each chunk.
            for r in await conn.execute(eq.order_by(e.c.incident_id, e.c.id)):
                events[r.incident_id].append({"at_ms": r.at_ms, "kind": r.kind, "data": r.data})
            heard: dict[str, list[dict[str, Any]]] = {i: [] for i in ids}
            recent = [d["id"] for d in docs if not past_retention(d, cutoff_ms)]
            if recent:
                rc = t.receptions.c
                rq = select(t.receptions).where(rc.incident_id.in_(recent)).order_by(rc.incident_id, rc.rx_time_ms)
                for r in await conn.execute(rq):
                    heard[r.incident_id].append(
                        {"gateway_id": r.gateway_id, "rx_time_ms": r.rx_time_ms, "radio": r.radio, "rssi": r.rssi}
                    )
        out = []
        for doc in docs:
            gone = past_retention(doc, cutoff_ms)
            evs = events[doc["id"]]
            if gone:
                doc.update(dict.fromkeys((k for k in PLACES if k in doc), None))
                evs = [ev for ev in evs if ev["kind"] != LOCATED]
            out.append({"incident": doc, "events": evs, "receptions": heard[doc["id"]], "retention_passed": gone})
        yield out
        if len(docs) < chunk:
            return
        after = key_of(docs[-1])


CSV_COLUMNS = (
    "id",
    "kind",
    "state",
    "source",
    "device_id",
    "opened",
    "updated",
    "closed",
    "accepted_by",
    "referral",
    "escalation",
    "presses",
    "offered",
    "declined",
    "receptions",
    "lat",
    "lon",
    "radius_m",
    "address",
    "destination",
    "retention_passed",
    "events",
)


def iso(ms: int | None) -> str:
    if not ms:
        return ""
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _cell(v: Any) -> str:
    if not isinstance(v, str):
        return "" if v is None else str(v)
    # A spreadsheet runs a cell that starts so as a formula: a caller's words must stay words.
    return "'" + v if v[:1] in ("=", "+", "-", "@", "\t", "\r") else v


def csv_header() -> str:
    return _csv_line(CSV_COLUMNS)


def csv_rows(entries: Sequence[dict[str, Any]], name: Callable[[str], str]) -> str:
    """One line per incident; its log in the last column as "<time> <kind>[ <by>]" entries separated by "; "."""
    buf = []
    for entry in entries:
        d, evs = entry["incident"], entry["events"]
        loc = d.get("location") or {}
        closed = next((ev["at_ms"] for ev in reversed(evs) if ev["kind"] in ("resolved", "cancelled")), None)
        log = "; ".join(
            " ".join(x for x in (iso(ev["at_ms"]), ev["kind"], _who(ev.get("data") or {}, name)) if x) for ev in evs
        )
        row = (
            d["id"],
            d["kind"],
            d["state"],
            d.get("source") or ("ring" if "callback_number" not in d else "phone"),
            d["device_id"],
            iso(d["opened_ms"]),
            iso(d["updated_ms"]),
            iso(closed),
            " ".join(name(r) for r in d.get("accepted_by", ())),
            d.get("referral"),
            d.get("escalation"),
            d.get("presses"),
            len(d.get("offered_to", ())),
            len(d.get("declined_by", ())),
            len(entry["receptions"]),
            loc.get("lat"),
            loc.get("lon"),
            loc.get("radius_m"),
            d.get("address"),
            d.get("destination"),
            "yes" if entry["retention_passed"] else "no",
            log,
        )
        buf.append(_csv_line(row))
    return "".join(buf)


def _who(data: dict[str, Any], name: Callable[[str], str]) -> str:
    by = data.get("by") or data.get("responder") or data.get("operator")
    return name(by) if isinstance(by, str) else ""


def _csv_line(values: Sequence[Any]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow([_cell(v) for v in values])
    return out.getvalue()
