"""MQTT benchmark: what receiving a QoS 1 uplink and acknowledging it after handling costs a subscriber, for the
dispatch service's own link (basestation/dispatch/io/mqtt_link.py) against paho-mqtt and gmqtt, in one run.

    python -m bench mqtt                         (NIGHTWATCH_BENCH_QUICK=1: 3,000 messages, two rounds)

One private Mosquitto, without persistence (nothing here needs a restart, and no autosave falls into a
measurement). Each client has a persistent session (MQTT 5, session expiry "never", the link's Receive Maximum,
``mqtt_link.RECEIVE_MAXIMUM``) subscribed at QoS 1 to ``nightwatch/v1/up/+``. A round publishes ``N``
gateway envelopes (real heartbeat frames, three gateways, 226-233 bytes) once, while every subscriber is
offline: the broker queues all ``N`` in each session. Then each client in turn starts as a fresh process,
connects, subscribes (as each does on every connection), takes the ``N`` messages, acknowledges each after its
handler returned, and disconnects cleanly. The three take turns, and the order rotates from round to round (A B C,
B C A, ...), so that no client is always the first after a publish.

The clients (bench/mqtt_subscribers.py), each as it would be used to acknowledge after handling, never before:

- ``link``: ``MqttLink(settings, handler)``; the handler's ``submit`` calls ``done(None)`` (held back only
  around the connect: ``_LinkHandler``), and the link sends the PUBACKs that became due in one turn of the event
  loop in one write. On uvloop, as the service runs it.
- ``paho``: paho-mqtt 2.x, ``manual_ack_set(True)``, ``client.ack(mid, qos)`` in ``on_message``; its own
  ``loop_forever`` in the process's only thread (no second thread to hand messages over to).
- ``gmqtt``: ``optimistic_acknowledgement=False``, on uvloop. gmqtt then runs ``on_message`` as a task and sends
  the PUBACK, with the reason code the handler returned, from that task's done callback. The handler must be a
  coroutine function: with a plain function gmqtt calls it and never acknowledges at all.

Each handler does the same trivial work (counts messages and payload bytes). What is measured, per message: the
subscriber process's CPU time (``time.process_time``, every thread) from before its connect to after its clean
disconnect, and the wall time over the same stretch (throughput). Beside it, the broker's CPU time over the
client's whole run (``sched_stats``; the broker is otherwise idle then). Each client's CPU and throughput are also
given as ratios to the link's in the same round. On two cores, what else runs moves the throughput far more than
the CPU per message: the load average at the start and the end is kept in the raw results.

Correctness, checked at every drain: each client must receive exactly ``N``, and a session reconnecting right
after must get nothing (every message was acknowledged), else the run fails.
"""

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from gmqtt import Client
from gmqtt.mqtt.constants import MQTTv50

from bench.common import cpu_ticks, sched_stats, steal_pct
from bench.mqtt_subscribers import DRAIN_TIMEOUT_S, KEEPALIVE_S, SESSION_NEVER_EXPIRES, Job
from bench.uplinks import Fleet, copies, write_flood
from harness.mosquitto import MosquittoBroker, mosquitto_binary
from protocol.constants import EVENT_HEARTBEAT

KINDS = ("link", "paho", "gmqtt")
BASELINE = "link"
MESSAGES = 30_000  # six minutes of the city's uplinks (300,000 an hour: docs/mqtt.md)
ROUNDS = 3
QUICK_MESSAGES = 3_000
QUICK_ROUNDS = 2
# A session that reconnects gets what was left unacknowledged at once, after the CONNACK: this much quiet is a
# session with nothing left.
LEFTOVER_QUIET_S = 0.3
ROOT = Path(__file__).resolve().parent.parent


def _client_id(kind: str) -> str:
    return f"bench-mqtt-{kind}-{os.getpid()}"


