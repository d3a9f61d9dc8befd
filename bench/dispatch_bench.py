"""Dispatch benchmark: the real service (subprocess, real MqttLink, SQLite file) against Node-RED's do-nothing relay
and a bare broker hop, all fed the same envelopes by the same publishers through one Mosquitto in the same run.

Three measurements, each for every peer:

1. Throughput. Heartbeats (flags 0, aux 60) from many provisioned key rings, each device sending counters 1, 2, 3
   (inside the rate limiter's burst of 6, so every frame is accepted), every frame published by three gateways.
   A child process floods them at QoS 1. The service is done when every envelope has an outcome and every
   distinct frame has its committed ``frames`` row, read from the database (the service acknowledges each
   message only after its commit); Node-RED when every envelope came out of its WebSocket; the bare hop when a
   plain gmqtt subscriber had them all. The CPU time of every process is recorded per uplink. Each peer takes
   ``FLOOD_REPEATS`` floods (the service each with its own key rings) and its median counts. Node-RED and the
   service run side by side and take turns, flood for flood (``in_turns``): Node-RED listens on topics of its
   own (``RELAY_UP``), so each sits idle through the other's flood.
2. Latency at a fixed rate. SOS frames (ACK requested) from distinct key rings, three gateway copies each, at
   ``LATENCY_RATE`` envelopes a second; the gateways' retained status gives their positions, so every copy
   re-locates the incident, and responders are on duty, so every alarm is offered. For the service: from the
   first copy's publish to the incident arriving on the SSE stream (GET /api/v1/stream) of the responder it was
   offered to (each responder on duty follows their own), read by aiohttp in the bench's event loop. For
   Node-RED: from the same publish to that envelope arriving on its WebSocket, read by aiohttp too. For the
   bare hop: to a gmqtt subscriber. Send and receive times share one ``perf_counter``. Node-RED and the
   service take ``LATENCY_TURNS`` turns each, alternating, and each peer's turns make one distribution. Zero
   loss: one incident per alarm, in the database. The service runs it on a fresh start and once more, with
   other key rings, right after the throughput flood.
3. The service's group commit from /healthz: records and frames per commit, last commit time.

The service runs as in production: ``nightwatch dispatch`` in its own process, device keys sealed at rest,
Mosquitto with the shipped queue settings (deploy/mosquitto/nightwatch.conf).

Every figure comes with its ratio to the peer. "Uplink" means one envelope, a gateway's MQTT message
(docs/mqtt.md); a frame heard by three gateways is three uplinks and one distinct frame.
"""

import asyncio
import contextlib
import gc
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import httpx

from basestation.dispatch.keystore import KeySealer
from basestation.dispatch.migrate import upgrade
from basestation.dispatch.schema import devices as devices_table
from basestation.dispatch.store import Store
from bench import nodered_relay
from bench.common import cpu_ticks, sched_stats, steal_pct
from bench.uplinks import (
    GATEWAYS,
    POSITIONS,
    RELAY_UP,
    UP,
    Copy,
    Fleet,
    connect,
    copies,
    cpu_seconds,
    delays,
    drained,
    latency,
    paced,
    paired_ratio_interval,
    retopic,
    summary,
    write_flood,
)
from harness.mosquitto import MosquittoBroker, mosquitto_binary
from harness.ports import free_port
from protocol.constants import EVENT_HEARTBEAT, EVENT_SOS, FLAG_ACK_REQUESTED

