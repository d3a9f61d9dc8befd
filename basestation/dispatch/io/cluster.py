"""Several dispatch replicas on one PostgreSQL and one MQTT v5 shared subscription.

The broker hands each uplink to one replica, so copies of one alarm heard by three gateways may land on three
replicas at once. Three rules keep one alarm one incident, and every dashboard on every replica current:

1. Claim. A replica that decodes a new alarm frame inserts it into ``frames``; the insert is atomic, and only
   the replica whose insert landed acts on it. The others treat their copy as a duplicate.
2. Lock. Everything that changes an incident (an alarm, a copy, a responder's accept, the clock) runs in one
   transaction holding that person's device lock, after re-reading their incidents from the database, so no
   replica acts on a stale copy and no two changes interleave.
3. Notify. Every change is announced with NOTIFY inside that transaction, so it is delivered at commit; each
   replica, the writer included, applies it to its memory and its live streams.

The clock (offer timeouts, escalation) runs on one replica at a time: whichever holds a session-level advisory
lock, handed on automatically when that replica's connection drops.
"""

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import psycopg
from sqlalchemy.exc import DBAPIError

from basestation.dispatch.core import actions, roster
from basestation.dispatch.core.assignment import Responder
from basestation.dispatch.core.context import Context
from basestation.dispatch.core.effects import Effects, FrameSeen
from basestation.dispatch.core.incidents import Incident, incident_id
from basestation.dispatch.core.outcomes import Outcome
from basestation.dispatch.core.pipeline import UplinkPipeline
from basestation.dispatch.core.state import DeviceInfo, DispatchState, Gateway, Recent
from basestation.dispatch.core.zones import Zone
from basestation.dispatch.io import roster_store, store_postgres
from basestation.dispatch.io.store import Store
from basestation.dispatch.io.store_load import incident_from_doc
from protocol.constants import EVENT_CANCEL, EVENT_DURESS, EVENT_ESCORT, EVENT_NAMES, EVENT_SOS

log = logging.getLogger("nightwatch.dispatch.cluster")

ALARMS = frozenset({EVENT_SOS, EVENT_ESCORT, EVENT_CANCEL, EVENT_DURESS})
ALARM_NAMES = frozenset({"", *(EVENT_NAMES[e] for e in ALARMS)})
TICK_LOCK = 0x4E57_0001  # "NW" 1: whoever holds it runs the clock


class Host(Protocol):
    """What the cluster needs of the dispatcher that runs it (service.Dispatcher): its memory, its store, its
    pipeline (for the clock and an uplink under the lock), its live streams and its downlinks. Named here so that
    the cluster does not import the service, which imports the cluster."""

    state: DispatchState
    store: Store
    pipeline: UplinkPipeline

    def show(self, topic: str, data: dict[str, Any]) -> None: ...

    def send_downlinks(self, eff: Effects) -> None: ...


