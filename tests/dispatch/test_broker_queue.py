"""What Mosquitto keeps for the dispatch service's persistent session, against the broker alone: with the shipped
queue settings, every uplink it acknowledged reaches the session, past the old cap of 100,000 too; with a cap or
a memory_limit, it acknowledges uplinks and then drops them, and the gateways that sent them have already let
them go. No service runs here, so that 120,000 uplinks take seconds; the clients are bare sockets over the
service's own wire format, since paho needs ~15 s for what these send in ~2 s."""

import contextlib
import socket
from pathlib import Path

import pytest

from basestation.dispatch.core.envelope import UP_PREFIX
from basestation.dispatch.io import mqtt_wire as wire
from basestation.dispatch.io.mqtt_link import RECEIVE_MAXIMUM
from harness.broker_base import TEST_USERNAME
from harness.mosquitto import QUEUE_SETTINGS, MosquittoBroker, mosquitto_binary, shipped_settings

OLD_CAP = 100_000  # what deploy/mosquitto/nightwatch.conf used to set
BURST = 120_000  # past OLD_CAP plus what a stalled service holds unacknowledged (RECEIVE_MAXIMUM)
SERVICE = "nightwatch-dispatch"  # the service's client id: its session is the one the broker queues for
IDLE_S = 2.0  # a session that is sent nothing for this long has had all that the broker kept
Packet = tuple[int, int, bytes]


def _payload(seq: int) -> bytes:
    return seq.to_bytes(8, "big") + bytes(292)  # 300 bytes, about a LoRa envelope


