"""The running dispatch service: state, pipeline, store and writer wired together (the I/O shell).

One way in for an uplink, ``submit``, and one way out for effects, ``carry_out``; each calls back when the records
are committed, and ``on_uplink`` and ``carried_out`` await the same. Order for one uplink: the pipeline decides in
memory (microseconds); pushes go to the live stream at once; the durable records are committed by the writer's next
group commit; then the downlinks are published and ``done`` is called, which lets the MQTT adapter acknowledge the
message to the broker.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from basestation.dispatch.api.views import readers
from basestation.dispatch.clock import DeadlineClock
from basestation.dispatch.core import actions, gateway_status
from basestation.dispatch.core.assignment import Policy
from basestation.dispatch.core.context import Context
from basestation.dispatch.core.effects import Downlink, Effects, NoticeRow, notice_push
from basestation.dispatch.core.gateway_status import GatewayLinks
from basestation.dispatch.core.outcomes import Outcome
from basestation.dispatch.core.pipeline import UplinkPipeline
from basestation.dispatch.core.state import DeviceInfo, DispatchState, Timing
from basestation.dispatch.gc_policy import Collector
from basestation.dispatch.io import store_postgres
from basestation.dispatch.io.bus import Bus
from basestation.dispatch.io.cluster import Cluster
from basestation.dispatch.io.keystore import KeySealer
from basestation.dispatch.io.migrate import upgrade
from basestation.dispatch.io.store import Store
from basestation.dispatch.io.writer import Writer
from basestation.dispatch.settings import DispatchSettings

log = logging.getLogger("nightwatch.dispatch")

Publish = Callable[[Downlink], None]
Done = Callable[[BaseException | None], None]


def _nothing(_: BaseException | None) -> None:
    pass


def _settle(fut: asyncio.Future[None]) -> Done:
    """A ``done`` that settles ``fut``: how the callers that await wait on the one path (``submit``, ``carry_out``)."""

    def done(error: BaseException | None) -> None:
        if fut.done():
            return
        if error is None:
            fut.set_result(None)
        else:
            fut.set_exception(error)

    return done


def _told(done: Done) -> Callable[[asyncio.Task[None]], None]:
    """A task's end, told to ``done``: None, or the error (or cancellation) that ended it."""
    return lambda t: done(asyncio.CancelledError() if t.cancelled() else t.exception())


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class Dispatcher:
    def __init__(self, settings: DispatchSettings, store: Store | None = None) -> None:
        self.settings = settings
        self.store = store or Store(settings.database_url, KeySealer(settings.sealing_key()), settings.writer_nice)
        s = settings
        self.state = DispatchState(
            policy=Policy(
                offer_timeout_ms=int(s.offer_timeout_s * 1000),
                broadcast_after_ms=int(s.broadcast_after_s * 1000),
                broadcast_radius_m=s.broadcast_radius_m,
                escalate_after_ms=int(s.escalate_after_s * 1000),
                timezone=s.timezone,
            ),
            timing=Timing(cancel_window_ms=int(s.cancel_window_s * 1000)),
        )
        self.pipeline = UplinkPipeline(self.state)
        self.writer = Writer(self.store, delay_s=settings.commit_delay_ms / 1000)
        self.bus = Bus()
        # Where downlinks go: each link's ``publish`` (mqtt_link.py), one per broker; none in tests of the core.
        self.publishers: list[Publish] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._notices: set[asyncio.Task[None]] = set()
        self.dead_letters = 0  # messages set aside since start (set_aside)
        self.gateway_links = GatewayLinks()
        self._lock = asyncio.Lock()
        self.latency_ms: list[float] = []  # ingest to push, most recent first-copy alarms
        self.cluster: Cluster | None = None
        self._next_sweep = 0.0
        self.gc = Collector()
        self.last_alarm_s = 0.0  # time.monotonic() of the latest alarm decided: the collector waits for quiet
        # Offer timeouts, broadcasts and escalations, met when they fall due (one process only: clock.py).
        self.clock = DeadlineClock(self.state, self.pipeline, self.carry_out, int(settings.deadline_gap_ms), now_ms)

    async def start(self) -> None:
        await asyncio.to_thread(upgrade, self.settings.database_url)
        if not self.store.sealer.sealing:
            log.warning("no key_sealing_key: device keys are stored unsealed in the database")
        await self.store.load(self.state, now_ms())
        self.gc.install()  # full collections only at quiet moments (gc_policy.py)
        if self.store.dialect == "postgresql" and self.settings.cluster is not False:
            self.cluster = Cluster(self)
            await self.cluster.start()
        self.writer.start()
        self._tasks = [
            asyncio.create_task(self._every(self.settings.tick_s, self._tick), name="dispatch-tick"),
            asyncio.create_task(self._every(self.settings.recovery_every_s, self._sweep), name="dispatch-sweep"),
            asyncio.create_task(self._every(self.settings.purge_every_s, self.purge), name="dispatch-purge"),
            asyncio.create_task(self.gc.run(lambda: self.last_alarm_s), name="dispatch-gc"),
        ]
        if self.cluster is None:
            self.clock.start()
        log.info(
            "dispatch ready: %d devices, %d responders, %d open incidents",
            len(self.state.resolver),
            len(self.state.responders),
            sum(1 for i in self.state.incidents.values() if i.active),
        )

    async def stop(self) -> None:
        self.gc.uninstall()
        running = self.clock.stop()
        if running is not None:
            self._tasks.append(running)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self.cluster is not None:
            await self.cluster.stop()
        await self.writer.stop()
        await self.store.close()

    # -- inputs --------------------------------------------------------------------------------------------

    def submit(self, topic: str, payload: bytes, done: Done = _nothing) -> Context:
        """Handle one uplink, the one way in for one: decide, push, queue the records, and call ``done`` once they
        are durable (or with the error that stopped it); its downlinks go just before. The MQTT link's ``done``
        acknowledges the message to the broker; ``on_uplink`` awaits it.

        A single service does it all in this call, with no task per message; a replica's alarms need the
        database's lock first, and go on in a task of their own (cluster.py)."""
        t0 = time.perf_counter()
        ctx = self.pipeline.decode(topic, payload, now_ms())
        self._onward(ctx, t0, done)
        return ctx

    async def on_uplink(self, topic: str, payload: bytes) -> Outcome:
        """``submit``, awaited: the uplink's outcome, once its effects are durable (tests and tools)."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        ctx = self.submit(topic, payload, _settle(fut))
        await fut
        assert ctx.outcome is not None
        return ctx.outcome

    def _onward(self, ctx: Context, t0: float, done: Done) -> None:
        """A decoded uplink (``submit``'s, or one the recovery sweep found) acted on, its effects carried out."""
        if self.cluster is not None and self.cluster.needs_lock(ctx):
            self._in_background(self.cluster.uplink(ctx)).add_done_callback(_told(done))
            return
        self.pipeline.finish(ctx)
        if ctx.effects.urgent:
            self.last_alarm_s = time.monotonic()
        if ctx.outcome == Outcome.ACCEPTED and ctx.effects.pushes:
            self.latency_ms.append((time.perf_counter() - t0) * 1000)
            if len(self.latency_ms) > 4096:
                del self.latency_ms[:-2048]
        if ctx.outcome is not Outcome.ACCEPTED and ctx.outcome is not Outcome.DUPLICATE:
            log.debug("uplink stopped: %s %s", ctx.outcome, ctx.detail)
        self.carry_out(ctx.effects, done)
        if self.cluster is None:
            self.clock.after_uplink(ctx.now_ms)

    async def on_gateway_status(self, gateway_id: str, payload: bytes, via: str = "") -> None:
        """A gateway's retained status, as ``via`` (a broker) has it (gateway_status.py)."""
        try:
            doc = gateway_status.read(payload)
        except ValueError:
            log.warning("unreadable status from gateway %s", gateway_id)
            return
        if doc is None:
            return
        if gateway_id in self.state.removed_gateways:
            # An operator removed it: it comes back only when one adds it again (PUT /gateways/{id}).
            self.state.gateway_status_refused += 1
            refused = self.state.gateway_status_refused
            log.warning("status of removed gateway %s refused (%d so far)", gateway_id, refused)
            return
        online, lat, lon = self.gateway_links.heard(gateway_id, via, doc)
        await self.carried_out(actions.gateway_status(self.state, gateway_id, online, lat, lon, now_ms()))
        await self.store.save_gateway(self.state.gateways[gateway_id])

    def link_notice(self, kind: str, subject: str, data: dict[str, Any]) -> None:
        """An operator notice from the MQTT link (a downlink refused, a message set aside): kept and pushed."""
        row = NoticeRow(kind, subject, now_ms(), data)
        eff = Effects()
        eff.durable.append(row)
        eff.pushes.append(notice_push(row))
        self._in_background(self.carried_out(eff))

    def set_aside(self, topic: str, payload: bytes, error: str, done: Done) -> None:
        """Keep a message whose handling can never succeed in the dead-letter table with its error, tell
        operators, then call ``done`` (and the link acknowledges it); ``done`` gets the error if keeping it
        failed, and the message waits at the broker instead (failures.py)."""
        parts = topic.split("/")
        subject = parts[3] if len(parts) > 3 else topic
        row = NoticeRow("dead_letter", subject[:64], now_ms(), {"topic": topic, "error": error})

        async def keep() -> None:
            # The letter and its notice row in one transaction (the store's), so the notice is only pushed.
            letter = await self.store.set_aside(topic[:256], payload, error, row)
            self.dead_letters += 1
            eff = Effects()
            push = notice_push(row)
            push.data["dead_letter"] = letter
            eff.pushes.append(push)
            await self.carried_out(eff)

        self._in_background(keep()).add_done_callback(_told(done))

    def _in_background(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """A task nobody awaits, held until it ends (the event loop keeps only weak references to tasks)."""
        task = asyncio.get_running_loop().create_task(work)
        self._notices.add(task)
        task.add_done_callback(self._notices.discard)
        return task

    async def act(self, fn: Callable[..., Effects], *args: Any, **kwargs: Any) -> None:
        """Run a responder or operator action on an incident (see actions.py) and carry out its effects."""
        if self.cluster is not None:
            device_id = int(str(args[0]).split("-", 1)[0])
            self.send_downlinks(await self.cluster.action(device_id, fn, *args, **kwargs))
            return
        async with self._lock:
            eff = fn(self.state, *args, **kwargs)
        await self.carried_out(eff)

    async def registry_changed(self, kind: str, data: dict[str, Any]) -> None:
        """Tell the other replicas (if any) that a responder, gateway or device changed."""
        if self.cluster is not None:
            await self.cluster.announce(kind, data)

    # -- outputs -------------------------------------------------------------------------------------------

    def carry_out(self, eff: Effects, done: Done = _nothing) -> None:
        """Carry out a decision's effects, the one way they are: the pushes at once (a replica's go to every
        replica's streams through the database first), the records to the writer's next group commit, and once
        they are committed the downlinks, then ``done``. When the records cannot be kept ``done`` gets the error
        and no downlink goes: the MQTT message stays unacknowledged (or is set aside), never dropped unseen.
        No task or future of its own (at tens of thousands of uplinks a second they were a fifth of the CPU);
        ``carried_out`` awaits it."""
        if self.cluster is not None and eff.pushes:
            self._in_background(self._announce(eff, done))
            return
        for push in eff.pushes:
            self.show(push.topic, push.data)
        self._keep(eff, done)

    async def carried_out(self, eff: Effects) -> None:
        """``carry_out``, awaited: returns once the records are committed and the downlinks sent."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.carry_out(eff, _settle(fut))
        await fut

    async def _announce(self, eff: Effects, done: Done) -> None:
        """A replica's pushes, through the database to every replica (``cluster.py`` shows them), then the rest."""
        assert self.cluster is not None
        try:
            for push in eff.pushes:
                doc = {"origin": self.cluster.origin, "topic": push.topic, "data": push.data}
                await store_postgres.notify(self.store, None, doc)
        except asyncio.CancelledError as e:
            done(e)
            raise
        except Exception as e:
            done(e)
            return
        self._keep(eff, done)

    def _keep(self, eff: Effects, done: Done) -> None:
        """The records to the writer; the downlinks and ``done`` once they are committed."""
        if eff.urgent:
            self.gc.after_alarm()
        if not eff.durable:
            self.send_downlinks(eff)
            done(None)
            return
        if not eff.downlinks:
            self.writer.enqueue(eff.durable, done, eff.urgent)
            return

        def committed(error: BaseException | None) -> None:
            if error is None:
                self.send_downlinks(eff)
            done(error)

        self.writer.enqueue(eff.durable, committed, eff.urgent)

    def show(self, topic: str, data: dict[str, Any]) -> None:
        """One push on this process's live streams. An incident's pushes are whole snapshots of it: one
        superseded within the same turn of the event loop need not go out (``Bus.publish_state``). Responders'
        streams get it when it names them (``views.readers``), operators' always."""
        if topic == "incident":
            self.bus.publish_state(topic, data["id"], data, readers(data))
        else:
            self.bus.publish(topic, data)

    def send_downlinks(self, eff: Effects) -> None:
        for publish in self.publishers:
            for down in eff.downlinks:
                publish(down)

    # -- the clock (deadlines: clock.py) -------------------------------------------------------------------

    async def _every(self, seconds: float, fn: Callable[[], Awaitable[None]]) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await fn()
            except Exception:
                log.exception("periodic task failed")

    async def _tick(self) -> None:
        if self.cluster is None:
            for eff in actions.tick_slices(self.state, self.pipeline, now_ms(), carry_out=self.carry_out):
                self.carry_out(eff)
                await asyncio.sleep(0)  # alarms that came in meanwhile go first
            return
        # Replicas plan under the database's locks (cluster.py), by the walk alone: the offers' deadlines that the
        # pipeline put on the heap are not needed.
        self.state.deadlines.clear()
        await self.cluster.tick(now_ms())
        if self.cluster.leader:
            # Heartbeats land on every replica: read last-seen from the database before calling a ring silent.
            for device_id, last_seen, period in await self.store.overdue_devices(now_ms()):
                info = self.state.devices.setdefault(device_id, DeviceInfo())
                info.last_seen_ms, info.heartbeat_min = last_seen, period
            eff = Effects()
            actions.tick_devices(self.state, now_ms(), eff)
            await self.carried_out(eff)

    async def purge(self) -> None:
        """Retention (settings.retention_days): drop closed incidents' locations, and old frames and notices."""
        now = now_ms()
        counts = await self.store.purge(now - int(self.settings.retention_days * 86_400_000))
        for inc_id in [i.id for i in self.state.incidents.values() if not i.active and now - i.updated_ms > 3_600_000]:
            del self.state.incidents[inc_id]  # closed for an hour: the database has it
        if any(counts.values()):
            log.info("retention purge: %s", counts)

    async def _sweep(self) -> None:
        # Rate-limited by its period: garbage frames can cost at most one sweep per period.
        # A sweep costs CPU in proportion to the devices (about 85 us each): space them at least twice their
        # own duration apart, so that a flood of unknown frames can take at most a third of one core.
        if time.monotonic() < self._next_sweep:
            return
        held = self.pipeline.take_unresolved()
        if not held:
            return
        started = time.monotonic()
        # The AES work runs off the event loop; the pipeline itself only ever runs on it.
        found = await asyncio.to_thread(self.state.resolver.recover, [rec.frame for rec, _ in held])
        self._next_sweep = time.monotonic() + 2 * (time.monotonic() - started)
        for ctx in self.pipeline.resume(held, found, now_ms(), finish=False):
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._onward(ctx, time.perf_counter(), _settle(fut))
            await fut

    # -- figures -------------------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        lat = sorted(self.latency_ms)
        return {
            "devices": len(self.state.resolver),
            "responders": len(self.state.responders),
            "open_incidents": sum(1 for i in self.state.incidents.values() if i.active),
            "outcomes": {o.value: n for o, n in self.state.counts.items()},
            "writer": self.writer.figures(),
            "dead_letters": self.dead_letters,
            "unresolved_queue": len(self.state.unresolved),
            "unresolved_dropped": self.state.unresolved_dropped,
            "unresolved_given_up": self.state.unresolved_given_up,
            "gateway_status_refused": self.state.gateway_status_refused,
            "acks_withheld": self.state.acks_withheld,
            "stream_subscribers": self.bus.subscribers,
            "pipeline_p99_ms": round(lat[int(len(lat) * 0.99)], 3) if lat else None,
            "gc": self.gc.figures(),
        }
