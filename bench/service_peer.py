"""The dispatch service as the dispatch benchmark's peer (bench/dispatch_bench.py): started once for the whole run,
then its latency turns, timed to each responder's stream, and its floods, done when every frame's row is committed.
"""

import asyncio
import contextlib
import json
import time
from pathlib import Path
from typing import Any

import aiohttp
import httpx

from bench.dispatch_service import Service, probe_service, processed, retain_gateway_status
from bench.peer_runs import DONE_POLL_S, FLOOD_TIMEOUT_S, Cpu, cancel_task, flood_result, paced_run, start_flood
from bench.uplinks import Copy, Fleet, delays

KEEPALIVE_S = 2.0  # how long the bench keeps an idle connection to the service: less than the server's 5 s
Flood = tuple[Path, int, list[list[Copy]]]  # the file the publisher reads, its envelope count, its frames


class ServicePeer:
    """The service for the whole run: provisioned, started, staffed and subscribed once; then latency runs and
    floods in turn with Node-RED's."""

    def __init__(
        self, workdir: Path, port: int, broker_pid: int, fleets: list[Fleet], env: dict[str, str] | None = None
    ) -> None:
        self.svc = Service(workdir, port, env)
        self.port, self.broker_pid, self.fleets = port, broker_pid, fleets
        self._stack = contextlib.AsyncExitStack()

    async def __aenter__(self) -> "ServicePeer":
        await self.svc.provision(self.fleets)
        await retain_gateway_status(self.port)
        self.svc.start()
        self._stack.callback(self.svc.stop)
        # The service's server closes a connection idle for 5 s (uvicorn's keep-alive): a request sent on one
        # just then was refused ("Server disconnected") once, at the end of an A/B run. Idle connections are
        # let go here first.
        limits = httpx.Limits(keepalive_expiry=KEEPALIVE_S)
        client = httpx.AsyncClient(base_url=self.svc.base, timeout=10, limits=limits)
        self.http = await self._stack.enter_async_context(client)
        await self.svc.ready(self.http)
        await self.svc.staff(self.http)
        health = (await self.http.get("/healthz")).json()
        await probe_service(self.port, self.http, processed(health))
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()

    async def latency(self, alarms: list[list[Copy]], warmup: int) -> dict[str, Any]:
        return await _service_latency(self.svc, self.http, self.port, alarms, warmup)

    async def flood(self, flood: Flood) -> dict[str, Any]:
        return await _service_flood(self.svc, self.http, self.port, self.broker_pid, *flood)

    async def health(self) -> dict[str, Any]:
        doc: dict[str, Any] = (await self.http.get("/healthz")).json()
        return doc


async def _service_flood(
    svc: Service,
    http: httpx.AsyncClient,
    port: int,
    broker_pid: int,
    flood_file: Path,
    flood_n: int,
    heartbeats: list[list[Copy]],
) -> dict[str, Any]:
    h0 = await _idle(http)
    base, w0 = processed(h0), h0["writer"]
    distinct = len(heartbeats)
    devs = [int(g[0].key.split("-")[0]) for g in heartbeats]
    sql = "SELECT COUNT(*) FROM frames WHERE device_id BETWEEN ? AND ? AND event = 'heartbeat'"
    cpu = Cpu(broker=broker_pid, service=svc.pid)
    proc = await start_flood(flood_file, port)
    series: list[tuple[float, int]] = []
    deadline = time.monotonic() + FLOOD_TIMEOUT_S
    rows = 0
    while True:
        h = (await http.get("/healthz")).json()
        t = time.monotonic()
        done = processed(h) - base
        series.append((t, done))
        # Done when every uplink has an outcome and every distinct frame's row is committed: read from the
        # database itself (only in the tail, so the reads do not compete with the flood).
        if done >= flood_n:
            rows = svc.query(sql, (min(devs), max(devs)))[0]
            if rows >= distinct:
                break
        if t > deadline:
            break  # reported as lost below, never waited for forever
        await asyncio.sleep(DONE_POLL_S)
    t_done = time.monotonic()
    pub = await flood_result(proc)
    used = cpu.stop(pub, flood_n)
    h = await _idle(http)
    w1 = h["writer"]
    commits = w1["commits"] - w0["commits"]
    outcomes = {k: v - h0["outcomes"].get(k, 0) for k, v in h["outcomes"].items()}
    rows = svc.query(sql, (min(devs), max(devs)))[0]
    return {
        "uplinks": flood_n,
        "distinct_frames": distinct,
        "mix": "heartbeats only (flags 0, aux 60, battery 80), 3 per device, 3 gateway copies each",
        "throughput_msg_s": flood_n / (t_done - pub["t_first"]),
        "steady_msg_s": _steady(series, flood_n),
        # Uplinks handled (not yet committed) against seconds since the first publish, every ~0.5 s.
        "handled_series": _thin(series, pub["t_first"]),
        "elapsed_s": t_done - pub["t_first"],
        "publisher": pub,
        "outcomes": outcomes,
        "frames_rows": rows,
        "lost": distinct - rows,
        "commits": commits,
        "records_per_commit": (w1["records"] - w0["records"]) / commits if commits else 0.0,
        "frames_per_commit": distinct / commits if commits else 0.0,
        "last_commit_ms": w1["last_commit_ms"],
        "writer_failures": w1["failures"] - w0["failures"],
        # Where the flood's wall time went on the service's side: committing, and not reading from the broker
        # because a group commit's worth of uplinks was already in hand.
        "commit_s": round(w1.get("commit_s", 0.0) - w0.get("commit_s", 0.0), 3),
        "paused_s": round((h.get("mqtt") or {}).get("paused_s", 0.0) - (h0.get("mqtt") or {}).get("paused_s", 0.0), 3),
        "cpu": used,
    }


