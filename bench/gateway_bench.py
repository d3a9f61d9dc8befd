"""Gateway benchmark: UDP datagram in to MQTT PUBACK, against a bare paho publish in the same run.

``run(results_dir)`` starts a private broker (Mosquitto, or amqtt when there is none), measures a bare
paho QoS 1 publish round trip, then the gateway (in process, real UDP, real spool, real broker): latency
of one frame from datagram sent to PUBACK received, throughput, and CPU per frame. Every figure is also
given as a ratio to the bare paho figure of the same kind measured in the same run.
"""

import json
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, cast

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from basestation.gateway import semtech
from bench.common import RESULTS, write
from harness.broker_base import TEST_USERNAME, Broker
from harness.brokers import start_broker
from harness.forwarder import EUI, Forwarder
from harness.gateway import GatewayThread, frames, rxpk, settings_for
from harness.mosquitto import MosquittoBroker, mosquitto_binary
from harness.ports import free_port

LATENCY_N = 1000
THROUGHPUT_N = 20_000
BATCH = 8  # rxpk per PUSH_DATA, as a busy forwarder batches them
OUTSTANDING = 256  # frames sent but not yet acknowledged, so the UDP receive buffer never overflows


def _client(broker: Broker, nodelay: bool) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-{time.monotonic_ns()}")
    client.username_pw_set(TEST_USERNAME)
    client.max_inflight_messages_set(64)
    if nodelay:
        client.on_socket_open = lambda c, u, s: cast(socket.socket, s).setsockopt(
            socket.IPPROTO_TCP, socket.TCP_NODELAY, 1
        )
    connected = threading.Event()
    client.on_connect = lambda *a: connected.set()
    client.connect(broker.host, broker.port)
    client.loop_start()
    if not connected.wait(10):
        raise TimeoutError("bench client could not connect")
    return client


def _percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def _first_three_ms(broker: Broker, payload: bytes, nodelay: bool, rounds: int = 10) -> float:
    """Median time for three publishes sent back to back right after a connect: where Nagle shows."""
    samples = []
    for _ in range(rounds):
        client = _client(broker, nodelay)
        t0 = time.perf_counter()
        infos = [client.publish("bench/bare", payload, qos=1) for _ in range(3)]
        for info in infos:
            info.wait_for_publish(5)
        samples.append((time.perf_counter() - t0) * 1000)
        client.disconnect()
        client.loop_stop()
    return statistics.median(samples)


def _stock_broker_nagle(workdir: Path, payload: bytes) -> dict[str, float]:
    """The same on a Mosquitto without ``set_tcp_nodelay``: the broker's PUBACKs then wait on Nagle."""
    binary = mosquitto_binary()
    if binary is None:
        return {}
    with MosquittoBroker(workdir / "stock", binary, nodelay=False) as stock:
        return {
            "stock_broker_first3_ms_client_nagle": _first_three_ms(stock, payload, nodelay=False),
            "stock_broker_first3_ms_client_nodelay": _first_three_ms(stock, payload, nodelay=True),
        }


def _bare_paho(broker: Broker, payload: bytes) -> dict[str, float]:
    first3_nagle = _first_three_ms(broker, payload, nodelay=False)
    first3_nodelay = _first_three_ms(broker, payload, nodelay=True)
    client = _client(broker, nodelay=True)
    rtts = []
    for _ in range(LATENCY_N):
        t0 = time.perf_counter()
        client.publish("bench/bare", payload, qos=1).wait_for_publish(5)
        rtts.append(time.perf_counter() - t0)
    done = threading.Semaphore(0)
    client.on_publish = lambda *a: done.release()
    cpu0, t0 = time.process_time(), time.perf_counter()
    for _ in range(THROUGHPUT_N):
        client.publish("bench/bare", payload, qos=1)
    for _ in range(THROUGHPUT_N):
        if not done.acquire(timeout=30):
            raise TimeoutError("bare publishes not acknowledged")
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    client.disconnect()
    client.loop_stop()
    return {
        "bare_rtt_p50_ms": statistics.median(rtts) * 1000,
        "bare_rtt_p99_ms": _percentile(rtts, 99) * 1000,
        "bare_throughput_msg_s": THROUGHPUT_N / elapsed,
        "bare_cpu_us_per_publish": cpu / THROUGHPUT_N * 1e6,
        "bare_first3_ms_client_nagle": first3_nagle,
        "bare_first3_ms_client_nodelay": first3_nodelay,
    }


def _sender_cpu(datagrams: list[bytes]) -> float:
    """CPU the benchmark's own sending costs, to subtract from the gateway's share."""
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx,
    ):
        sink.bind(("127.0.0.1", 0))
        addr = sink.getsockname()
        cpu0 = time.process_time()
        for d in datagrams:
            tx.sendto(d, addr)
        return time.process_time() - cpu0