async def _drain(kind: str, job: Job, broker_pid: int) -> dict[str, Any]:
    broker0 = sched_stats(broker_pid)["run_ns"]
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.mqtt_subscribers",
        kind,
        json.dumps(asdict(job)),
        cwd=ROOT,
        stdout=subprocess.PIPE,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), DRAIN_TIMEOUT_S + 30)
    if proc.returncode != 0:
        raise RuntimeError(f"the {kind} subscriber failed with {proc.returncode}")
    doc: dict[str, Any] = json.loads(out)
    doc["broker_cpu_s"] = (sched_stats(broker_pid)["run_ns"] - broker0) / 1e9
    return doc


async def _leftover(kind: str, port: int) -> int:
    """What the client's session still holds: a reconnect with its client id receives it at once."""
    got = 0

    def on_message(*args: Any) -> int:
        nonlocal got
        got += 1
        return 0

    # The session must outlive this look: the next round queues into it.
    check = Client(_client_id(kind), clean_session=False, session_expiry_interval=SESSION_NEVER_EXPIRES)
    check.on_message = on_message
    await check.connect("127.0.0.1", port, version=MQTTv50, keepalive=KEEPALIVE_S)
    seen = -1
    while seen != got:  # until a whole quiet spell passes
        seen = got
        await asyncio.sleep(LEFTOVER_QUIET_S)
    await check.disconnect()
    return got


