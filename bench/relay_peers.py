"""The dispatch benchmark's peers that keep no state, fed what the service is fed: the bare broker hop (a plain
subscriber, what the broker and the publishers cost alone) and Node-RED relaying every uplink to a WebSocket."""

import asyncio
import contextlib
import os
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench import nodered_relay
from bench.peer_runs import (
    LATENCY_WARMUP,
    Arrivals,
    cancel_task,
    paced_run,
    probe_peer,
    stateless_flood,
    stateless_floods,
)
from bench.uplinks import RELAY_UP, UP, Copy, connect, delays, latency, retopic


async def bare_hop(
    port: int, broker_pid: int, flood_file: Path, flood_n: int, alarms: list[list[Copy]]
) -> dict[str, Any]:
    """A gmqtt subscriber at QoS 1 with nothing behind it: what the broker and the publishers cost alone."""
    got: dict[bytes, float] = {}
    arrivals = Arrivals()
    timing = True

    def on_message(client: Any, topic: str, payload: bytes, qos: int, properties: Any) -> int:
        arrivals.n += 1
        if timing:
            got[payload] = time.perf_counter()
        return 0

    sub = await connect(port, f"bench-bare-sub-{os.getpid()}", on_message)
    sub.subscribe(UP + "+", qos=1)
    await probe_peer(port, lambda: arrivals.n > 0)
    sent, rate = await paced_run(port, alarms, lambda c: c.payload in got)
    lat = latency(sent, got, [g[0] for g in alarms[LATENCY_WARMUP:]])

    timing = False
    floods = await stateless_floods(port, flood_file, flood_n, arrivals, broker=broker_pid)
    await sub.disconnect()
    return {"latency": lat, "latency_rate_achieved": round(rate, 1), **floods}


async def _ws_connect(session: aiohttp.ClientSession, url: str) -> aiohttp.ClientWebSocketResponse:
    # The port opens before the flow has registered its WebSocket path: retry until the handshake succeeds.
    deadline = time.monotonic() + 30
    while True:
        try:
            return await session.ws_connect(url, max_msg_size=0, autoping=True)
        except (aiohttp.ClientError, ConnectionError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


class NodeRedPeer:
    """Node-RED relaying uplinks to a WebSocket client (aiohttp, its C frame reader) in this process.

    Its flow listens on ``RELAY_UP``, where it gets the same envelopes as the service: it stays up, idle, while
    the service takes its floods, and the two alternate."""

    def __init__(self, workdir: Path, port: int, broker_pid: int) -> None:
        self.port, self.broker_pid = port, broker_pid
        self.relay = nodered_relay.NodeRed(workdir, port)
        self.arrivals = Arrivals()
        self.got: dict[bytes, float] = {}
        self.timing = False
        self._stack = contextlib.AsyncExitStack()

    async def __aenter__(self) -> "NodeRedPeer":
        red = self._stack.enter_context(self.relay)
        session = await self._stack.enter_async_context(aiohttp.ClientSession())
        self._ws = await _ws_connect(session, red.url)
        self._stack.push_async_callback(self._ws.close)
        reader = asyncio.create_task(self._read())
        self._stack.push_async_callback(cancel_task, reader)
        await probe_peer(self.port, lambda: self.arrivals.n > 0, RELAY_UP)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()

    async def _read(self) -> None:
        async for msg in self._ws:
            self.arrivals.n += 1
            if self.timing and msg.type == aiohttp.WSMsgType.TEXT:
                self.got[msg.data.encode()] = time.perf_counter()

    async def latency(self, alarms: list[list[Copy]], warmup: int) -> dict[str, Any]:
        """One turn: ``alarms`` at ``LATENCY_RATE``; the delays of those after the first ``warmup``."""
        alarms = retopic(alarms, RELAY_UP)
        self.timing = True
        sent, rate = await paced_run(self.port, alarms, lambda c: c.payload in self.got)
        self.timing = False
        return {
            "delays": delays(sent, self.got, [g[0] for g in alarms[warmup:]]),
            "delays_every_copy": delays(sent, self.got, [c for g in alarms[warmup:] for c in g]),
            "latency_rate_achieved": rate,
        }

    async def flood(self, flood_file: Path, flood_n: int) -> dict[str, Any]:
        return await stateless_flood(
            self.port, flood_file, flood_n, self.arrivals, broker=self.broker_pid, node_red=self.relay.pid
        )
