"""Gateway traffic for the dispatch benchmark: real frames in real envelopes, and the publishers that send them.

Every peer of the benchmark (a bare subscriber, Node-RED, the dispatch service) is fed the same envelopes by the
same publishers, so the figures differ only by what sits behind the broker:

- the flood publisher runs in a child process (``python -m bench.uplinks FILE PORT``) so it never competes with
  the bench's own readers for the event loop; three gmqtt clients, one per gateway, publish at QoS 1 as fast as
  the broker acknowledges, with a bounded window of unacknowledged messages each;
- the paced publisher runs in the bench's event loop beside the reader that timestamps arrivals, so send and
  receive times come from one ``perf_counter``.
"""

import asyncio
import json
import os
import random
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gmqtt import Client
from gmqtt.mqtt.constants import MQTTv50, MQTTv311

from basestation.gateway.core import encode_envelope
from basestation.gateway.record import ReceivedFrame
from protocol import uplink
from protocol.keys import DeviceKeys

GATEWAYS = ("gw-a", "gw-b", "gw-c")  # every frame is heard by all three, each at its own signal strength
RSSI = {"gw-a": -92.0, "gw-b": -101.0, "gw-c": -108.0}
POSITIONS = {"gw-a": (52.1589, 4.4894), "gw-b": (52.1664, 4.4817), "gw-c": (52.1550, 4.4990)}
UP = "nightwatch/v1/up/"
FORWARDER = "0016c001ff10a235"  # the packet forwarder's EUI
# Node-RED's flow listens here instead (bench/nodered/flow.json): idle while the service takes its turn, and the
# other way round, so the two peers can alternate floods in one run.
RELAY_UP = "bench/relay/up/"
WINDOW = 2000  # unacknowledged publishes per client: far below gmqtt's 65535 packet ids, deep enough to stream
CHUNK = 200  # publishes between yields to the event loop, so PUBACKs are read while the flood goes on


@dataclass(frozen=True, slots=True)
class Copy:
    """One gateway's envelope of one frame: what a gateway publishes on ``topic``."""

    topic: str
    payload: bytes
    key: str  # the incident id an alarm opens ("device-counter"), or the frame's id for supervision traffic


@dataclass
class Fleet:
    """Provisioned key rings: device id -> root key."""

    roots: dict[int, bytes] = field(default_factory=dict)

    @classmethod
    def make(cls, first: int, count: int, seed: int) -> "Fleet":
        rng = random.Random(seed)
        return cls({d: rng.randbytes(16) for d in range(first, first + count)})


def envelope(gateway: str, frame: bytes, rx_time_ms: int, tmst: int) -> bytes:
    """A LoRa gateway's uplink envelope (docs/mqtt.md), with every field a packet forwarder reports, encoded by the
    gateway's own encoder."""
    heard = ReceivedFrame(
        frame, "lora", rx_time_ms / 1000, RSSI[gateway], 7.5, 868.1, "SF9BW125", tmst & 0xFFFFFFFF, FORWARDER
    )
    return encode_envelope(heard, gateway)


def copies(fleet: Fleet, counters: range, event: int, flags: int = 0, aux: int = 0) -> list[list[Copy]]:
    """Each device sends ``counters`` in order (a key ring's frames), devices interleaved; three copies each.

    The outer list is one entry per distinct frame, in send order."""
    now_ms = time.time_ns() // 1_000_000
    frames: list[list[Copy]] = []
    keys = {d: DeviceKeys(root) for d, root in fleet.roots.items()}
    for counter in counters:
        for device, k in keys.items():
            frame = uplink.encode(k, uplink.Uplink(counter, device, event, 80, aux, 0, flags))
            key = f"{device}-{counter}"
            tmst = len(frames) * 1000
            frames.append([Copy(UP + gw, envelope(gw, frame, now_ms, tmst), key) for gw in GATEWAYS])
    return frames


def retopic(frames: list[list[Copy]], prefix: str) -> list[list[Copy]]:
    """The same envelopes published under another topic prefix, each still on its gateway's own topic."""
    return [[Copy(prefix + c.topic.rsplit("/", 1)[1], c.payload, c.key) for c in group] for group in frames]


def write_flood(frames: list[list[Copy]], path: Path) -> int:
    """The flood file the child publisher reads: one ``topic TAB payload`` line per envelope."""
    with path.open("wb") as fh:
        n = 0
        for group in frames:
            for c in group:
                fh.write(c.topic.encode() + b"\t" + c.payload + b"\n")
                n += 1
    return n


async def connect(port: int, client_id: str, on_message: Callable[..., Any] | None = None) -> Any:
    """A gmqtt client on the bench broker, TCP_NODELAY set. Publishers speak MQTT 3.1.1, so no receive maximum
    of the broker's throttles them; a subscriber speaks MQTT 5 like the service and Node-RED's broker node."""
    client = Client(client_id, clean_session=True)
    if on_message is not None:
        client.on_message = on_message
    version = MQTTv311 if on_message is None else MQTTv50
    await client.connect("127.0.0.1", port, version=version, keepalive=60)
    sock = client._connection._transport.get_extra_info("socket")  # gmqtt exposes no socket options
    if sock is not None:
        # FACTS: without it the 2nd and 3rd messages after a connect wait ~30 ms on Nagle's algorithm.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return client


