"""The relay: sources in, spool and MQTT out. It wires the pure core to the I/O shells and owns no policy
of its own beyond the order of the steps: check shape, remember the route, dedupe, spool, publish.

Everything goes to each broker path (broker_paths.py): the primary's, and the mirror's when ``mqtt_mirror`` is
set. Downlinks come from every broker and are carried out once per id."""

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bleak.backends.scanner import BaseBleakScanner

from basestation.gateway import VERSION, topics
from basestation.gateway.ble import BleSource
from basestation.gateway.broker_paths import BrokerPath
from basestation.gateway.core import Deduper, encode_envelope, frame_problem, pseudonym
from basestation.gateway.downlink import (
    DownlinkError,
    RadioDefaults,
    RecentIds,
    Routes,
    build_txpk,
    parse_downlink,
)
from basestation.gateway.mqtt_sink import MqttSink
from basestation.gateway.record import ReceivedFrame
from basestation.gateway.settings import GatewaySettings
from basestation.gateway.spool import Spool
from basestation.gateway.stats import RateLimitedLog, Stats
from basestation.gateway.udp import SemtechListener, listen

log = logging.getLogger(__name__)


def _json(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode()


class Relay:
    def __init__(
        self,
        settings: GatewaySettings,
        spool: Spool,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        mirror: Spool | None = None,
    ) -> None:
        brokers = settings.brokers
        if (mirror is not None) != (len(brokers) > 1):
            raise ValueError("a mirror spool goes with a mirror broker (mqtt_mirror), and only with one")
        self.settings = settings
        self.stats = Stats()
        # The primary's delivery counts are the relay's own Stats, so ``acknowledged`` keeps its meaning.
        self.paths = [BrokerPath(brokers[0], spool, self.stats)]
        if mirror is not None:
            self.paths.append(BrokerPath(brokers[1], mirror))
        self.dedupe = Deduper(window_s=settings.dedupe_window_s, memory_s=max(600.0, settings.dedupe_window_s))
        self.downlink_ids = RecentIds()
        self.routes = Routes()
        self.udp: SemtechListener | None = None
        self._clock = clock
        self._monotonic = monotonic
        self._log = RateLimitedLog()
        self.ble_scanning = False
        self.radio = RadioDefaults(settings.downlink_freq_mhz, settings.downlink_datr, settings.downlink_power_dbm)

    def status(self, online: bool) -> bytes:
        doc: dict[str, Any] = {"gateway_id": self.settings.id, "state": "online" if online else "offline"}
        if online:
            pos = self.settings.lat_lon
            doc["version"] = VERSION
            doc["position"] = None if pos is None else {"lat": pos[0], "lon": pos[1]}
            doc["radios"] = [r for r, on in (("ble", self.settings.ble), ("lora", self.udp_enabled)) if on]
        return _json(doc)

    @property
    def spool(self) -> Spool:
        """The primary broker's spool."""
        return self.paths[0].spool

    @property
    def sink(self) -> MqttSink | None:
        """The primary broker's sink."""
        return self.paths[0].sink

    @property
    def sinks(self) -> list[MqttSink]:
        return [p.sink for p in self.paths if p.sink is not None]

    @property
    def udp_enabled(self) -> bool:
        return self.settings.semtech_udp is not None

    # --- uplinks ------------------------------------------------------------------------------------

    def on_frame(self, rec: ReceivedFrame) -> None:
        self.on_frames([rec])

    def on_frames(self, records: list[ReceivedFrame]) -> None:
        """Frames heard together (one datagram) are spooled in one commit per broker path, then offered to
        each path's MQTT sink. Two spools are two files, so their commits are not one: a kill between them
        leaves a frame in one spool only, and that broker still gets it."""
        offers: list[list[tuple[int, bytes]]] = [[] for _ in self.paths]
        with contextlib.ExitStack() as commits:
            for path in self.paths:
                commits.enter_context(path.spool.transaction())
            for rec in records:
                accepted = self._accept(rec)
                if accepted is None:
                    continue
                name, payload, repeated = accepted
                for path, rows in zip(self.paths, offers, strict=True):
                    rows.append((path.spool.add(rec.frame, name, payload, rec.rx_time, repeated), payload))
                self.stats.forwarded += 1
        for path, rows in zip(self.paths, offers, strict=True):
            if path.sink is not None:
                for seq, payload in rows:
                    path.sink.offer(seq, payload)

    def _accept(self, rec: ReceivedFrame) -> tuple[bytes, bytes, bool] | None:
        """The pseudonym, envelope and repeated flag of a frame to spool, or None when it goes no further."""
        self.stats.heard[rec.radio] += 1
        problem = frame_problem(rec.frame)
        if problem is not None:
            key = f"{rec.radio}.{problem}"
            self.stats.malformed[key] += 1
            if self._log.should_log(key):
                log.warning("%s: %d-byte frame refused (total %d)", key, len(rec.frame), self.stats.malformed[key])
            return None
        self.routes.heard(rec)
        sighting = self.dedupe.observe(rec.frame, self._monotonic())
        name = pseudonym(rec.frame)
        if sighting.repeats == 2:
            # The device repeated this counter: an alarm or a cancel, not a heartbeat (docs/gateway.md).
            for path in self.paths:
                path.spool.mark_repeated(name)
        if not sighting.forward:
            self.stats.duplicates += 1
            return None
        return name, encode_envelope(rec, self.settings.id), sighting.repeats > 1

    # --- downlinks ----------------------------------------------------------------------------------

    def on_downlink(self, payload: bytes) -> None:
        ident = _downlink_id(payload)
        if ident is not None and not self.downlink_ids.first(ident, self._monotonic()):
            # The dispatch service publishes each downlink on every broker: one transmission, one result.
            self.stats.downlinks["duplicate"] += 1
            return
        try:
            dl = parse_downlink(payload)
            heard = self.routes.get(dl.uplink) if dl.uplink is not None else None
            forwarder, txpk = build_txpk(dl, heard, self.radio)
        except DownlinkError as err:
            self.stats.downlinks[err.reason] += 1
            log.warning("downlink refused: %s", err.reason)
            self._txack(ident, None, err.reason)
            return
        if self.udp is None or not self.udp.send(forwarder, txpk, dl.id):
            self.stats.downlinks["no_forwarder"] += 1
            self._txack(dl.id, forwarder, "no_forwarder")
            return
        self.stats.downlinks["sent"] += 1

    def on_txack(self, downlink_id: str, eui: str, result: str) -> None:
        self.stats.txack[result] += 1
        self._txack(downlink_id, eui, result)

    def _txack(self, downlink_id: str | None, forwarder: str | None, result: str) -> None:
        doc = {"id": downlink_id, "forwarder": forwarder, "result": result, "time_ms": round(self._clock() * 1000)}
        for sink in self.sinks:
            sink.publish_extra(topics.txack(self.settings.id), _json(doc), retain=False)

    # --- stats --------------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The stats message: the primary broker's figures at the top level, as before there was a mirror,
        and the mirror's under ``"mirror"``."""
        now = self._clock()
        snap = self.stats.snapshot()
        primary, *others = self.paths
        snap.update(primary.snapshot(now))
        for path in others:
            snap[path.name] = path.snapshot(now)
        snap["gateway_id"] = self.settings.id
        snap["time_ms"] = round(now * 1000)
        snap["ble_scanning"] = self.ble_scanning
        return snap

    async def publish_stats(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.settings.stats_interval_s)
            payload = _json(self.snapshot())
            for sink in self.sinks:
                sink.publish_extra(topics.stats(self.settings.id), payload, retain=True)


def _downlink_id(payload: bytes) -> str | None:
    # Best effort, read before the request is checked: a refusal still names its request for the dispatch
    # service, and the second copy of a refused request is known as a copy too.
    try:
        ident = json.loads(payload).get("id")
    except (ValueError, RecursionError, AttributeError):
        return None
    return ident if isinstance(ident, str) and len(ident) <= 64 else None


BLE_RETRY_S = 30.0


async def _scan_ble(relay: Relay, backend: type[BaseBleakScanner] | None, stop: asyncio.Event) -> None:
    """Keep the BLE scanner running. A missing adapter or BlueZ refusing to scan must not take the LoRa
    path down with it, so a failure is logged and retried rather than fatal."""
    settings = relay.settings
    while not stop.is_set():
        try:
            async with BleSource(
                relay.on_frame,
                settings.ble_company_id,
                passive=settings.ble_passive,
                adapter=settings.ble_adapter,
                backend=backend,
            ):
                relay.ble_scanning = True
                await stop.wait()
        except Exception as err:  # bleak raises BleakError, D-Bus and OS errors alike
            relay.stats.ble_failures += 1
            log.error("BLE scanning failed (%s: %s); retrying in %.0f s", type(err).__name__, err, BLE_RETRY_S)
        finally:
            relay.ble_scanning = False
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), BLE_RETRY_S)