HEARTBEAT_DEVICES = 12_000
HEARTBEATS_PER_DEVICE = 3  # the rate limiter lets a burst of 6 through; beyond it a heartbeat writes no frame row
LATENCY_RATE = 1000.0  # uplinks (envelopes) a second
KEEPALIVE_S = 2.0  # how long the bench keeps an idle connection to the service: less than the server's 5 s
LATENCY_SECONDS = 12.0  # 4,000 alarms measured a peer
# Alarms sent before the measured ones: connections, caches and the SSE path warmed up. With 150, Node-RED's first
# turn had a p99 of 4-12 ms in four runs and its later turns 1-2 ms (the service's: 1.2-2.3 against 1.2-1.7);
# with 600, its first turn came to 1.7-2.5 ms in three runs of four (5.9 ms in the fourth).
LATENCY_WARMUP = 600
# The latency runs of Node-RED and the service alternate in this many turns, as their floods do: a slow spell
# of the machine (its p99 moved by a factor of five between two runs of the same peer minutes apart) falls on
# both peers' samples, not on one peer's. Each turn's publishers and stream are new: its first alarms warm them.
# Turns of 250 alarms, not of 500: slow spells of a few seconds (a turn's p99 at 15 ms against 1-3 ms in the
# turns around it, either peer) then split between the peers more evenly. Sixteen of them, 4,000 alarms a peer:
# a p99 is then the 40th slowest alarm, not the 20th, and a slow spell a few alarms long moves it less. With
# eight, the p99 ratio of two runs on one day came out at 0.95 and 1.45.
LATENCY_TURNS = 16
TURN_WARMUP = 40
RESPONDERS = 5  # on duty near the gateways, so every alarm runs the real offer
OPERATOR = "bench-operator-token-000000"
DONE_POLL_S = 0.05  # completion polls; at most this much is added to a flood's measured time
FLOOD_TIMEOUT_S = 90.0
# Floods per peer. A flood lasts about 3 s on two cores shared by broker, publisher and peer, and one flood's
# rate moved by up to a fifth from run to run: each peer's throughput is the median of its floods.
FLOOD_REPEATS = 3


# -- helpers -------------------------------------------------------------------------------------------------


async def _until(cond: Callable[[], bool], timeout: float, what: str, step: float = 0.005) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(step)


@contextlib.contextmanager
def _quiet_gc() -> Iterator[None]:
    """No cyclic collection in the bench process while it timestamps arrivals: a pause here would be charged to
    whichever peer was being measured (timeit does the same)."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


class _Cpu:
    """CPU seconds each process spent during one flood: where the machine's two cores went."""

    def __init__(self, **pids: int) -> None:
        self.pids = pids
        self.start = {name: cpu_seconds(pid) for name, pid in pids.items()}
        self.bench0 = time.process_time()

    def stop(self, publisher: dict[str, float], messages: int) -> dict[str, float]:
        used = {name: cpu_seconds(pid) - self.start[name] for name, pid in self.pids.items()}
        used["bench_reader"] = time.process_time() - self.bench0
        used["publisher"] = publisher["cpu_s"]
        return {f"{k}_us_per_msg": round(v / messages * 1e6, 2) for k, v in used.items()}