class _Client:
    """One MQTT connection on a blocking socket."""

    def __init__(self, broker: MosquittoBroker, client_id: str, version: int, *, clean: bool) -> None:
        self.version = version
        self.sock = socket.create_connection((broker.host, broker.port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = wire.Reader()
        self._pending: list[Packet] = []
        self.sock.sendall(
            wire.connect(
                client_id,
                version=version,
                keepalive=60,
                username=TEST_USERNAME,
                clean_start=clean,
                receive_maximum=RECEIVE_MAXIMUM,
            )
        )
        first, *self._pending = self.read()  # queued uplinks may follow the CONNACK in the same read
        assert first[0] == wire.CONNACK
        assert wire.parse_connack(first[2], version).reason == 0

    def read(self) -> list[Packet]:
        """Every packet that has arrived; waits for at least one."""
        while not self._pending:
            data = self.sock.recv(1 << 20)
            if not data:
                raise ConnectionError("the broker closed the connection")
            self._pending = self.reader.feed(data)
        packets, self._pending = self._pending, []
        return packets

    def close(self) -> None:
        with contextlib.suppress(OSError):  # the broker may have closed it already
            self.sock.sendall(wire.DISCONNECT_PACKET)
        self.sock.close()


def _subscribe(broker: MosquittoBroker) -> None:
    """The service's session as MqttLink makes it: MQTT 5, never expiring, uplinks at QoS 1."""
    client = _Client(broker, SERVICE, wire.V5, clean=False)
    client.sock.sendall(wire.subscribe(1, [UP_PREFIX + "+"], version=wire.V5))
    kind, _, body = client.read()[0]
    assert kind == wire.SUBACK
    assert wire.suback_codes(body, wire.V5) == b"\x01"
    client.close()


def _publish(broker: MosquittoBroker, count: int, batch: int) -> int:
    """Uplinks 0..count-1 at QoS 1 as a gateway sends them (MQTT 3.1.1), ``batch`` unacknowledged at a time.
    Returns how many the broker acknowledged before it closed the connection, if it did."""
    client = _Client(broker, "nightwatch-gw-test", wire.V311, clean=True)
    acked = 0
    try:
        for start in range(0, count, batch):
            n = min(batch, count - start)
            client.sock.sendall(
                b"".join(
                    wire.publish(UP_PREFIX + "gw", _payload(start + i), version=wire.V311, packet_id=i + 1)
                    for i in range(n)
                )
            )
            done = acked + n
            while acked < done:
                acked += sum(1 for kind, _, _ in client.read() if kind == wire.PUBACK)
    except OSError:
        pass  # pushed back: the unacknowledged uplinks stay the gateway's, to send again
    client.close()
    return acked


def _take(client: _Client, expect: int) -> set[int]:
    """The uplinks the broker hands the session, each acknowledged as read, until ``expect`` of them or IDLE_S
    without one."""
    client.sock.settimeout(IDLE_S)
    seen: set[int] = set()
    try:
        while len(seen) < expect:
            acks = []
            for kind, flags, body in client.read():
                if kind == wire.PUBLISH:
                    publish = wire.parse_publish(flags, body, client.version)
                    seen.add(int.from_bytes(publish.payload[:8], "big"))
                    acks.append(wire.puback(publish.packet_id))
            client.sock.sendall(b"".join(acks))
    except TimeoutError:
        pass  # nothing more is coming
    return seen


def test_the_shipped_queue_settings_have_no_reachable_cap_and_no_memory_limit() -> None:
    assert shipped_settings(*QUEUE_SETTINGS) == "max_queued_messages 1000000000\nmax_queued_bytes 0\n"


@pytest.mark.skipif(mosquitto_binary() is None, reason="needs Mosquitto")
@pytest.mark.parametrize("stalled", [False, True], ids=["service-down", "service-stalled"])
@pytest.mark.parametrize(
    ("conf", "keeps_all"),
    [
        pytest.param(shipped_settings(*QUEUE_SETTINGS), True, id="shipped"),
        pytest.param(f"max_queued_messages {OLD_CAP}\n", False, id="old-cap"),
    ],
)
def test_a_burst_past_the_old_cap_reaches_the_service_session(
    tmp_path: Path, conf: str, keeps_all: bool, stalled: bool
) -> None:
    binary = mosquitto_binary()
    assert binary is not None
    with MosquittoBroker(tmp_path, binary, extra_conf=conf) as broker:
        _subscribe(broker)
        # Stalled: connected and reading nothing, like a service paused on a slow commit. The broker then
        # holds RECEIVE_MAXIMUM uplinks in flight and queues the rest.
        service = _Client(broker, SERVICE, wire.V5, clean=False) if stalled else None
        acked = _publish(broker, BURST, batch=5000)
        service = service or _Client(broker, SERVICE, wire.V5, clean=False)
        kept = _take(service, BURST)
        service.close()
    assert acked == BURST  # every gateway was told "stored" and deleted its copy
    if keeps_all:
        assert kept == set(range(BURST))
    else:
        assert len(kept) <= OLD_CAP + RECEIVE_MAXIMUM < BURST  # the rest were acknowledged, then dropped


@pytest.mark.skipif(mosquitto_binary() is None, reason="needs Mosquitto")
def test_memory_limit_acknowledges_uplinks_it_then_drops(tmp_path: Path) -> None:
    """Why the shipped configuration sets no memory_limit. Whether Mosquitto 2.0.11 meets the limit in a message's
    storage (publisher disconnected, nothing acknowledged) or in its queue entry (acknowledged anyway, since the
    publisher speaks MQTT 3.1.1, and dropped) depends on where the limit falls within one message's ~640 bytes,
    so the limit is swept across that span. Should a Mosquitto push back at every step, this fails: memory_limit
    is then worth another look (docs/mqtt.md, "Broker queue settings")."""
    binary = mosquitto_binary()
    assert binary is not None
    sent = 2_500  # ~1,570 fit in 1 MB
    for limit in range(1_000_000, 1_001_024, 32):
        broker = MosquittoBroker(tmp_path / str(limit), binary, extra_conf=f"memory_limit {limit}\n")
        with broker:
            _subscribe(broker)
            acked = _publish(broker, sent, batch=1)
        if acked < sent:
            continue  # pushed back at this limit
        # The stopped broker saved its database; restarted without the limit, it hands over all it kept.
        broker.extra_conf = ""
        with broker:
            service = _Client(broker, SERVICE, wire.V5, clean=False)
            kept = _take(service, sent)
            service.close()
        assert kept < set(range(acked)), f"memory_limit {limit}: all {acked} acknowledged uplinks kept"
        return
    pytest.fail("memory_limit pushed back at every limit tried and lost nothing acknowledged")
