"""How every peer of the dispatch benchmark (bench/dispatch_bench.py) is measured alike: the paced latency run's
publishing, the flood publisher in a child process and its completion, the CPU and scheduler figures of each
process, and the quiet every process is let settle into before a measurement."""

import asyncio
import contextlib
import gc
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench.common import sched_stats
from bench.uplinks import GATEWAYS, UP, Copy, connect, cpu_seconds, drained, paced

LATENCY_RATE = 1000.0  # uplinks (envelopes) a second
# Alarms sent before the measured ones: connections, caches and the SSE path warmed up. With 150, Node-RED's first
# turn had a p99 of 4-12 ms in four runs and its later turns 1-2 ms (the service's: 1.2-2.3 against 1.2-1.7);
# with 600, its first turn came to 1.7-2.5 ms in three runs of four (5.9 ms in the fourth).
LATENCY_WARMUP = 600
TURN_WARMUP = 40
DONE_POLL_S = 0.05  # completion polls; at most this much is added to a flood's measured time
FLOOD_TIMEOUT_S = 90.0
# Floods per peer. A flood lasts about 3 s on two cores shared by broker, publisher and peer, and one flood's
# rate moved by up to a fifth from run to run: each peer's throughput is the median of its floods.
FLOOD_REPEATS = 3


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


class Cpu:
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


class Sched:
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


async def settle_processes(*pids: int, window_s: float = 0.25, busy: float = 0.1, timeout_s: float = 15.0) -> float:
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


async def start_flood(flood_file: Path, port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "bench.uplinks", str(flood_file), str(port)],
        stdout=subprocess.PIPE,
        cwd=Path(__file__).resolve().parent.parent,
    )


async def flood_result(proc: subprocess.Popen[bytes]) -> dict[str, float]:
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


class Arrivals:
    """Messages a stateless peer delivered: counted by its reader, zeroed before each flood."""

    n = 0


async def stateless_floods(
    port: int, flood_file: Path, flood_n: int, arrivals: Arrivals, **pids: int
) -> dict[str, Any]:
    """``FLOOD_REPEATS`` floods of the same file through a peer that keeps no state; the median one."""
    return median_run(
        [await stateless_flood(port, flood_file, flood_n, arrivals, **pids) for _ in range(FLOOD_REPEATS)]
    )


async def stateless_flood(port: int, flood_file: Path, flood_n: int, arrivals: Arrivals, **pids: int) -> dict[str, Any]:
    """One flood through a peer that keeps no state, counted by ``arrivals``."""
    arrivals.n = 0
    cpu = Cpu(**pids)
    msg_s, pub, used = await _flood_run(port, flood_file, flood_n, lambda: arrivals.n, cpu)
    return {"throughput_msg_s": msg_s, "received": arrivals.n, "cpu": used, "publisher": pub}


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The flood with the median rate, with every flood's rate beside it."""
    ordered = sorted(runs, key=lambda r: float(r["throughput_msg_s"]))
    return {**ordered[len(ordered) // 2], "throughput_runs_msg_s": [round(r["throughput_msg_s"]) for r in runs]}


async def paced_run(
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
    port: int, flood_file: Path, flood_n: int, count: Callable[[], int], cpu: Cpu
) -> tuple[float, dict[str, float], dict[str, float]]:
    """Flood the peer; returns uplinks a second from the first publish to the last arrival, the publisher's
    report and the CPU each process spent."""
    proc = await start_flood(flood_file, port)
    await _until(lambda: count() >= flood_n, FLOOD_TIMEOUT_S, "flood incomplete", step=DONE_POLL_S)
    t_done = time.monotonic()
    pub = await flood_result(proc)
    return flood_n / (t_done - pub["t_first"]), pub, cpu.stop(pub, flood_n)


async def probe_peer(port: int, arrived: Callable[[], bool], prefix: str = UP) -> None:
    """Publish a probe every 50 ms until the peer shows it received one: its subscription is live."""
    probe = await connect(port, f"bench-probe-{os.getpid()}")
    deadline = time.monotonic() + 30
    while not arrived():
        if time.monotonic() > deadline:
            raise TimeoutError("the peer never received a probe")
        probe.publish(prefix + "probe", b"probe", qos=1)
        await asyncio.sleep(0.05)
    await probe.disconnect()


async def cancel_task(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def turn_blocks(alarms: list[list[Copy]], turns: int) -> list[tuple[int, list[list[Copy]]]]:
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