class _Sched:
    """A process's scheduler figures (``sched_stats``) summed over the stretches it is used as a context for."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.total: dict[str, int] = {}
        self._start: dict[str, int] = {}

    def __enter__(self) -> None:
        self._start = sched_stats(self.pid)

    def __exit__(self, *exc: object) -> None:
        for k, v in sched_stats(self.pid).items():
            self.total[k] = self.total.get(k, 0) + v - self._start[k]

    def per(self, alarms: int) -> dict[str, float]:
        """Per alarm sent: CPU and time waiting for a core in us (all threads, and the main thread's, an event
        loop's), and times put on a core. Unlike the latency, these hardly move with the machine's steal."""
        return {
            "cpu_us": round(self.total["run_ns"] / alarms / 1000, 1),
            "wait_us": round(self.total["wait_ns"] / alarms / 1000, 1),
            "loop_wait_us": round(self.total["loop_wait_ns"] / alarms / 1000, 1),
            "on_core": round(self.total["slices"] / alarms, 2),
        }


async def _settle(*pids: int, window_s: float = 0.25, busy: float = 0.1, timeout_s: float = 15.0) -> float:
    """Wait until none of ``pids`` uses more than ``busy`` of a core over ``window_s``: what one peer's flood left
    running (a collector's pass, the last group commits) is not measured as the next peer's cost. Returns the
    seconds waited."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        before = [cpu_seconds(p) for p in pids]
        await asyncio.sleep(window_s)
        if all(cpu_seconds(p) - b < busy * window_s for p, b in zip(pids, before, strict=True)):
            break
    return round(time.monotonic() - t0, 2)


async def _start_flood(flood_file: Path, port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "bench.uplinks", str(flood_file), str(port)],
        stdout=subprocess.PIPE,
        cwd=Path(__file__).resolve().parent.parent,
    )


async def _flood_result(proc: subprocess.Popen[bytes]) -> dict[str, float]:
    out, _ = await asyncio.to_thread(proc.communicate, timeout=FLOOD_TIMEOUT_S)
    if proc.returncode != 0:
        raise RuntimeError(f"flood publisher failed with {proc.returncode}")
    doc: dict[str, float] = json.loads(out)
    return doc


async def _gateways(port: int) -> dict[str, Any]:
    return {gw: await connect(port, f"bench-{gw}-{os.getpid()}") for gw in GATEWAYS}


async def _close(clients: dict[str, Any]) -> None:
    for c in clients.values():
        await drained(c)
        await c.disconnect()


class _Arrivals:
    """Messages a stateless peer delivered: counted by its reader, zeroed before each flood."""

    n = 0


async def _floods(port: int, flood_file: Path, flood_n: int, arrivals: _Arrivals, **pids: int) -> dict[str, Any]:
    """``FLOOD_REPEATS`` floods of the same file through a peer that keeps no state; the median one."""
    return _median_run(
        [await _stateless_flood(port, flood_file, flood_n, arrivals, **pids) for _ in range(FLOOD_REPEATS)]
    )


async def _stateless_flood(
    port: int, flood_file: Path, flood_n: int, arrivals: _Arrivals, **pids: int
) -> dict[str, Any]:
    """One flood through a peer that keeps no state, counted by ``arrivals``."""
    arrivals.n = 0
    cpu = _Cpu(**pids)
    msg_s, pub, used = await _flood_run(port, flood_file, flood_n, lambda: arrivals.n, cpu)
    return {"throughput_msg_s": msg_s, "received": arrivals.n, "cpu": used, "publisher": pub}


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The flood with the median rate, with every flood's rate beside it."""
    ordered = sorted(runs, key=lambda r: float(r["throughput_msg_s"]))
    return {**ordered[len(ordered) // 2], "throughput_runs_msg_s": [round(r["throughput_msg_s"]) for r in runs]}


# -- peer 0: the bare broker hop -----------------------------------------------------------------------------


async def _paced_run(
    port: int, alarms: list[list[Copy]], arrived: Callable[[Copy], bool]
) -> tuple[dict[bytes, float], float]:
    """The latency run's publishing, shared by every peer: three gateway connections, ``LATENCY_RATE``."""
    pubs = await _gateways(port)
    sent: dict[bytes, float] = {}
    with _quiet_gc():
        rate = await paced(pubs, alarms, LATENCY_RATE, sent)
        # What never arrives is reported (not_on_stream, lost), not waited for forever.
        with contextlib.suppress(TimeoutError):
            await _until(lambda: all(arrived(c) for g in alarms for c in g), 15, "latency run incomplete", step=0.01)
    await _close(pubs)
    return sent, rate


async def _flood_run(
    port: int, flood_file: Path, flood_n: int, count: Callable[[], int], cpu: _Cpu
) -> tuple[float, dict[str, float], dict[str, float]]:
    """Flood the peer; returns uplinks a second from the first publish to the last arrival, the publisher's
    report and the CPU each process spent."""
    proc = await _start_flood(flood_file, port)
    await _until(lambda: count() >= flood_n, FLOOD_TIMEOUT_S, "flood incomplete", step=DONE_POLL_S)
    t_done = time.monotonic()
    pub = await _flood_result(proc)
    return flood_n / (t_done - pub["t_first"]), pub, cpu.stop(pub, flood_n)


async def bare_hop(
    port: int, broker_pid: int, flood_file: Path, flood_n: int, alarms: list[list[Copy]]
) -> dict[str, Any]:
    """A gmqtt subscriber at QoS 1 with nothing behind it: what the broker and the publishers cost alone."""
    got: dict[bytes, float] = {}
    arrivals = _Arrivals()
    timing = True

    def on_message(client: Any, topic: str, payload: bytes, qos: int, properties: Any) -> int:
        arrivals.n += 1
        if timing:
            got[payload] = time.perf_counter()
        return 0

    sub = await connect(port, f"bench-bare-sub-{os.getpid()}", on_message)
    sub.subscribe(UP + "+", qos=1)
    await _probe(port, lambda: arrivals.n > 0)
    sent, rate = await _paced_run(port, alarms, lambda c: c.payload in got)
    lat = latency(sent, got, [g[0] for g in alarms[LATENCY_WARMUP:]])

    timing = False
    floods = await _floods(port, flood_file, flood_n, arrivals, broker=broker_pid)
    await sub.disconnect()
    return {"latency": lat, "latency_rate_achieved": round(rate, 1), **floods}


async def _probe(port: int, arrived: Callable[[], bool], prefix: str = UP) -> None:
    """Publish a probe every 50 ms until the peer shows it received one: its subscription is live."""
    probe = await connect(port, f"bench-probe-{os.getpid()}")
    deadline = time.monotonic() + 30
    while not arrived():
        if time.monotonic() > deadline:
            raise TimeoutError("the peer never received a probe")
        probe.publish(prefix + "probe", b"probe", qos=1)
        await asyncio.sleep(0.05)
    await probe.disconnect()


# -- peer 1: Node-RED ----------------------------------------------------------------------------------------


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
        self.arrivals = _Arrivals()
        self.got: dict[bytes, float] = {}
        self.timing = False
        self._stack = contextlib.AsyncExitStack()

    async def __aenter__(self) -> "NodeRedPeer":
        red = self._stack.enter_context(self.relay)
        session = await self._stack.enter_async_context(aiohttp.ClientSession())
        self._ws = await _ws_connect(session, red.url)
        self._stack.push_async_callback(self._ws.close)
        reader = asyncio.create_task(self._read())
        self._stack.push_async_callback(_cancelled, reader)
        await _probe(self.port, lambda: self.arrivals.n > 0, RELAY_UP)
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
        sent, rate = await _paced_run(self.port, alarms, lambda c: c.payload in self.got)
        self.timing = False
        return {
            "delays": delays(sent, self.got, [g[0] for g in alarms[warmup:]]),
            "delays_every_copy": delays(sent, self.got, [c for g in alarms[warmup:] for c in g]),
            "latency_rate_achieved": rate,
        }

    async def flood(self, flood_file: Path, flood_n: int) -> dict[str, Any]:
        return await _stateless_flood(
            self.port, flood_file, flood_n, self.arrivals, broker=self.broker_pid, node_red=self.relay.pid
        )


async def _cancelled(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


# -- the service ---------------------------------------------------------------------------------------------


class Service:
    """`nightwatch dispatch` as a subprocess: the real MqttLink, the real API, a SQLite file."""

    def __init__(self, workdir: Path, broker_port: int, env: dict[str, str] | None = None) -> None:
        self.env = env or {}  # on top of this process's environment (bench/ab.py runs variants this way)
        self.db_path = workdir / "dispatch.db"
        self.db = f"sqlite+aiosqlite:///{self.db_path}"
        self.http_port = free_port()
        self.base = f"http://127.0.0.1:{self.http_port}"
        self.responders = {f"bench-responder-{i}-token-0000": f"r{i}" for i in range(RESPONDERS)}
        tokens = [f"{OPERATOR}=operator"] + [f"{t}=responder:{r}" for t, r in self.responders.items()]
        self.args = [
            str(Path(sys.executable).with_name("nightwatch")),
            "dispatch",
            "--mqtt",
            f"mqtt://127.0.0.1:{broker_port}",
            "--db",
            self.db,
            "--http",
            f"127.0.0.1:{self.http_port}",
            *[a for t in tokens for a in ("--token", t)],
        ]
        self.log_path = workdir / "dispatch.log"
        self.proc: subprocess.Popen[bytes] | None = None
        # Keys sealed at rest as in production: start-up opens every one of them (AES-256-GCM).
        self.sealing_key = os.urandom(32)

    async def provision(self, fleets: list[Fleet]) -> None:
        """Key rings straight into the devices table in one transaction, sealed as Store.add_device seals them
        (the API's POST /devices inserts them one by one; 15k of those would dominate the set-up time)."""
        if "PYTHONPATH" in self.env:
            # Another checkout (bench.ab --a-path) migrates its own database: it may not know this one's newest
            # migrations, and would refuse to start on a database that has them.
            migrate = "import sys; from basestation.dispatch.migrate import upgrade; upgrade(sys.argv[1])"
            env = dict(os.environ, **self.env)
            # Run from that checkout: ``-c`` puts the working directory ahead of PYTHONPATH.
            await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "-c", migrate, f"sqlite+aiosqlite:///{self.db_path.resolve()}"],
                env=env,
                cwd=self.env["PYTHONPATH"],
                check=True,
            )
        else:
            await asyncio.to_thread(upgrade, self.db)
        store = Store(self.db)
        sealer = KeySealer(self.sealing_key)
        now_ms = time.time_ns() // 1_000_000
        rows = [
            {
                "device_id": d,
                "root_key": sealer.seal(d, k),
                "label": None,
                "highest": 0,
                "bitmap": 0,
                "created_ms": now_ms,
            }
            for fleet in fleets
            for d, k in fleet.roots.items()
        ]
        async with store.engine.begin() as conn:
            await conn.execute(devices_table.insert(), rows)
        await store.close()

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            env = dict(os.environ, NIGHTWATCH_DISPATCH_KEY_SEALING_KEY=self.sealing_key.hex(), **self.env)
            self.proc = subprocess.Popen(self.args, stdout=log, stderr=subprocess.STDOUT, env=env)

    async def ready(self, http: httpx.AsyncClient) -> None:
        deadline = time.monotonic() + 60
        while True:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"dispatch exited: {self.log_path.read_text()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get("/healthz")).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise TimeoutError("dispatch did not come up")
            await asyncio.sleep(0.05)

    async def staff(self, http: httpx.AsyncClient) -> None:
        op = {"Authorization": f"Bearer {OPERATOR}"}
        lat, lon = POSITIONS["gw-a"]
        for i, (token, rid) in enumerate(self.responders.items()):
            r = await http.put(f"/api/v1/responders/{rid}", json={"name": f"Responder {i}"}, headers=op)
            r.raise_for_status()
            duty = {"on_duty": True, "lat": lat + 0.001 * i, "lon": lon}
            r = await http.put("/api/v1/me/duty", json=duty, headers={"Authorization": f"Bearer {token}"})
            r.raise_for_status()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def query(self, sql: str, args: tuple[Any, ...] = ()) -> tuple[Any, ...]:
        with contextlib.closing(sqlite3.connect(self.db_path)) as conn:
            row: tuple[Any, ...] = conn.execute(sql, args).fetchone()
            return row


def _processed(health: dict[str, Any]) -> int:
    return sum(int(v) for v in health["outcomes"].values())


async def _retain_gateway_status(port: int) -> None:
    """Each gateway's retained online status with its position, as a real gateway publishes on connect: the
    service then locates every alarm from its copies."""
    c = await connect(port, f"bench-status-{os.getpid()}")
    for gw in GATEWAYS:
        lat, lon = POSITIONS[gw]
        doc = {"gateway_id": gw, "state": "online", "position": {"lat": lat, "lon": lon}, "radios": ["lora"]}
        c.publish(f"nightwatch/v1/gw/{gw}/status", json.dumps(doc).encode(), qos=1, retain=True)
    await drained(c)
    await c.disconnect()


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
        await _retain_gateway_status(self.port)
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
        await _probe_service(self.port, self.http, _processed(health))
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


async def in_turns(
    workdir: Path,
    port: int,
    broker_pid: int,
    floods: list[Flood],
    alarms: list[list[Copy]],
    alarms_after: list[list[Copy]],
    fleets: list[Fleet],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Node-RED and the service side by side, taking turns: their floods alternate, so a slow spell of this shared
    machine (its speed moved by half within minutes) falls on both peers' figures, not on one.

    Latency first, in turns too, on the freshly started service as it runs day to day; then the floods, each of
    the service's with key rings of its own (a frame sent twice is a replay); then the service's latency run again
    with other key rings, to show what a flood just absorbed leaves behind."""
    relay_flood = workdir / "relay-flood.txt"
    relay_n = write_flood(retopic(floods[0][2], RELAY_UP), relay_flood)
    async with (
        NodeRedPeer(workdir / "node-red", port, broker_pid) as red,
        ServicePeer(workdir, port, broker_pid, fleets) as svc,
    ):
        # Before each measurement every process goes quiet (``_settle``): one peer's aftermath is not the other's.
        pids = (broker_pid, red.relay.pid, svc.svc.pid)
        settled: list[float] = []
        red_turns, svc_turns = [], []
        red_sched, svc_sched = _Sched(red.relay.pid), _Sched(svc.svc.pid)
        for warmup, block in _blocks(alarms, LATENCY_TURNS):
            settled.append(await _settle(*pids))
            with red_sched:
                red_turns.append(await red.latency(block, warmup))
            settled.append(await _settle(*pids))
            with svc_sched:
                svc_turns.append(await svc.latency(block, warmup))
        red_runs, svc_runs = [], []
        for flood in floods:
            settled.append(await _settle(*pids))
            red_runs.append(await red.flood(relay_flood, relay_n))
            settled.append(await _settle(*pids))
            svc_runs.append(await svc.flood(flood))
        settled.append(await _settle(*pids))
        after = _service_summary([await svc.latency(alarms_after, LATENCY_WARMUP)])
        final = await svc.health()
    turns = [round(s["throughput_msg_s"] / r["throughput_msg_s"], 3) for s, r in zip(svc_runs, red_runs, strict=True)]
    throughput = {
        **_median_run(svc_runs),
        "lost_all_floods": sum(r["lost"] for r in svc_runs),
        "turns_x_nodered": turns,
    }
    red_latency = {
        "version": nodered_relay.version(),
        "latency_sched_per_alarm": red_sched.per(len(alarms)),
        "latency": summary([d for t in red_turns for d in t["delays"]]),
        "latency_every_copy": summary([d for t in red_turns for d in t["delays_every_copy"]]),
        "latency_turns_p99_ms": [summary(t["delays"])["p99_ms"] for t in red_turns],
        "latency_rate_achieved": round(sum(t["latency_rate_achieved"] for t in red_turns) / len(red_turns), 1),
    }
    low, high = paired_ratio_interval([t["delays"] for t in svc_turns], [t["delays"] for t in red_turns])
    service = {
        "throughput": throughput,
        "latency": _service_summary(svc_turns),
        "latency_p99_x_nodered_interval": [round(low, 3), round(high, 3)],
        "latency_sched_per_alarm": svc_sched.per(len(alarms)),
        "latency_after_flood": after,
        "health": final,
        "settle_waits_s": settled,
    }
    return {**red_latency, **_median_run(red_runs)}, service


def _blocks(alarms: list[list[Copy]], turns: int) -> list[tuple[int, list[list[Copy]]]]:
    """``alarms`` in ``turns`` consecutive parts, each as (its warm-up, its alarms): the first part warms up a
    fresh start (``LATENCY_WARMUP``), the others a turn's new connections (``TURN_WARMUP``)."""
    size = (len(alarms) - LATENCY_WARMUP - (turns - 1) * TURN_WARMUP) // turns
    out, at = [], 0
    for i in range(turns):
        warm = LATENCY_WARMUP if i == 0 else TURN_WARMUP
        end = len(alarms) if i == turns - 1 else at + warm + size
        out.append((warm, alarms[at:end]))
        at = end
    return out


def _service_summary(turns: list[dict[str, Any]]) -> dict[str, Any]:
    """The service's latency turns as one run: every turn's delays in one distribution, the counts summed."""
    out: dict[str, Any] = {"latency": summary([d for t in turns for d in t["delays"]])}
    if len(turns) > 1:
        out["latency_turns_p99_ms"] = [summary(t["delays"])["p99_ms"] for t in turns]
    out["latency_rate_achieved"] = round(sum(t["latency_rate_achieved"] for t in turns) / len(turns), 1)
    counted = ("alarms", "sse_events", "sse_reconnects", "not_on_stream", "incidents", "incident_devices")
    for key in (*counted, "lost", "doubled"):
        out[key] = sum(t[key] for t in turns)
    return out


async def _probe_service(port: int, http: httpx.AsyncClient, before: int) -> None:
    """The subscription is live once a probe (a malformed envelope: counted, nothing stored) has an outcome."""
    latest = before

    async def poll() -> None:
        nonlocal latest
        while True:
            latest = _processed((await http.get("/healthz")).json())
            await asyncio.sleep(0.05)

    task = asyncio.create_task(poll())
    try:
        await _probe(port, lambda: latest > before)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


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
    base, w0 = _processed(h0), h0["writer"]
    distinct = len(heartbeats)
    devs = [int(g[0].key.split("-")[0]) for g in heartbeats]
    sql = "SELECT COUNT(*) FROM frames WHERE device_id BETWEEN ? AND ? AND event = 'heartbeat'"
    cpu = _Cpu(broker=broker_pid, service=svc.pid)
    proc = await _start_flood(flood_file, port)
    series: list[tuple[float, int]] = []
    deadline = time.monotonic() + FLOOD_TIMEOUT_S
    rows = 0
    while True:
        h = (await http.get("/healthz")).json()
        t = time.monotonic()
        done = _processed(h) - base
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
    pub = await _flood_result(proc)
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

    sent, rate = await _paced_run(port, alarms, lambda c: c.key in arrived)
    for reader in readers:
        await _cancelled(reader)
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


# -- the run -------------------------------------------------------------------------------------------------


def run(results_dir: Path) -> tuple[dict[str, float], dict[str, object]]:
    return asyncio.run(_run(results_dir))


async def _run(results_dir: Path) -> tuple[dict[str, float], dict[str, object]]:
    binary = mosquitto_binary()
    if binary is None:
        raise RuntimeError("the dispatch benchmark needs Mosquitto (MQTT 5, acknowledgement after commit)")
    await asyncio.to_thread(nodered_relay.install)
    measured = int(LATENCY_RATE * LATENCY_SECONDS / len(GATEWAYS))
    n_alarms = measured + LATENCY_WARMUP + (LATENCY_TURNS - 1) * TURN_WARMUP
    hb_fleets = [
        Fleet.make(1 + r * HEARTBEAT_DEVICES, HEARTBEAT_DEVICES, seed=11 + 100 * r) for r in range(FLOOD_REPEATS)
    ]
    first_sos = FLOOD_REPEATS * HEARTBEAT_DEVICES + 1
    sos_fleet = Fleet.make(first_sos, n_alarms, seed=12)
    sos_after = Fleet.make(first_sos + n_alarms, n_alarms, seed=13)
    t = time.perf_counter()
    heartbeats = [copies(f, range(1, HEARTBEATS_PER_DEVICE + 1), EVENT_HEARTBEAT, aux=60) for f in hb_fleets]
    alarms = copies(sos_fleet, range(1, 2), EVENT_SOS, flags=FLAG_ACK_REQUESTED)
    alarms_after = copies(sos_after, range(1, 2), EVENT_SOS, flags=FLAG_ACK_REQUESTED)
    build_s = time.perf_counter() - t
    # The workload lives through the whole run: keep the bench process's collector from walking it again and again.
    gc.collect()
    gc.freeze()
    try:
        fleets = [*hb_fleets, sos_fleet, sos_after]
        return await _measure(heartbeats, alarms, alarms_after, fleets, binary, build_s)
    finally:
        gc.unfreeze()


async def _measure(
    heartbeats: list[list[list[Copy]]],
    alarms: list[list[Copy]],
    alarms_after: list[list[Copy]],
    fleets: list[Fleet],
    binary: str,
    build_s: float,
) -> tuple[dict[str, float], dict[str, object]]:
    with tempfile.TemporaryDirectory(prefix="nightwatch-dispatch-bench-") as tmp:
        work = Path(tmp)
        floods: list[Flood] = []
        for r, frames in enumerate(heartbeats):
            path = work / f"flood-{r}.txt"
            floods.append((path, write_flood(frames, path), frames))
        # The peers without state take the first flood each time (Node-RED on its own topics); the service
        # needs fresh frames for each.
        flood_file, flood_n, _ = floods[0]
        # The shipped broker settings (deploy/mosquitto/nightwatch.conf): queues that never drop, TCP_NODELAY,
        # persistence saved every 30 s.
        broker = MosquittoBroker(work / "broker", binary, extra_conf="autosave_interval 30\n")
        with broker:
            assert broker.proc is not None
            pid = broker.proc.pid
            ticks = cpu_ticks()
            bare = await bare_hop(broker.port, pid, flood_file, flood_n, alarms)
            red, svc = await in_turns(work, broker.port, pid, floods, alarms, alarms_after, fleets)
            steal = steal_pct(ticks, cpu_ticks())
    return _figures(bare, red, svc, build_s, steal)


def _figures(
    bare: dict[str, Any], red: dict[str, Any], svc: dict[str, Any], build_s: float, steal: float
) -> tuple[dict[str, float], dict[str, object]]:
    thr, lat = svc["throughput"], svc["latency"]
    s_lat, r_lat, b_lat = lat["latency"], red["latency"], bare["latency"]
    figures = {
        "uplinks_per_s": round(thr["throughput_msg_s"]),
        "frames_per_s": round(thr["throughput_msg_s"] / len(GATEWAYS)),
        "nodered_relay_msg_per_s": round(red["throughput_msg_s"]),
        "throughput_x_nodered": round(thr["throughput_msg_s"] / red["throughput_msg_s"], 3),
        # Each of the service's floods against the Node-RED flood just before it: the least of them.
        "throughput_x_nodered_lowest_turn": min(thr["turns_x_nodered"]),
        "bare_hop_msg_per_s": round(bare["throughput_msg_s"]),
        "throughput_x_bare_hop": round(thr["throughput_msg_s"] / bare["throughput_msg_s"], 3),
        "lost_frames": float(thr["lost_all_floods"] + lat["lost"] + svc["latency_after_flood"]["lost"]),
        "doubled_incidents": float(lat["doubled"] + svc["latency_after_flood"]["doubled"]),
        "stream_p50_ms": s_lat["p50_ms"],
        "stream_p99_ms": s_lat["p99_ms"],
        "stream_max_ms": s_lat["max_ms"],
        "nodered_p50_ms": r_lat["p50_ms"],
        "nodered_p99_ms": r_lat["p99_ms"],
        "nodered_max_ms": r_lat["max_ms"],
        "stream_p99_x_nodered": round(s_lat["p99_ms"] / r_lat["p99_ms"], 3),
        # What the turns alone make of that ratio: its 95 % interval over resamplings of the paired turns
        # (bench/uplinks.py, paired_ratio_interval). An interval that holds 1.0 says this run cannot tell the two
        # peers' p99 apart on this machine.
        "stream_p99_x_nodered_low": svc["latency_p99_x_nodered_interval"][0],
        "stream_p99_x_nodered_high": svc["latency_p99_x_nodered_interval"][1],
        "stream_p99_after_flood_ms": svc["latency_after_flood"]["latency"]["p99_ms"],
        "stream_max_after_flood_ms": svc["latency_after_flood"]["latency"]["max_ms"],
        "bare_hop_p50_ms": b_lat["p50_ms"],
        "bare_hop_p99_ms": b_lat["p99_ms"],
        "stream_p50_x_bare_hop": round(s_lat["p50_ms"] / b_lat["p50_ms"], 3),
        "stream_p99_x_bare_hop": round(s_lat["p99_ms"] / b_lat["p99_ms"], 3),
        "nodered_p99_x_bare_hop": round(r_lat["p99_ms"] / b_lat["p99_ms"], 3),
        # Where the two cores went, per uplink: the service against Node-RED, and the broker serving each.
        "service_cpu_us_per_uplink": thr["cpu"]["service_us_per_msg"],
        "nodered_cpu_us_per_uplink": red["cpu"]["node_red_us_per_msg"],
        "broker_cpu_us_per_uplink_to_service": thr["cpu"]["broker_us_per_msg"],
        "broker_cpu_us_per_uplink_to_nodered": red["cpu"]["broker_us_per_msg"],
        # The latency run's alarms, each with its three copies, at a thousand uplinks a second: the CPU each peer
        # spent on one, and how often its threads were put on a core (on this machine a wake-up alone cost ~0.17
        # ms of CPU).
        "stream_cpu_us_per_alarm": svc["latency_sched_per_alarm"]["cpu_us"],
        "nodered_cpu_us_per_alarm": red["latency_sched_per_alarm"]["cpu_us"],
        "stream_on_core_per_alarm": svc["latency_sched_per_alarm"]["on_core"],
        "nodered_on_core_per_alarm": red["latency_sched_per_alarm"]["on_core"],
        "records_per_commit": round(thr["records_per_commit"], 1),
        "frames_per_commit": round(thr["frames_per_commit"], 1),
        "latency_rate_uplinks_per_s": LATENCY_RATE,
        # This is a virtual machine: the share of its CPU time its host gave to others while the bench ran. The
        # latency tails of both peers grew with it (p99 4.7 and 2.7 ms at 1.4 %, 8.0 and 7.5 ms at 4.1 %).
        "machine_steal_pct": steal,
    }
    raw: dict[str, object] = {
        "dispatch": svc,
        "nodered": red,
        "bare_hop": bare,
        "heartbeat_devices": HEARTBEAT_DEVICES,
        "heartbeats_per_device": HEARTBEATS_PER_DEVICE,
        "flood_repeats": FLOOD_REPEATS,
        "latency_alarms_measured": int(s_lat.get("n", 0)),
        "gateways": list(GATEWAYS),
        "workload_build_s": round(build_s, 2),
        "cpu": os.cpu_count(),
        # Two cores shared with whatever else runs: a load average above ~2 means the figures were contended.
        "loadavg_at_end": [round(x, 2) for x in os.getloadavg()],
    }
    return {k: float(v) for k, v in figures.items()}, raw
