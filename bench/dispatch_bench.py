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
import gc
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import nodered_relay
from bench.common import cpu_ticks, steal_pct
from bench.peer_runs import (
    FLOOD_REPEATS,
    LATENCY_RATE,
    LATENCY_WARMUP,
    TURN_WARMUP,
    Sched,
    median_run,
    settle_processes,
    turn_blocks,
)
from bench.relay_peers import NodeRedPeer, bare_hop
from bench.service_peer import Flood, ServicePeer
from bench.uplinks import GATEWAYS, RELAY_UP, Copy, Fleet, copies, paired_ratio_interval, retopic, summary, write_flood
from harness.mosquitto import MosquittoBroker, mosquitto_binary
from protocol.constants import EVENT_HEARTBEAT, EVENT_SOS, FLAG_ACK_REQUESTED

HEARTBEAT_DEVICES = 12_000
HEARTBEATS_PER_DEVICE = 3  # the rate limiter lets a burst of 6 through; beyond it a heartbeat writes no frame row
LATENCY_SECONDS = 12.0  # 4,000 alarms measured a peer
# The latency runs of Node-RED and the service alternate in this many turns, as their floods do: a slow spell
# of the machine (its p99 moved by a factor of five between two runs of the same peer minutes apart) falls on
# both peers' samples, not on one peer's. Each turn's publishers and stream are new: its first alarms warm them.
# Turns of 250 alarms, not of 500: slow spells of a few seconds (a turn's p99 at 15 ms against 1-3 ms in the
# turns around it, either peer) then split between the peers more evenly. Sixteen of them, 4,000 alarms a peer:
# a p99 is then the 40th slowest alarm, not the 20th, and a slow spell a few alarms long moves it less. With
# eight, the p99 ratio of two runs on one day came out at 0.95 and 1.45.
LATENCY_TURNS = 16


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
        # Before each measurement every process goes quiet (``settle_processes``): one peer's aftermath is not
        # the other's.
        pids = (broker_pid, red.relay.pid, svc.svc.pid)
        settled: list[float] = []
        red_turns, svc_turns = [], []
        red_sched, svc_sched = Sched(red.relay.pid), Sched(svc.svc.pid)
        for warmup, block in turn_blocks(alarms, LATENCY_TURNS):
            settled.append(await settle_processes(*pids))
            with red_sched:
                red_turns.append(await red.latency(block, warmup))
            settled.append(await settle_processes(*pids))
            with svc_sched:
                svc_turns.append(await svc.latency(block, warmup))
        red_runs, svc_runs = [], []
        for flood in floods:
            settled.append(await settle_processes(*pids))
            red_runs.append(await red.flood(relay_flood, relay_n))
            settled.append(await settle_processes(*pids))
            svc_runs.append(await svc.flood(flood))
        settled.append(await settle_processes(*pids))
        after = _service_summary([await svc.latency(alarms_after, LATENCY_WARMUP)])
        final = await svc.health()
    turns = [round(s["throughput_msg_s"] / r["throughput_msg_s"], 3) for s, r in zip(svc_runs, red_runs, strict=True)]
    throughput = {
        **median_run(svc_runs),
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
    return {**red_latency, **median_run(red_runs)}, service


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
