"""Flood benchmark: other people's SOS latency while one key ring (or a stolen key) sends 1,000 valid SOS frames a
second, against the same latency with no flood, and against the bare broker hop under the same two conditions,
all in one run on one Mosquitto.

- The flood: a child process (``python -m bench.flood_bench FILE PORT RATE``) publishes one ring's SOS frames,
  counters 1, 2, 3, ..., at ``FLOOD_RATE`` frames a second, each heard by the three gateways (three uplinks), paced
  open loop as a radio would send them. The service folds them into the ring's one incident (decisions.py).
- The alarms: other rings' SOS, three gateway copies each, at ``SOS_RATE`` uplinks a second, published from this
  process; latency is from the first copy's publish to the incident on an operator's SSE stream (the service), or to
  the envelope at a plain gmqtt subscriber (the bare hop). One ``perf_counter`` times both ends.
- The service is the real ``nightwatch dispatch`` process (dispatch_service.Service): SQLite, sealed keys, responders
  on duty so every alarm is offered.

Figures are ratios to the baselines measured in the same run: flood against no flood, service against bare hop.
"""

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from bench.dispatch_service import OPERATOR, Service, probe_service, processed, retain_gateway_status
from bench.uplinks import GATEWAYS, UP, Copy, Fleet, connect, copies, drained, latency, paced, write_flood
from harness.mosquitto import MosquittoBroker, mosquitto_binary
from protocol.constants import EVENT_SOS, FLAG_ACK_REQUESTED

FLOOD_RATE = 1000  # frames a second from the one ring; each is three uplinks
SOS_RATE = 60.0  # uplinks a second of other people's alarms: 20 alarms a second
MEASURE_S = 8.0
WARMUP = 20  # alarms before the measured ones
FLOOD_LEAD_S = 1.0  # the flood runs this long before the first measured alarm, and after the last
FLOODER = 1


class Flood:
    """The flooding ring, as a child process so that it never takes the event loop that timestamps arrivals."""

    def __init__(self, workdir: Path, port: int) -> None:
        self.file = workdir / "flood.txt"
        seconds = MEASURE_S + (WARMUP * len(GATEWAYS)) / SOS_RATE + 2 * FLOOD_LEAD_S
        frames = copies(
            Fleet.make(FLOODER, 1, seed=21), range(1, int(seconds * FLOOD_RATE) + 1), EVENT_SOS, FLAG_ACK_REQUESTED
        )
        self.frames = len(frames)
        self.uplinks = write_flood(frames, self.file)
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.flood_bench", str(self.file), str(self.port), str(FLOOD_RATE)],
            stdout=subprocess.PIPE,
            cwd=Path(__file__).resolve().parent.parent,
        )

    async def result(self) -> dict[str, float]:
        assert self.proc is not None
        out, _ = await asyncio.to_thread(self.proc.communicate, timeout=120)
        if self.proc.returncode != 0:
            raise RuntimeError(f"flood publisher failed with {self.proc.returncode}")
        doc: dict[str, float] = json.loads(out)
        return doc


async def _alarms(port: int, alarms: list[list[Copy]], arrived: Callable[[Copy], bool]) -> dict[bytes, float]:
    pubs = {gw: await connect(port, f"flood-bench-{gw}-{os.getpid()}") for gw in GATEWAYS}
    sent: dict[bytes, float] = {}
    await paced(pubs, alarms, SOS_RATE, sent)
    deadline = time.monotonic() + 30
    while not all(arrived(g[0]) for g in alarms) and time.monotonic() < deadline:
        await asyncio.sleep(0.01)  # what never arrives is counted as lost, not waited for for ever
    for c in pubs.values():
        await drained(c)
        await c.disconnect()
    return sent


async def _with_flood(flood: Flood | None, run: Callable[[], Any]) -> tuple[Any, dict[str, float] | None]:
    if flood is None:
        return await run(), None
    flood.start()
    await asyncio.sleep(FLOOD_LEAD_S)
    out = await run()
    return out, await flood.result()