def inflight(client: Any) -> int:
    # gmqtt keeps each unacknowledged QoS 1 publish in its in-memory store until the PUBACK; it has no public
    # counter for them.
    return len(client._persistent_storage._messages)


async def drained(client: Any) -> None:
    await client._persistent_storage.wait_empty()


async def _pump(client: Any, lines: list[tuple[str, bytes]]) -> None:
    for i, (topic, payload) in enumerate(lines, 1):
        client.publish(topic, payload, qos=1)
        if i % CHUNK == 0:
            await asyncio.sleep(0)
            while inflight(client) > WINDOW:
                await asyncio.sleep(0.0005)


async def flood(path: Path, port: int) -> dict[str, float]:
    """Publish every envelope in ``path``, each gateway's on its own connection; times on CLOCK_MONOTONIC, which
    the parent reads too."""
    per_gateway: dict[str, list[tuple[str, bytes]]] = {}
    for line in path.read_bytes().splitlines():
        topic, payload = line.split(b"\t", 1)
        per_gateway.setdefault(topic.decode(), []).append((topic.decode(), payload))
    clients = [await connect(port, f"bench-flood-{i}-{os.getpid()}") for i in range(len(per_gateway))]
    t_first = time.monotonic()
    await asyncio.gather(*(_pump(c, lines) for c, lines in zip(clients, per_gateway.values(), strict=True)))
    t_sent = time.monotonic()
    await asyncio.gather(*(drained(c) for c in clients))
    t_acked = time.monotonic()
    for c in clients:
        await c.disconnect()
    n = sum(len(v) for v in per_gateway.values())
    return {"messages": n, "t_first": t_first, "t_sent": t_sent, "t_acked": t_acked, "cpu_s": time.process_time()}


async def paced(
    clients: dict[str, Any], frames: list[list[Copy]], per_second: float, sent: dict[bytes, float]
) -> float:
    """Publish the frames' copies at ``per_second`` envelopes a second, open loop (a late send does not delay
    the next), each frame's three copies back to back as three gateways forward it at once. Records each
    envelope's send time in ``sent``; returns the achieved rate."""
    interval = len(GATEWAYS) / per_second
    t0 = time.perf_counter() + 0.05
    for i, group in enumerate(frames):
        delay = t0 + i * interval - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        for c in group:
            sent[c.payload] = time.perf_counter()
            clients[c.topic.rsplit("/", 1)[1]].publish(c.topic, c.payload, qos=1)
    elapsed = time.perf_counter() - t0
    return len(frames) * len(GATEWAYS) / elapsed if elapsed > 0 else 0.0


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process, all its threads included."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile; the maximum for q=100."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def delays(sent: dict[bytes, float], got: dict[bytes, float], firsts: list[Copy]) -> list[float]:
    """Publish to arrival of each of ``firsts``, in ms."""
    return [(got[c.payload] - sent[c.payload]) * 1000 for c in firsts if c.payload in got and c.payload in sent]


def summary(samples: list[float]) -> dict[str, float]:
    if not samples:
        return {"n": 0.0}
    return {
        "n": float(len(samples)),
        "p50_ms": round(percentile(samples, 50), 3),
        "p99_ms": round(percentile(samples, 99), 3),
        "max_ms": round(max(samples), 3),
        "mean_ms": round(sum(samples) / len(samples), 3),
    }


def paired_ratio_interval(
    a_turns: list[list[float]], b_turns: list[list[float]], q: float = 99, rounds: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """How far the ratio of percentile ``q`` of A's samples to B's could move by chance: its 2.5th and 97.5th
    percentiles over ``rounds`` resamplings of the turns, each turn of A drawn with the turn of B taken beside it
    (a paired bootstrap). Two peers that took turns share each slow spell of the machine only with the turn
    next to them; the interval shows how much one run's ratio says."""
    if len(a_turns) != len(b_turns) or not a_turns:
        raise ValueError("paired turns of both peers are needed")
    rng = random.Random(seed)
    n = len(a_turns)
    ratios = []
    for _ in range(rounds):
        picks = [rng.randrange(n) for _ in range(n)]
        a = [d for i in picks for d in a_turns[i]]
        b = [d for i in picks for d in b_turns[i]]
        if a and b:
            ratios.append(percentile(a, q) / percentile(b, q))
    return percentile(ratios, 2.5), percentile(ratios, 97.5)


def latency(sent: dict[bytes, float], got: dict[bytes, float], firsts: list[Copy]) -> dict[str, float]:
    """Latency of each frame's first copy: publish to arrival, in ms."""
    return summary(delays(sent, got, firsts))


if __name__ == "__main__":
    print(json.dumps(asyncio.run(flood(Path(sys.argv[1]), int(sys.argv[2])))), flush=True)
