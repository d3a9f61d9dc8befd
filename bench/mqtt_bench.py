"""MQTT benchmark: what receiving a QoS 1 uplink and acknowledging it after handling costs a subscriber, for the
dispatch service's own link (basestation/dispatch/mqtt_link.py) against paho-mqtt and gmqtt, in one run.

    python -m bench mqtt                         (NIGHTWATCH_BENCH_QUICK=1: 3,000 messages, two rounds)

One private Mosquitto, without persistence (nothing here needs a restart, and no autosave falls into a
measurement). Each client has a persistent session (MQTT 5, session expiry "never", the link's Receive Maximum,
``mqtt_link.RECEIVE_MAXIMUM``) subscribed at QoS 1 to ``nightwatch/v1/up/+``. A round publishes ``N``
gateway envelopes (real heartbeat frames, three gateways, 226-233 bytes) once, while every subscriber is
offline: the broker queues all ``N`` in each session. Then each client in turn starts as a fresh process,
connects, subscribes (as each does on every connection), takes the ``N`` messages, acknowledges each after its
handler returned, and disconnects cleanly. The three take turns, and the order rotates from round to round (A B C,
B C A, ...), so that no client is always the first after a publish.

The clients, each as it would be used to acknowledge after handling, never before:

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
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import uvloop
from gmqtt import Client
from gmqtt.mqtt.constants import MQTTv50
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from bench.common import cpu_ticks, sched_stats, steal_pct
from bench.uplinks import UP, Fleet, copies, write_flood
from harness.mosquitto import MosquittoBroker, mosquitto_binary
from nightwatch import native
from protocol.constants import EVENT_HEARTBEAT

KINDS = ("link", "paho", "gmqtt")
BASELINE = "link"
MESSAGES = 30_000  # six minutes of the city's uplinks (300,000 an hour: docs/mqtt.md)
ROUNDS = 3
QUICK_MESSAGES = 3_000
QUICK_ROUNDS = 2
SESSION_NEVER_EXPIRES = 0xFFFFFFFF
KEEPALIVE_S = 60
DRAIN_TIMEOUT_S = 300.0
# A session that reconnects gets what was left unacknowledged at once, after the CONNACK: this much quiet is a
# session with nothing left.
LEFTOVER_QUIET_S = 0.3
ROOT = Path(__file__).resolve().parent.parent


def _nodelay(sock: socket.socket | None) -> None:
    # As the link does for itself: the PUBACKs must not wait on Nagle's algorithm (FACTS, MQTT).
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _Tally:
    """The handlers' trivial work, the same for every client: messages and payload bytes counted."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.n = 0
        self.payload_bytes = 0

    def take(self, topic: str, payload: bytes | bytearray) -> bool:
        """Count one message; True once all expected ones are in."""
        if topic.startswith(UP):
            self.n += 1
            self.payload_bytes += len(payload)
        return self.n >= self.expected


# -- the subscribers, each run in a process of its own ------------------------------------------------------


class _Window:
    """The measured stretch of a subscriber process: from just before its connect to just after its clean
    disconnect. Imports and setting up the client stay outside."""

    def __init__(self) -> None:
        self.t0 = self.cpu0 = self.wall_s = self.cpu_s = self.wait_s = 0.0
        self.wait0 = 0

    def start(self) -> None:
        self.wait0 = sched_stats(os.getpid())["wait_ns"]
        self.t0, self.cpu0 = time.perf_counter(), time.process_time()

    def stop(self) -> None:
        self.cpu_s, self.wall_s = time.process_time() - self.cpu0, time.perf_counter() - self.t0
        # Runnable, but the cores were busy elsewhere: how contended the machine was, not a cost of the client.
        self.wait_s = (sched_stats(os.getpid())["wait_ns"] - self.wait0) / 1e9


class _LinkHandler:
    """The link's ``Handler``: each uplink counted and released for its PUBACK at once, as the service does with
    one that has nothing to commit."""

    def __init__(self, tally: _Tally, finished: asyncio.Event) -> None:
        self.tally = tally
        self.finished = finished

    def submit(self, topic: str, payload: bytes, done: Any) -> None:
        complete = self.tally.take(topic, payload)
        done(None)  # handled: the link may acknowledge it now, in its next write
        if complete:
            self.finished.set()

    async def on_gateway_status(self, gateway_id: str, payload: bytes, via: str = "") -> None:
        return None

    def set_aside(self, topic: str, payload: bytes, error: str, done: Any) -> None:
        raise RuntimeError(f"the bench's messages are all good, yet one was set aside: {error}")

    def link_notice(self, kind: str, subject: str, data: dict[str, Any]) -> None:
        return None


@dataclass(frozen=True)
class _Job:
    """What one subscriber process is to do: drain the session ``client_id`` of ``expected`` messages."""

    port: int
    client_id: str
    expected: int
    receive_maximum: int  # the link's own (mqtt_link.RECEIVE_MAXIMUM), asked for by every client alike


