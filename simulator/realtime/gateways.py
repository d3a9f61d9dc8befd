"""The scenario's gateways as real gateway relays (basestation.gateway.relay.run), one per gateway, in this process.

A LoRa gateway is the real relay behind a FakePacketForwarder speaking the Semtech UDP protocol to it (its
concentrator is the faked part); a BLE gateway is the real relay with its real BleSource on a FakeBleAdapter. Each
has its own spool and MQTT connection, as a gateway on a lamp post or a roof would.
"""

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from basestation.gateway.relay import Relay
from basestation.gateway.relay import run as run_relay
from basestation.gateway.settings import GatewaySettings
from harness.ble import FakeBleAdapter
from harness.forwarder import FakePacketForwarder
from simulator.realtime.services import free_port
from simulator.world import World

OnDownlink = Callable[[int, bytes], None]  # (gateway index, ACK frame) when a txpk leaves the forwarder


class SimGateways:
    def __init__(self, world: World, workdir: Path, on_downlink: OnDownlink) -> None:
        self.world = world
        self.workdir = workdir
        self.on_downlink = on_downlink
        self.forwarders: dict[int, FakePacketForwarder] = {}
        self.adapters: dict[int, FakeBleAdapter] = {}
        self.relays: dict[int, Relay] = {}
        self.stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def _settings(self, g: int, mqtt_port: int, udp_port: int | None) -> GatewaySettings:
        gws = self.world.gateways
        lat, lon = self.world.proj.to_latlon(gws.x[g], gws.y[g])
        gw_id = gws.ids[g]
        return GatewaySettings(
            id=gw_id,
            mqtt=f"mqtt://127.0.0.1:{mqtt_port}",
            username=gw_id,
            semtech_udp=None if udp_port is None else f"127.0.0.1:{udp_port}",
            ble=bool(gws.ble[g]),
            position=f"{float(lat):.6f},{float(lon):.6f}",
            spool=self.workdir / f"{gw_id}.sqlite3",
        )

    async def _start_one(self, g: int, mqtt_port: int) -> None:
        gws = self.world.gateways
        udp_port = free_port(0, socket.SOCK_DGRAM)[0] if gws.lora[g] else None
        adapter = FakeBleAdapter() if gws.ble[g] else None
        ready: asyncio.Future[Relay] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(
            run_relay(
                self._settings(g, mqtt_port, udp_port),
                self.stop,
                ble_backend=None if adapter is None else adapter.backend(),
                ready=ready.set_result,
            )
        )
        self._tasks.append(task)
        relay = await asyncio.wait_for(ready, 10)
        assert relay.sink is not None
        await asyncio.wait_for(relay.sink.subscribed.wait(), 15)
        self.relays[g] = relay
        if adapter is not None:
            self.adapters[g] = adapter
        if udp_port is not None:
            eui = f"{0xB827EBFFFE000000 + g:016x}"

            def downlink(frame: bytes, g: int = g) -> None:
                self.on_downlink(g, frame)

            self.forwarders[g] = await FakePacketForwarder.connect("127.0.0.1", udp_port, eui, downlink)

    @contextlib.asynccontextmanager
    async def running(self, mqtt_port: int, one_at_a_time: bool = False) -> AsyncIterator["SimGateways"]:
        """Every gateway connected and subscribed to its downlinks. ``one_at_a_time``: amqtt mishandles clients
        that subscribe at the same instant; one after the other it is steady."""
        try:
            if one_at_a_time:
                for g in range(len(self.world.gateways.ids)):
                    await self._start_one(g, mqtt_port)
            else:
                await asyncio.gather(*(self._start_one(g, mqtt_port) for g in range(len(self.world.gateways.ids))))
            await asyncio.sleep(0.05)  # the forwarders' PULL_DATA reach the relays: downlinks have a route
            yield self
        finally:
            self.stop.set()
            for fwd in self.forwarders.values():
                if fwd.transport is not None:
                    fwd.transport.close()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def lora(self, g: int, frame: bytes, rssi: float, snr: float | None) -> None:
        self.forwarders[g].uplink(frame, rssi, 7.0 if snr is None else snr)

    def ble(self, g: int, frame: bytes, rssi: float, address: str) -> None:
        self.adapters[g].hear(frame, rssi, address)