async def bare_hop(port: int, alarms: list[list[Copy]], flood: Flood | None) -> dict[str, Any]:
    got: dict[bytes, float] = {}

    def on_message(client: Any, topic: str, payload: bytes, qos: int, properties: Any) -> int:
        got.setdefault(payload, time.perf_counter())
        return 0

    sub = await connect(port, f"flood-bench-bare-{os.getpid()}", on_message)
    sub.subscribe(UP + "+", qos=1)
    await asyncio.sleep(0.5)
    sent, pub = await _with_flood(flood, lambda: _alarms(port, alarms, lambda c: c.payload in got))
    await sub.disconnect()
    return {"latency": latency(sent, got, [g[0] for g in alarms[WARMUP:]]), "flood": pub}


async def service_run(svc: Service, port: int, alarms: list[list[Copy]], flood: Flood | None) -> dict[str, Any]:
    arrived: dict[str, float] = {}

    async def read() -> None:
        hdr = {"Authorization": f"Bearer {OPERATOR}", "Accept": "text/event-stream"}
        async with (
            httpx.AsyncClient(base_url=svc.base, timeout=None) as sse,
            sse.stream("GET", "/api/v1/stream", headers=hdr) as resp,
        ):
            event = ""
            async for line in resp.aiter_lines():
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:") and event == "incident":
                    arrived.setdefault(json.loads(line[5:])["id"], time.perf_counter())

    reader = asyncio.create_task(read())
    await asyncio.sleep(0.5)
    sent, pub = await _with_flood(flood, lambda: _alarms(port, alarms, lambda c: c.key in arrived))
    reader.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await reader
    by_payload = {g[0].payload: arrived[g[0].key] for g in alarms if g[0].key in arrived}
    devs = [int(g[0].key.split("-")[0]) for g in alarms]
    await asyncio.sleep(1.0)  # pushes precede the commit: let the last group commit land before counting
    _, n_dev = svc.query(
        "SELECT COUNT(*), COUNT(DISTINCT device_id) FROM incidents WHERE device_id BETWEEN ? AND ?",
        (min(devs), max(devs)),
    )
    return {
        "latency": latency(sent, by_payload, [g[0] for g in alarms[WARMUP:]]),
        "flood": pub,
        "alarms": len(alarms),
        "lost": len(alarms) - n_dev,
    }


def run(results_dir: Path) -> tuple[dict[str, float], dict[str, object]]:
    return asyncio.run(_run())


async def _run() -> tuple[dict[str, float], dict[str, object]]:
    binary = mosquitto_binary()
    if binary is None:
        raise RuntimeError("the flood benchmark needs Mosquitto")
    n = int(MEASURE_S * SOS_RATE / len(GATEWAYS)) + WARMUP
    fleets = [Fleet.make(FLOODER, 1, seed=21)] + [Fleet.make(1000 + i * n, n, seed=30 + i) for i in range(4)]
    sets = [copies(f, range(1, 2), EVENT_SOS, flags=FLAG_ACK_REQUESTED) for f in fleets[1:]]
    with tempfile.TemporaryDirectory(prefix="nightwatch-flood-bench-") as tmp:
        work = Path(tmp)
        with MosquittoBroker(work / "broker", binary, extra_conf="autosave_interval 30\n") as broker:
            flood = Flood(work, broker.port)
            bare_quiet = await bare_hop(broker.port, sets[0], None)
            bare_flood = await bare_hop(broker.port, sets[1], flood)
            svc = Service(work, broker.port)
            await svc.provision(fleets)
            await retain_gateway_status(broker.port)
            svc.start()
            try:
                async with httpx.AsyncClient(base_url=svc.base, timeout=10) as http:
                    await svc.ready(http)
                    await svc.staff(http)
                    await probe_service(broker.port, http, processed((await http.get("/healthz")).json()))
                    quiet = await service_run(svc, broker.port, sets[2], None)
                    flooded = await service_run(svc, broker.port, sets[3], flood)
                    health = (await http.get("/healthz")).json()
                flooder = svc.query("SELECT COUNT(*) FROM incidents WHERE device_id = ?", (FLOODER,))[0]
                flood_frames = svc.query("SELECT COUNT(*) FROM frames WHERE device_id = ?", (FLOODER,))[0]
            finally:
                svc.stop()
    return _figures(bare_quiet, bare_flood, quiet, flooded, health, flooder, flood_frames, flood)