async def _link(job: _Job, tally: _Tally, window: _Window) -> None:
    # Imported here: the link brings the service's failure classes and with them SQLAlchemy, a second or more of
    # start-up on this machine under load, which the other clients' processes need not pay.
    from basestation.dispatch.mqtt_link import RECEIVE_MAXIMUM, MqttLink
    from basestation.dispatch.settings import DispatchSettings

    assert job.receive_maximum == RECEIVE_MAXIMUM
    finished = asyncio.Event()
    settings = DispatchSettings(
        mqtt_url=f"mqtt://127.0.0.1:{job.port}",
        mqtt_username=None,
        mqtt_client_id=job.client_id,
        mqtt_keepalive_s=KEEPALIVE_S,
    )
    handler = _LinkHandler(tally, finished)
    link = MqttLink(settings, handler)
    window.start()
    await link.start()  # connected and subscribed
    if tally.expected:
        await asyncio.wait_for(finished.wait(), DRAIN_TIMEOUT_S)
    await link.stop()  # the last PUBACKs, then DISCONNECT
    window.stop()


def _paho(job: _Job, tally: _Tally, window: _Window) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=job.client_id, protocol=mqtt.MQTTv5)
    client.manual_ack_set(True)
    state = {"subscribed": False, "complete": tally.expected == 0, "leaving": False}

    def finish_when_done(c: mqtt.Client) -> None:
        if state["subscribed"] and state["complete"] and not state["leaving"]:
            state["leaving"] = True
            c.disconnect()  # queued behind the last PUBACK; loop_forever returns once it is sent

    def on_connect(c: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        _nodelay(c.socket())  # type: ignore[arg-type]
        c.subscribe(UP + "+", qos=1)

    def on_subscribe(c: mqtt.Client, userdata: Any, mid: int, reasons: Any, props: Any) -> None:
        state["subscribed"] = True
        finish_when_done(c)

    def on_message(c: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        if tally.take(msg.topic, msg.payload):
            state["complete"] = True
        c.ack(msg.mid, msg.qos)  # after handling, never before
        finish_when_done(c)

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = SESSION_NEVER_EXPIRES
    props.ReceiveMaximum = job.receive_maximum
    window.start()
    client.connect("127.0.0.1", job.port, keepalive=KEEPALIVE_S, clean_start=False, properties=props)
    client.loop_forever()
    window.stop()


async def _gmqtt(job: _Job, tally: _Tally, window: _Window) -> None:
    finished = asyncio.Event()
    subscribed = asyncio.Event()

    async def on_message(client: Any, topic: str, payload: bytes, qos: int, properties: Any) -> int:
        if tally.take(topic, payload):
            finished.set()
        return 0  # the PUBACK's reason code (success), sent once this coroutine has returned

    client = Client(
        job.client_id,
        clean_session=False,
        optimistic_acknowledgement=False,
        receive_maximum=job.receive_maximum,
        session_expiry_interval=SESSION_NEVER_EXPIRES,
    )
    client.on_message = on_message
    client.on_subscribe = lambda *args: subscribed.set()
    window.start()
    await client.connect("127.0.0.1", job.port, version=MQTTv50, keepalive=KEEPALIVE_S)
    _nodelay(client._connection._transport.get_extra_info("socket"))  # gmqtt exposes no socket options
    client.subscribe(UP + "+", qos=1)
    await asyncio.wait_for(subscribed.wait(), 30)
    if tally.expected:
        await asyncio.wait_for(finished.wait(), DRAIN_TIMEOUT_S)
    # The last message's PUBACK goes from its task's done callback, which the loop runs after this coroutine's
    # wake-up: one turn of the loop, or the DISCONNECT would go first and the message come back next time.
    await asyncio.sleep(0)
    await client.disconnect()
    window.stop()


def subscriber(kind: str, job: _Job) -> dict[str, Any]:
    """One client's drain of its session, in this process."""
    tally, window = _Tally(job.expected), _Window()
    extra: dict[str, Any] = {}
    if kind == "link":
        uvloop.run(_link(job, tally, window))
        compiled = [m for m in native.loaded() if m.startswith("basestation.dispatch.mqtt_")]
        # A stale extension runs the code of an older source: say so beside the figures (make native rebuilds).
        extra = {"compiled": compiled, "stale": [m for m in native.stale() if m in compiled]}
    elif kind == "paho":
        _paho(job, tally, window)
    elif kind == "gmqtt":
        uvloop.run(_gmqtt(job, tally, window))
    else:
        raise ValueError(f"no such client: {kind}")
    return {
        "received": tally.n,
        "payload_bytes": tally.payload_bytes,
        "cpu_s": window.cpu_s,
        "wall_s": window.wall_s,
        "wait_s": window.wait_s,
        **extra,
    }


# -- the run ------------------------------------------------------------------------------------------------


def _client_id(kind: str) -> str:
    return f"bench-mqtt-{kind}-{os.getpid()}"


async def _drain(kind: str, job: _Job, broker_pid: int) -> dict[str, Any]:
    broker0 = sched_stats(broker_pid)["run_ns"]
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.mqtt_bench",
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
    from basestation.dispatch.mqtt_link import RECEIVE_MAXIMUM

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
        jobs = {k: _Job(port, _client_id(k), n, receive_maximum) for k in KINDS}
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


if __name__ == "__main__":
    # A subscriber process: python -m bench.mqtt_bench KIND JOB (a _Job as JSON)
    print(json.dumps(subscriber(sys.argv[1], _Job(**json.loads(sys.argv[2])))), flush=True)