class Cluster:
    def __init__(self, host: Host) -> None:
        self.d = host
        self.origin = uuid.uuid4().hex[:12]
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._task: asyncio.Task[None] | None = None
        self.leader = False
        self.notifications = 0
        # Registry kinds this module does not know (accounts: api.py sets it), applied by whoever owns them.
        self.on_registry: Callable[[str, dict[str, Any]], Awaitable[None]] | None = None

    async def start(self) -> None:
        await self._connect()
        self._task = asyncio.create_task(self._listen(), name="dispatch-cluster-listen")

    async def _connect(self) -> None:
        self._conn = await psycopg.AsyncConnection.connect(store_postgres.conninfo(self.d.store), autocommit=True)
        await self._conn.execute("LISTEN nightwatch")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._conn is not None:
            await self._conn.close()

    # -- which uplinks need the lock ----------------------------------------------------------------------

    @staticmethod
    def needs_lock(ctx: Context) -> bool:
        if ctx.outcome is None:
            return ctx.up is not None and ctx.up.event in ALARMS
        # A copy of an alarm, or of a frame still in flight here (its event not known yet).
        return ctx.outcome == Outcome.DUPLICATE and ctx.copy_of is not None and ctx.copy_of.event in ALARM_NAMES

    async def uplink(self, ctx: Context) -> None:
        """Claim, lock, re-read, act, write and announce, in one transaction; while the database is away, wait
        and try again (the MQTT message stays unacknowledged meanwhile, so nothing is lost)."""
        saved = (ctx.outcome, ctx.copy_of)
        delay = 0.05
        while True:
            try:
                await self._uplink_once(ctx)
                return
            except (DBAPIError, psycopg.Error, OSError) as e:
                log.warning("database unavailable (%s); retrying an uplink in %.2f s", type(e).__name__, delay)
                ctx.effects = Effects()
                ctx.outcome, ctx.copy_of = saved
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _uplink_once(self, ctx: Context) -> None:
        d, st, store = self.d, self.d.state, self.d.store
        up = ctx.up
        wanted = []
        if ctx.copy_of is not None and ctx.copy_of.incident_id:
            wanted.append(ctx.copy_of.incident_id)
        async with store_postgres.device_lock(store, ctx.device_id) as conn:
            if up is not None and up.event in (EVENT_CANCEL, EVENT_DURESS):
                # The press it names may be a later one folded into an incident opened by an earlier press.
                named = await store_postgres.frame_incident(conn, ctx.device_id, up.cancels)
                wanted.append(named or incident_id(ctx.device_id, up.cancels))
            if ctx.copy_of is not None and ctx.copy_of.incident_id is None:
                # Its first copy has acted by now (we hold the lock it held): find the incident it opened.
                ctx.copy_of.incident_id = await store_postgres.frame_incident(conn, ctx.device_id, ctx.counter)
                if ctx.copy_of.incident_id:
                    wanted.append(ctx.copy_of.incident_id)
            await self._refresh(conn, ctx.device_id, wanted)
            if ctx.outcome is None:
                assert up is not None and ctx.reception is not None
                seen = FrameSeen(ctx.device_id, ctx.counter, EVENT_NAMES[up.event], ctx.now_ms, None)
                if not await store.claim_in(conn, seen):
                    # Another replica acted on this frame first: ours is a copy of it.
                    inc_id = await store_postgres.frame_incident(conn, ctx.device_id, ctx.counter)
                    if inc_id is not None:
                        await self._refresh(conn, ctx.device_id, [inc_id])
                    recent = st.recent.get((ctx.device_id, ctx.counter)) or Recent(
                        EVENT_NAMES[up.event], inc_id, ctx.now_ms, {}, ctx.reception.frame
                    )
                    if not recent.press_rx_ms:
                        recent.age, recent.press_rx_ms = up.age, ctx.reception.rx_time_ms - up.age * 1000
                    recent.incident_id = inc_id
                    st.remember((ctx.device_id, ctx.counter), recent, ctx.now_ms)
                    ctx.outcome, ctx.copy_of = Outcome.DUPLICATE, recent
            d.pipeline.finish(ctx)
            await self._commit(conn, ctx.effects)
        d.send_downlinks(ctx.effects)

    async def action(self, device_id: int, fn: Callable[..., Effects], *args: Any, **kwargs: Any) -> Effects:
        """A responder's or operator's action on one incident, under that person's lock."""
        ids = [str(args[0])] if args and isinstance(args[0], str) else []
        async with store_postgres.device_lock(self.d.store, device_id) as conn:
            await self._refresh(conn, device_id, ids)
            eff = fn(self.d.state, *args, **kwargs)
            await self._commit(conn, eff)
        return eff

    async def tick(self, now_ms: int) -> None:
        """The clock, on the one replica holding the tick lock."""
        assert self._conn is not None
        if not self.leader:
            cur = await self._conn.execute("SELECT pg_try_advisory_lock(%s)", (TICK_LOCK,))
            row = await cur.fetchone()
            self.leader = bool(row and row[0])
            if not self.leader:
                return
            log.info("replica %s runs the clock", self.origin)
        for inc in [i for i in self.d.state.incidents.values() if i.active]:
            async with store_postgres.device_lock(self.d.store, inc.device_id) as conn:
                await self._refresh(conn, inc.device_id, [inc.id])
                fresh = self.d.state.incidents[inc.id]
                eff = Effects()
                actions.tick_incident(self.d.pipeline, fresh, now_ms, eff)
                await self._commit(conn, eff)

    async def announce(self, kind: str, data: dict[str, Any]) -> None:
        """A registry change (responder, gateway, device) for the other replicas' memory."""
        await store_postgres.notify(self.d.store, None, {"origin": self.origin, "registry": kind, "data": data})

    # -- inside the transaction ---------------------------------------------------------------------------

    async def _commit(self, conn: Any, eff: Effects) -> None:
        await self.d.store.apply_in(conn, eff.durable)
        for push in eff.pushes:
            await store_postgres.notify(
                self.d.store, conn, {"origin": self.origin, "topic": push.topic, "data": push.data}
            )
        # Pushes now travel through NOTIFY to every replica, this one included.
        eff.pushes.clear()

    async def _refresh(self, conn: Any, device_id: int, ids: list[str]) -> None:
        """Replace memory with the database's view of this person's incidents, and where they were heard."""
        st = self.d.state
        docs = await store_postgres.incident_docs(conn, device_id, ids)
        active = None
        for doc in docs:
            inc = incident_from_doc(doc)
            st.track(inc)
            if inc.active:
                active = inc
            heard = await store_postgres.heard(conn, inc.id)
            # The ring's latest press is where its ACKs go (lifecycle.py); its ACK numbers are the database's.
            for key in {(inc.device_id, inc.counter), (inc.device_id, inc.ring_counter)}:
                fresh = await store_postgres.frame_recent(conn, key[0], key[1], inc.id)
                recent = st.recent.get(key)
                if recent is None:
                    st.remember(key, fresh, fresh.rx_ms)
                    recent = fresh
                recent.acks = max(recent.acks, fresh.acks)
                recent.incident_id = inc.id
                for gw, (radio, rssi) in heard.items():
                    best = recent.heard.get(gw)
                    if best is None or (rssi is not None and (best[1] is None or rssi > best[1])):
                        recent.heard[gw] = (radio, rssi)
        # Under the lock the database is the authority: an incident only this replica's memory holds (its
        # transaction failed) does not exist.
        if active is not None:
            st.open_by_device[device_id] = active.id
        else:
            stale = st.open_by_device.pop(device_id, None)
            if stale is not None and stale not in [x["id"] for x in docs]:
                st.incidents.pop(stale, None)

    # -- every replica, from NOTIFY -----------------------------------------------------------------------

    async def _listen(self) -> None:
        delay = 0.1
        while True:
            try:
                assert self._conn is not None
                async for n in self._conn.notifies():
                    delay = 0.1
                    try:
                        await self.apply(json.loads(n.payload))
                    except (ValueError, KeyError, TypeError):
                        log.exception("bad cluster notification")
            except (psycopg.Error, OSError) as e:
                log.warning("lost the cluster connection (%s); reconnecting", type(e).__name__)
            # The session lock that made us the clock is gone with the connection; so may be notifications.
            self.leader = False
            while True:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                try:
                    await self._connect()
                    await self._resync()
                    break
                except (DBAPIError, psycopg.Error, OSError):
                    continue

    async def _resync(self) -> None:
        """After a gap in notifications: drop what was removed meanwhile, reload every active incident and show it
        on the streams again."""
        devices, responders, gateways = await roster_store.removed(self.d.store)
        for device_id in devices:
            roster.forget_device(self.d.state, device_id)
        for rid, name in responders.items():
            roster.forget(self.d.state, "responder_removed", {"id": rid, "name": name})
        for gid in gateways:
            roster.forget(self.d.state, "gateway_removed", {"id": gid})
        docs = await self.d.store.incidents(limit=100_000, active_only=True)
        for doc in docs:
            await self.apply({"origin": self.origin, "topic": "incident", "data": doc})

    async def apply(self, msg: dict[str, Any]) -> None:
        self.notifications += 1
        st = self.d.state
        if "topic" in msg:
            if msg["topic"] == "incident":
                inc: Incident = incident_from_doc(msg["data"])
                st.track(inc)
                if inc.active:
                    st.open_by_device[inc.device_id] = inc.id
                elif st.open_by_device.get(inc.device_id) == inc.id:
                    del st.open_by_device[inc.device_id]
            self.d.show(msg["topic"], msg["data"])
            return
        if msg.get("origin") == self.origin:
            return
        kind, data = msg.get("registry"), msg.get("data", {})
        if kind in ("account", "account_revoked") and self.on_registry is not None:
            await self.on_registry(kind, data)
            return
        if kind == "responder":
            st.responders[data["id"]] = Responder(**data)
            st.former.pop(data["id"], None)
        elif kind == "gateway":
            st.gateways[data["id"]] = Gateway(**data)
            st.removed_gateways.discard(data["id"])
        elif kind in ("responder_removed", "gateway_removed"):
            roster.forget(st, kind, data)
        elif kind == "zone":
            st.zones[data["id"]] = Zone.from_dict(data)
        elif kind == "zone_removed":
            st.zones.pop(data["id"], None)
        elif kind == "device":
            found = await self.d.store.device_window(data["device_id"])
            if found is not None:
                # The database's key and window, not one this replica still holds from before a removal it missed.
                roster.forget_device(st, data["device_id"])
                st.resolver.add(data["device_id"], *found)
                st.devices.setdefault(data["device_id"], DeviceInfo())
        elif kind == "device_removed":
            # Off every list here too, whether or not this replica's resolver held it.
            roster.forget_device(st, data["device_id"])