def _figures(
    bare_quiet: dict[str, Any],
    bare_flood: dict[str, Any],
    quiet: dict[str, Any],
    flooded: dict[str, Any],
    health: dict[str, Any],
    flooder_incidents: int,
    flood_frames: int,
    flood: Flood,
) -> tuple[dict[str, float], dict[str, object]]:
    q, f = quiet["latency"], flooded["latency"]
    bq, bf = bare_quiet["latency"], bare_flood["latency"]
    pub = flooded["flood"]
    figures = {
        "flood_frames_per_s": round(pub["frames"] / (pub["t_last"] - pub["t_first"])),
        "flood_uplinks_per_s": round(pub["messages"] / (pub["t_last"] - pub["t_first"])),
        "sos_p50_ms": q["p50_ms"],
        "sos_p99_ms": q["p99_ms"],
        "sos_p50_flood_ms": f["p50_ms"],
        "sos_p99_flood_ms": f["p99_ms"],
        "sos_max_flood_ms": f["max_ms"],
        "sos_p50_flood_x_quiet": round(f["p50_ms"] / q["p50_ms"], 3),
        "sos_p99_flood_x_quiet": round(f["p99_ms"] / q["p99_ms"], 3),
        "bare_hop_p50_ms": bq["p50_ms"],
        "bare_hop_p99_ms": bq["p99_ms"],
        "bare_hop_p50_flood_ms": bf["p50_ms"],
        "bare_hop_p99_flood_ms": bf["p99_ms"],
        "sos_p99_flood_x_bare_hop_flood": round(f["p99_ms"] / bf["p99_ms"], 3),
        # What the service adds to the broker hop under the flood: its share of the alarm budget.
        "dispatch_share_p50_flood_ms": round(f["p50_ms"] - bf["p50_ms"], 3),
        "dispatch_share_p99_flood_ms": round(f["p99_ms"] - bf["p99_ms"], 3),
        "lost_alarms": float(quiet["lost"] + flooded["lost"]),
        "flooder_incidents": float(flooder_incidents),
        "sos_rate_uplinks_per_s": SOS_RATE,
    }
    raw: dict[str, object] = {
        "bare_hop_quiet": bare_quiet,
        "bare_hop_flood": bare_flood,
        "service_quiet": quiet,
        "service_flood": flooded,
        "flood_frames_planned": flood.frames,
        "flood_frames_stored": flood_frames,  # every flood frame kept, though folded (both flood runs)
        "health": health,
        "cpu": os.cpu_count(),
        "loadavg_at_end": [round(x, 2) for x in os.getloadavg()],
    }
    return {k: float(v) for k, v in figures.items()}, raw


# -- the flood publisher (child process) -----------------------------------------------------------------------


async def _publish_flood(path: Path, port: int, rate: float) -> dict[str, float]:
    groups: list[list[tuple[str, bytes]]] = []
    lines = [line.split(b"\t", 1) for line in path.read_bytes().splitlines()]
    for i in range(0, len(lines), len(GATEWAYS)):
        groups.append([(t.decode(), p) for t, p in lines[i : i + len(GATEWAYS)]])
    clients = {gw: await connect(port, f"flood-{gw}-{os.getpid()}") for gw in GATEWAYS}
    t0 = time.monotonic()
    for i, group in enumerate(groups):
        delay = t0 + i / rate - time.monotonic()
        if delay > 0.001:
            await asyncio.sleep(delay)  # open loop: a late frame does not delay the next
        for topic, payload in group:
            clients[topic[len(UP) :]].publish(topic, payload, qos=1)
    t_last = time.monotonic()
    for c in clients.values():
        await drained(c)
        await c.disconnect()
    return {"frames": len(groups), "messages": len(lines), "t_first": t0, "t_last": t_last}


if __name__ == "__main__":
    doc = asyncio.run(_publish_flood(Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])))
    print(json.dumps(doc), flush=True)