async def run(
    settings: GatewaySettings,
    stop: asyncio.Event,
    ble_backend: type[BaseBleakScanner] | None = None,
    ready: Callable[[Relay], None] | None = None,
) -> None:
    """Run the gateway until ``stop`` is set. ``ble_backend`` injects a bleak scanner backend."""
    settings.spool.parent.mkdir(parents=True, exist_ok=True)

    def open_spool(path: Path) -> Spool:
        return Spool(path, max_frames=settings.spool_max_frames, synchronous=settings.spool_synchronous)

    mirror = None if settings.mqtt_mirror is None else open_spool(settings.mirror_spool)
    if mirror is None and settings.mirror_spool.exists():
        log.warning(
            "%s is left from a mirror broker no longer set: frames still in it are not sent (remove the file "
            "once they are not needed)",
            settings.mirror_spool,
        )
    relay = Relay(settings, open_spool(settings.spool), mirror=mirror)
    loop = asyncio.get_running_loop()
    online, offline = relay.status(True), relay.status(False)
    for path in relay.paths:
        path.sink = MqttSink(settings, path.broker, path.spool, path.counts, loop, relay.on_downlink, online, offline)
        log.info("gateway %s starting, %d frames spooled for the %s broker", settings.id, path.spool.depth, path.name)
    transport: asyncio.DatagramTransport | None = None
    try:
        for sink in relay.sinks:
            sink.start()
        endpoint = settings.udp_endpoint
        if endpoint is not None:
            transport, relay.udp = await listen(
                endpoint.host, endpoint.port, relay.on_frames, relay.on_txack, relay.stats
            )
            log.info("Semtech UDP listening on %s:%d", endpoint.host, endpoint.port)
        tasks = []
        if settings.ble:
            tasks.append(asyncio.create_task(_scan_ble(relay, ble_backend, stop)))
        if ready is not None:
            ready(relay)
        await relay.publish_stats(stop)
        await asyncio.gather(*tasks)
    finally:
        if transport is not None:
            transport.close()
        # At once: a broker that is down must not delay the other's offline status.
        await asyncio.gather(*(sink.stop() for sink in relay.sinks))
        for path in relay.paths:
            path.spool.close()
        log.info("gateway %s stopped", settings.id)