def _gateway(broker: Broker, workdir: Path) -> dict[str, float]:
    udp = free_port(kind=socket.SOCK_DGRAM)
    settings = settings_for(workdir, broker.port, udp, id="gw-bench", dedupe_window_s=1.0)
    items = frames(LATENCY_N + THROUGHPUT_N)
    acked = threading.Condition()
    count = [0]

    def on_ack(seq: int) -> None:
        with acked:
            count[0] += 1
            acked.notify_all()

    with GatewayThread(settings) as gw:
        assert gw.relay is not None and gw.relay.sink is not None
        sink = gw.relay.sink
        gw.call(lambda: setattr(sink, "on_acknowledged", on_ack))
        fwd = Forwarder(udp, eui=EUI)
        fwd.wait_ready()
        if not sink.connected.is_set():
            gw.wait_until(lambda r: r.sink is not None and r.sink.connected.is_set(), 10)

        lat = []
        for i, frame in enumerate(items[:LATENCY_N]):
            datagram = semtech.push_data(i & 0xFFFF, EUI, [rxpk(frame, tmst=i)])
            with acked:
                target = count[0] + 1
                t0 = time.perf_counter()
                fwd.send_raw(datagram)
                if not acked.wait_for(lambda t=target: count[0] >= t, 5):  # type: ignore[misc]
                    raise TimeoutError("frame not acknowledged")
                lat.append(time.perf_counter() - t0)

        rest = items[LATENCY_N:]
        datagrams = [
            semtech.push_data(n & 0xFFFF, EUI, [rxpk(f, tmst=n) for f in rest[k : k + BATCH]])
            for n, k in enumerate(range(0, len(rest), BATCH))
        ]
        start = count[0]
        cpu0, t0 = time.process_time(), time.perf_counter()
        for n, d in enumerate(datagrams):
            with acked:
                if not acked.wait_for(lambda n=n: n * BATCH - (count[0] - start) < OUTSTANDING, 30):  # type: ignore[misc]
                    raise TimeoutError("gateway stalled")
            fwd.send_raw(d)
        with acked:
            if not acked.wait_for(lambda: count[0] - start >= len(rest), 60):
                raise TimeoutError(f"only {count[0] - start} of {len(rest)} acknowledged")
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        fwd.close()
        stats = gw.call(gw.relay.snapshot)
    sender = _sender_cpu(datagrams)
    return {
        "gw_latency_p50_ms": statistics.median(lat) * 1000,
        "gw_latency_p99_ms": _percentile(lat, 99) * 1000,
        "gw_throughput_frames_s": len(rest) / elapsed,
        "gw_cpu_us_per_frame": max(0.0, cpu - sender) / len(rest) * 1e6,
        "gw_malformed": float(stats["malformed_total"]),
    }


def run(results_dir: Path) -> tuple[dict[str, float], dict[str, Any]]:
    results_dir.mkdir(parents=True, exist_ok=True)
    payload = json.dumps({"v": 1, "gateway_id": "gw-bench", "frame": frames(1)[0].hex()}).encode()
    with tempfile.TemporaryDirectory() as tmp, start_broker(Path(tmp) / "broker") as broker:
        bare = _bare_paho(broker, payload)
        gw = _gateway(broker, Path(tmp))
        kind = type(broker).__name__
        stock = _stock_broker_nagle(Path(tmp), payload)
    f: dict[str, float] = {**bare, **gw, **stock}
    f["gw_latency_p50_ratio_to_bare"] = f["gw_latency_p50_ms"] / f["bare_rtt_p50_ms"]
    f["gw_latency_p99_ratio_to_bare"] = f["gw_latency_p99_ms"] / f["bare_rtt_p99_ms"]
    f["gw_added_latency_p50_ms"] = f["gw_latency_p50_ms"] - f["bare_rtt_p50_ms"]
    f["gw_added_latency_p50_ratio_to_bare"] = f["gw_added_latency_p50_ms"] / f["bare_rtt_p50_ms"]
    f["gw_throughput_ratio_to_bare"] = f["gw_throughput_frames_s"] / f["bare_throughput_msg_s"]
    f["gw_cpu_ratio_to_bare"] = f["gw_cpu_us_per_frame"] / f["bare_cpu_us_per_publish"]
    f["gw_cpu_per_frame_ratio_to_bare_rtt"] = f["gw_cpu_us_per_frame"] / (f["bare_rtt_p50_ms"] * 1000)
    for key in [k for k in f if "first3" in k]:
        f[f"{key}_ratio_to_bare"] = f[key] / f["bare_rtt_p50_ms"]
    raw: dict[str, Any] = {"broker": kind, "latency_n": LATENCY_N, "throughput_n": THROUGHPUT_N, "batch": BATCH}
    return f, raw


if __name__ == "__main__":
    figures, raw = run(RESULTS)
    write("gateway", RESULTS, figures, raw)
    for key, value in figures.items():
        print(f"  {key:32} {value:10.3f}")