async def _idle(http: httpx.AsyncClient, timeout: float = 30) -> dict[str, Any]:
    """/healthz once the writer has had nothing to do for two polls in a row: the group commits of earlier
    traffic are not counted in the next measurement."""
    deadline = time.monotonic() + timeout
    prev: dict[str, Any] = (await http.get("/healthz")).json()
    while time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        h: dict[str, Any] = (await http.get("/healthz")).json()
        if h["writer"]["depth"] == 0 and h["writer"]["commits"] == prev["writer"]["commits"]:
            return h
        prev = h
    return prev


def _thin(series: list[tuple[float, int]], t0: float, every_s: float = 0.5) -> list[tuple[float, int]]:
    out: list[tuple[float, int]] = []
    for i, (t, n) in enumerate(series):
        if not out or t - t0 - out[-1][0] >= every_s or i == len(series) - 1:
            out.append((round(t - t0, 2), n))
    return out


def _steady(series: list[tuple[float, int]], total: int) -> float:
    """Rate between 10% and 90% of the uplinks handled: the sustained pace without start and finish."""
    a = next((p for p in series if p[1] >= total * 0.1), None)
    b = next((p for p in series if p[1] >= total * 0.9), None)
    if a is None or b is None or b[0] <= a[0]:
        return 0.0
    return (b[1] - a[1]) / (b[0] - a[0])


async def _service_latency(
    svc: Service, http: httpx.AsyncClient, port: int, alarms: list[list[Copy]], warmup: int
) -> dict[str, Any]:
    arrived: dict[str, float] = {}
    events = 0
    reconnects = 0

    async def read(token: str) -> None:
        """A responder's phone: follows the stream, which shows that responder the incidents offered to them,
        and, as EventSource does, reconnects with Last-Event-ID when the service ends it (it drops a subscriber
        that falls 1000 messages behind). aiohttp reads it, as it reads Node-RED's WebSocket: the same client on
        both sides of the comparison, each timed when its C parser hands over what arrived (a WebSocket message;
        here the body's bytes, de-chunked). The events in it are split out after the clock is read, as a
        browser's EventSource does in its own native code: a line-by-line reader in Python would time the
        bench's parsing as much as the service."""
        nonlocal events, reconnects
        last_id = ""
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None)) as session:
            while True:
                hdr = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
                if last_id:
                    hdr["Last-Event-ID"] = last_id
                async with session.get(svc.base + "/api/v1/stream", headers=hdr) as resp:
                    pending = b""
                    async for chunk in resp.content.iter_any():
                        t = time.perf_counter()
                        *whole, pending = (pending + chunk).split(b"\n\n")
                        for ev in whole:
                            fields = dict(line.split(b": ", 1) for line in ev.split(b"\n") if b": " in line)
                            if b"id" in fields:
                                last_id = fields[b"id"].decode()
                            if fields.get(b"event") == b"incident":
                                events += 1
                                arrived.setdefault(json.loads(fields[b"data"])["id"], t)
                reconnects += 1

    # Every responder on duty follows their own stream: an alarm counts when it reaches the one it was offered to.
    readers = [asyncio.create_task(read(token)) for token in svc.responders]
    deadline = time.monotonic() + 10
    while (await http.get("/healthz")).json()["stream_subscribers"] < len(readers):
        if time.monotonic() > deadline or any(r.done() for r in readers):
            raise TimeoutError("the SSE streams did not subscribe")
        await asyncio.sleep(0.02)

    sent, rate = await paced_run(port, alarms, lambda c: c.key in arrived)
    for reader in readers:
        await cancel_task(reader)
    by_payload = {g[0].payload: arrived[g[0].key] for g in alarms if g[0].key in arrived}
    devs = [int(g[0].key.split("-")[0]) for g in alarms]
    sql = "SELECT COUNT(*), COUNT(DISTINCT device_id) FROM incidents WHERE device_id BETWEEN ? AND ?"
    # Incidents are pushed before they are written: give the last group commits up to 10 s to land.
    deadline = time.monotonic() + 10
    n_inc, n_dev = svc.query(sql, (min(devs), max(devs)))
    while n_dev < len(alarms) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        n_inc, n_dev = svc.query(sql, (min(devs), max(devs)))
    return {
        "delays": delays(sent, by_payload, [g[0] for g in alarms[warmup:]]),
        "latency_rate_achieved": rate,
        "alarms": len(alarms),
        "sse_events": events,
        "sse_reconnects": reconnects,
        "not_on_stream": sum(1 for g in alarms if g[0].key not in arrived),
        "incidents": n_inc,
        "incident_devices": n_dev,
        "lost": len(alarms) - n_dev,
        "doubled": n_inc - n_dev,
    }
