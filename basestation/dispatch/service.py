"""The running dispatch service: state, pipeline, store and writer wired together (the I/O shell).

Order for one uplink: the pipeline decides in memory (microseconds); pushes go to the live stream at once; the
durable records are committed by the writer's next group commit; then the downlinks are published and the call
returns, which lets the MQTT adapter acknowledge the message to the broker.
"""

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from basestation.dispatch.api.views import readers
from basestation.dispatch.core import actions
from basestation.dispatch.core.assignment import Policy
from basestation.dispatch.core.effects import Downlink, Effects, NoticeRow
from basestation.dispatch.core.outcomes import Outcome
from basestation.dispatch.core.pipeline import Context, UplinkPipeline, notice_push
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


def _degrees(value: float, limit: float) -> float | None:
    try:
        f = float(value)
    except OverflowError:
        return None
    return f if -limit <= f <= limit else None


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
        self._gateway_links: dict[str, dict[str, bool]] = {}  # gateway -> broker -> online there
        self._lock = asyncio.Lock()
        self.latency_ms: list[float] = []  # ingest to push, most recent first-copy alarms
        self.cluster: Cluster | None = None
        self._next_sweep = 0.0
        self.gc = Collector()
        self.last_alarm_s = 0.0  # time.monotonic() of the latest alarm decided: the collector waits for quiet
        # The deadline clock (``_deadline_set``): the timer set for the earliest deadline, when it fires, the pass
        # running, and when the last one started.
        self._deadline_timer: asyncio.TimerHandle | None = None
        self._deadline_timer_ms = 0
        self._deadline_pass: asyncio.Task[None] | None = None
        self._last_pass_ms = 0
        self._deadline_gap_ms = int(settings.deadline_gap_ms)

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
            self.state.on_earliest = self._deadline_set
            if self.state.deadlines:
                self._deadline_set(self.state.deadlines[0][0])
        log.info(
            "dispatch ready: %d devices, %d responders, %d open incidents",
            len(self.state.resolver),
            len(self.state.responders),
            sum(1 for i in self.state.incidents.values() if i.active),
        )

    async def stop(self) -> None:
        self.gc.uninstall()
        self.state.on_earliest = None
        if self._deadline_timer is not None:
            self._deadline_timer.cancel()
            self._deadline_timer = None
        if self._deadline_pass is not None:
            self._tasks.append(self._deadline_pass)
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

    def submit(self, topic: str, payload: bytes, done: Done) -> None:
        """Handle one uplink and call ``done`` once its effects are durable (or with the error that stopped it).

        The MQTT adapter's path. A single service decides, pushes and queues the records in this call, with no
        task per message; replicas need the database's lock first, so their alarms take the awaiting path.
        """
        t0 = time.perf_counter()
        ctx = self.pipeline.decode(topic, payload, now_ms())
        if self.cluster is not None:
            task = asyncio.get_running_loop().create_task(self._finish(ctx, t0))
            task.add_done_callback(lambda t: done(asyncio.CancelledError() if t.cancelled() else t.exception()))
            return
        self._decided(ctx, t0)
        self._carry_out_soon(ctx.effects, done)
        if self._deadline_pass is None and actions.deadlines_due(self.state, ctx.now_ms):
            self._deadlines_ride_along(ctx.now_ms)

    async def on_uplink(self, topic: str, payload: bytes) -> Outcome:
        """Handle one uplink message; returns once its effects are durable, so the caller may ack it."""
        t0 = time.perf_counter()
        ctx = self.pipeline.decode(topic, payload, now_ms())
        await self._finish(ctx, t0)
        assert ctx.outcome is not None
        return ctx.outcome

    async def _finish(self, ctx: Context, t0: float) -> None:
        if self.cluster is not None and self.cluster.needs_lock(ctx):
            await self.cluster.uplink(ctx)
            return
        self._decided(ctx, t0)
        await self.carry_out(ctx.effects)

    def _decided(self, ctx: Context, t0: float) -> None:
        self.pipeline.finish(ctx)
        if ctx.effects.urgent:
            self.last_alarm_s = time.monotonic()
        if ctx.outcome == Outcome.ACCEPTED and ctx.effects.pushes:
            self.latency_ms.append((time.perf_counter() - t0) * 1000)
            if len(self.latency_ms) > 4096:
                del self.latency_ms[:-2048]
        if ctx.outcome is not Outcome.ACCEPTED and ctx.outcome is not Outcome.DUPLICATE:
            log.debug("uplink stopped: %s %s", ctx.outcome, ctx.detail)

    async def on_gateway_status(self, gateway_id: str, payload: bytes, via: str = "") -> None:
        """A gateway's retained status, as ``via`` (a broker) has it. With two brokers a gateway is online while
        it is online on either: its connection to one going down (and its will said so there) is not the
        gateway going down."""
        try:
            doc = json.loads(payload) if payload else {"state": "offline"}
        except ValueError:
            log.warning("unreadable status from gateway %s", gateway_id)
            return
        if not isinstance(doc, dict):
            return
        if gateway_id in self.state.removed_gateways:
            # An operator removed it: it comes back only when one adds it again (PUT /gateways/{id}).
            self.state.gateway_status_refused += 1
            refused = self.state.gateway_status_refused
            log.warning("status of removed gateway %s refused (%d so far)", gateway_id, refused)
            return
        by_broker = self._gateway_links.setdefault(gateway_id, {})
        by_broker[via] = doc.get("state", doc.get("status")) == "online"
        online = any(by_broker.values())
        pos = doc.get("position")
        lat = lon = None
        if isinstance(pos, dict) and all(isinstance(pos.get(k), int | float) for k in ("lat", "lon")):
            # JSON's integers have no bound: float() of 10**400 raises, and a status that raised would be set
            # aside. A position off the globe is no position.
            lat, lon = _degrees(pos["lat"], 90), _degrees(pos["lon"], 180)
            if lat is None or lon is None:
                lat = lon = None
        eff = actions.gateway_status(self.state, gateway_id, online, lat, lon, now_ms())
        await self.carry_out(eff)
        await self.store.save_gateway(self.state.gateways[gateway_id])

    def link_notice(self, kind: str, subject: str, data: dict[str, Any]) -> None:
        """An operator notice from the MQTT link (a downlink refused, a message set aside): kept and pushed."""
        row = NoticeRow(kind, subject, now_ms(), data)
        eff = Effects()
        eff.durable.append(row)
        eff.pushes.append(notice_push(row))
        self._in_background(self.carry_out(eff))

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
            await self.carry_out(eff)

        task = self._in_background(keep())
        task.add_done_callback(lambda t: done(asyncio.CancelledError() if t.cancelled() else t.exception()))

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
        await self.carry_out(eff)

    async def registry_changed(self, kind: str, data: dict[str, Any]) -> None:
        """Tell the other replicas (if any) that a responder, gateway or device changed."""
        if self.cluster is not None:
            await self.cluster.announce(kind, data)

    def _carry_out_soon(self, eff: Effects, done: Done = _nothing) -> None:
        """``carry_out`` without waiting for the commit (one process only): the downlinks and ``done`` follow it."""
        self._publish(eff)
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

    def _publish(self, eff: Effects) -> None:
        for push in eff.pushes:
            self.show(push.topic, push.data)

    async def carry_out(self, eff: Effects) -> None:
        if self.cluster is None:
            self._publish(eff)
        else:
            for push in eff.pushes:
                await store_postgres.notify(
                    self.store, None, {"origin": self.cluster.origin, "topic": push.topic, "data": push.data}
                )
        if eff.urgent:
            self.gc.after_alarm()
        await self.writer.write(eff.durable, urgent=eff.urgent)
        self.send_downlinks(eff)

    def send_downlinks(self, eff: Effects) -> None:
        for publish in self.publishers:
            for down in eff.downlinks:
                publish(down)

    # -- the clock -----------------------------------------------------------------------------------------

    async def _every(self, seconds: float, fn: Callable[[], Awaitable[None]]) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await fn()
            except Exception:
                log.exception("periodic task failed")

    def _deadline_set(self, at_ms: int) -> None:
        """The earliest deadline on the heap is now ``at_ms``: a pass (``_pass_deadlines``) runs when it falls, and
        not sooner than ``deadline_gap_ms`` after the last one began, so that deadlines falling close together are
        met in one pass.

        A timer for the earliest deadline, not a look every few milliseconds: on this machine every wake-up of an
        idle process cost ~0.17 ms of CPU, and a look every 10 ms was 17 ms of CPU a second with nothing due
        (bench/common.py's ``sched_stats``), a hundred wake-ups a second taking turns with the alarms for the two
        cores. The heap calls this itself (``DispatchState.push_deadline``), whichever path put a deadline on it."""
        if self._deadline_pass is not None:
            return  # the pass sets the timer again when it ends
        at_ms = max(at_ms, self._last_pass_ms + self._deadline_gap_ms)
        timer = self._deadline_timer
        if timer is not None:
            if self._deadline_timer_ms <= at_ms:
                return
            timer.cancel()
        self._deadline_timer_ms = at_ms
        delay_s = max(0.0, (at_ms - now_ms()) / 1000)
        self._deadline_timer = asyncio.get_running_loop().call_later(delay_s, self._deadlines_fall)

    def _deadlines_fall(self) -> None:
        self._deadline_timer = None
        if actions.deadlines_due(self.state, now_ms()):
            self._start_pass()
        elif self.state.deadlines:  # the timer's clock ran ahead of the wall clock's milliseconds
            self._deadline_set(self.state.deadlines[0][0])

    def _deadlines_ride_along(self, now: int) -> None:
        """A deadline fell while an uplink was being handled: the pass runs in this wake-up of the event loop,
        right after it, not in one of its own a moment later (at a thousand uplinks a second, with offers timing
        out hundreds of times a second, nearly every pass rides along with an alarm)."""
        if now - self._last_pass_ms < self._deadline_gap_ms:
            return  # the timer is set for the end of the gap
        if self._deadline_timer is not None:
            self._deadline_timer.cancel()
            self._deadline_timer = None
        self._start_pass()

    def _start_pass(self) -> None:
        self._deadline_pass = asyncio.get_running_loop().create_task(self._pass_deadlines(), name="dispatch-deadlines")

    async def _pass_deadlines(self) -> None:
        """Offer timeouts, broadcasts and escalations that have fallen due (actions.deadline_slices)."""
        now = now_ms()
        self._last_pass_ms = now
        try:
            for eff in actions.deadline_slices(self.state, self.pipeline, now, carry_out=self._carry_out_soon):
                self._carry_out_soon(eff)
                await asyncio.sleep(0)  # alarms that came in meanwhile go first
        except Exception:
            log.exception("deadline pass failed")
        finally:
            self._deadline_pass = None
            if self.state.deadlines and self.state.on_earliest is not None:
                self._deadline_set(self.state.deadlines[0][0])

    async def _tick(self) -> None:
        if self.cluster is None:
            for eff in actions.tick_slices(self.state, self.pipeline, now_ms(), carry_out=self._carry_out_soon):
                self._carry_out_soon(eff)
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
            await self.carry_out(eff)

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
            await self._finish(ctx, time.perf_counter())

    # -- figures -------------------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        lat = sorted(self.latency_ms)
        return {
            "devices": len(self.state.resolver),
            "responders": len(self.state.responders),
            "open_incidents": sum(1 for i in self.state.incidents.values() if i.active),
            "outcomes": {o.value: n for o, n in self.state.counts.items()},
            "writer": {
                "commits": self.writer.commits,
                "records": self.writer.records,
                "depth": self.writer.depth,
                "failures": self.writer.failures,
                "last_commit_ms": round(self.writer.last_commit_ms, 3),
                "commit_s": round(self.writer.commit_s, 3),
                "max_commit_ms": round(self.writer.max_commit_ms, 3),
                "commits_inline": self.store.commits_inline,
                "commits_in_thread": self.store.commits_in_thread,
                "checkpoints": self.store.checkpoints,
                "set_aside": self.writer.set_aside,
            },
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