async def _publish(flood_file: Path, port: int) -> dict[str, float]:
    """The envelopes at QoS 1 from three gateway connections (bench/uplinks.py, in a child process); done when the
    broker acknowledged the last, by which time it has queued every one in every session."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.uplinks", str(flood_file), str(port), cwd=ROOT, stdout=subprocess.PIPE
    )
    out, _ = await asyncio.wait_for(proc.communicate(), DRAIN_TIMEOUT_S)
    if proc.returncode != 0:
        raise RuntimeError(f"publisher failed with {proc.returncode}")
    doc: dict[str, float] = json.loads(out)
    return doc


def settings_from_env() -> tuple[int, int]:
    quick = os.environ.get("NIGHTWATCH_BENCH_QUICK", "") not in ("", "0")
    return (QUICK_MESSAGES, QUICK_ROUNDS) if quick else (MESSAGES, ROUNDS)


def run(results_dir: Path) -> tuple[dict[str, float], dict[str, object]]:
    n, rounds = settings_from_env()
    return measure(n, rounds)


def measure(n: int, rounds: int) -> tuple[dict[str, float], dict[str, object]]:
    """``rounds`` rounds of ``n`` messages for each client; the figures and the raw results."""
    from basestation.dispatch.io.mqtt_link import RECEIVE_MAXIMUM

    binary = mosquitto_binary()
    if binary is None:
        raise RuntimeError("the MQTT benchmark needs Mosquitto (MQTT 5 persistent sessions)")
    if n % 3:
        raise ValueError("the messages come from three gateways: n must be a multiple of 3")
    frames = copies(Fleet.make(1, n // 3, seed=23), range(1, 2), EVENT_HEARTBEAT, aux=60)
    with tempfile.TemporaryDirectory(prefix="nightwatch-mqtt-bench-") as tmp:
        work = Path(tmp)
        flood_file = work / "uplinks.txt"
        written = write_flood(frames, flood_file)
        assert written == n
        sizes = [len(c.payload) for group in frames for c in group]
        del frames
        # Sessions live in memory between the clients' connections; nothing here restarts the broker.
        broker = MosquittoBroker(work / "broker", binary, extra_conf="persistence false\n")
        return asyncio.run(_measure(broker, flood_file, n, rounds, sizes, RECEIVE_MAXIMUM))


async def _measure(
    broker: MosquittoBroker, flood_file: Path, n: int, rounds: int, sizes: list[int], receive_maximum: int
) -> tuple[dict[str, float], dict[str, object]]:
    load_before = os.getloadavg()
    runs: dict[str, list[dict[str, Any]]] = {k: [] for k in KINDS}
    orders: list[list[str]] = []
    with broker:
        assert broker.proc is not None
        pid, port = broker.proc.pid, broker.port
        jobs = {k: Job(port, _client_id(k), n, receive_maximum) for k in KINDS}
        # Each session made and subscribed before anything is published; not measured, so all at once.
        await asyncio.gather(*(_drain(k, replace(j, expected=0), pid) for k, j in jobs.items()))
        ticks = cpu_ticks()
        for r in range(rounds):
            await _publish(flood_file, port)
            order = [*KINDS[r % len(KINDS) :], *KINDS[: r % len(KINDS)]]
            orders.append(order)
            for kind in order:
                doc = await _drain(kind, jobs[kind], pid)
                doc["left_in_session"] = await _leftover(kind, port)
                doc["round"] = r
                if doc["received"] != n or doc["left_in_session"]:
                    raise RuntimeError(
                        f"{kind}, round {r}: received {doc['received']} of {n}, "
                        f"{doc['left_in_session']} left unacknowledged in its session"
                    )
                runs[kind].append(doc)
        steal = steal_pct(ticks, cpu_ticks())
    raw = _raw(runs, orders, n, sizes, load_before, steal)
    return _figures(runs, n, rounds, steal), {**raw, "receive_maximum": receive_maximum}


def _us(seconds: float, n: int) -> float:
    return round(seconds / n * 1e6, 2)


def _figures(runs: dict[str, list[dict[str, Any]]], n: int, rounds: int, steal: float) -> dict[str, float]:
    figures: dict[str, float] = {"messages": float(n), "rounds": float(rounds)}
    base = runs[BASELINE]
    for kind, docs in runs.items():
        cpu = [d["cpu_s"] for d in docs]
        rate = [n / d["wall_s"] for d in docs]
        figures[f"{kind}_cpu_us_per_msg"] = _us(statistics.median(cpu), n)
        figures[f"{kind}_msg_per_s"] = round(statistics.median(rate))
        figures[f"{kind}_broker_cpu_us_per_msg"] = _us(statistics.median(d["broker_cpu_s"] for d in docs), n)
        if kind == BASELINE:
            continue
        # Round by round: each against the baseline's drain of the same round's messages.
        cpu_x = [d["cpu_s"] / b["cpu_s"] for d, b in zip(docs, base, strict=True)]
        rate_x = [b["wall_s"] / d["wall_s"] for d, b in zip(docs, base, strict=True)]
        figures[f"{kind}_cpu_x_{BASELINE}"] = round(statistics.median(cpu_x), 2)
        figures[f"{kind}_cpu_x_{BASELINE}_low"] = round(min(cpu_x), 2)
        figures[f"{kind}_cpu_x_{BASELINE}_high"] = round(max(cpu_x), 2)
        figures[f"{kind}_msg_per_s_x_{BASELINE}"] = round(statistics.median(rate_x), 3)
    figures["machine_steal_pct"] = steal
    return {k: float(v) for k, v in figures.items()}


def _raw(
    runs: dict[str, list[dict[str, Any]]],
    orders: list[list[str]],
    n: int,
    sizes: list[int],
    load_before: tuple[float, float, float],
    steal: float,
) -> dict[str, object]:
    per_run = {
        kind: [
            {
                "round": d["round"],
                "cpu_us_per_msg": _us(d["cpu_s"], n),
                "wait_us_per_msg": _us(d["wait_s"], n),
                "msg_per_s": round(n / d["wall_s"]),
                "broker_cpu_us_per_msg": _us(d["broker_cpu_s"], n),
                "received": d["received"],
                "left_in_session": d["left_in_session"],
                **{k: d[k] for k in ("compiled", "stale") if k in d},
            }
            for d in docs
        ]
        for kind, docs in runs.items()
    }
    return {
        "runs": per_run,
        "orders": orders,
        "payload_bytes": {"min": min(sizes), "max": max(sizes), "mean": round(statistics.fmean(sizes), 1)},
        "cpu": os.cpu_count(),
        # Two cores shared with whatever else runs: a load average above ~2 means the figures were contended.
        "loadavg_at_start": [round(x, 2) for x in load_before],
        "loadavg_at_end": [round(x, 2) for x in os.getloadavg()],
        "machine_steal_pct": steal,
    }
