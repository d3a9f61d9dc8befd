"""The MQTT side: QoS 1 publishes fed from the spool, status with a last will, downlink subscription.

paho runs its network loop in its own thread (``loop_start``), which also reconnects. Every paho callback
hands its result to the asyncio loop with ``call_soon_threadsafe``, so the spool is only ever touched on
the loop's thread. At most ``window`` spooled frames are in paho's hands at once; paho keeps those in
memory and resends them itself after a reconnect, and the rest wait on disk.

Order: frames are handed to paho in spool order, and paho sends in that order, with one exception: a
publish made while paho is still resending after a CONNACK can overtake the resent ones. So new frames are
handed over only once the SUBACK of the downlink subscription has arrived: paho queued the SUBSCRIBE before
its resends and handles the SUBACK after it finished them.

One sink serves one broker and reads one spool (broker_paths.py): with a mirror broker there are two sinks, each
with its own client, spool and counts, so a broker that is down holds up nothing on the other.
"""

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.reasoncodes import ReasonCode

from basestation.gateway import topics
from basestation.gateway.settings import BrokerAddress, GatewaySettings
from basestation.gateway.spool import Spool
from basestation.gateway.stats import DeliveryStats

log = logging.getLogger(__name__)


class MqttSink:
    def __init__(
        self,
        settings: GatewaySettings,
        broker: BrokerAddress,
        spool: Spool,
        stats: DeliveryStats,
        loop: asyncio.AbstractEventLoop,
        on_downlink: Callable[[bytes], None],
        online: bytes,
        offline: bytes,
    ) -> None:
        self._settings = settings
        self._broker = broker
        self._spool = spool
        self._stats = stats
        self._loop = loop
        self._on_downlink = on_downlink
        self._online = online
        self._offline = offline
        self._window = settings.mqtt_inflight
        self._topic = topics.uplink(settings.id)
        self._inflight: dict[int, int] = {}  # paho mid -> spool seq
        self._cursor = 0  # highest spool seq handed to paho
        self._backlog = True  # rows may wait in the spool beyond the cursor (always so at start)
        self._done: list[int] = []
        self._flush_scheduled = False
        self._stopped = False
        self._ready = False  # connected, and paho's resends are out: new frames may follow
        self.connected = asyncio.Event()
        self.subscribed = asyncio.Event()  # downlinks flow (SUBACK received on this connection)
        self.nodelay: bool | None = None  # read back from the socket after it was set, for the stats
        self.connect_failures = 0  # refused or failed connection attempts (TLS, auth, network)
        self.on_acknowledged: Callable[[int], None] | None = None  # benchmark hook: spool seq acked

        # The mirror's client id is suffixed although it talks to another broker: were both URLs to reach one
        # cluster (two listeners, or brokers sharing sessions), equal ids would take each other's session over
        # and throw each other off every reconnect. The primary keeps the id it always had.
        suffix = "" if broker.name == "primary" else f"-{broker.name}"
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"nightwatch-gw-{settings.id}{suffix}",
            clean_session=True,
            protocol=mqtt.MQTTv311,
        )
        if settings.username is not None:
            password = settings.password.get_secret_value() if settings.password else None
            client.username_pw_set(settings.username, password)
        if broker.tls:
            client.tls_set(
                ca_certs=str(settings.tls_ca) if settings.tls_ca else None,
                certfile=str(settings.tls_cert) if settings.tls_cert else None,
                keyfile=str(settings.tls_key) if settings.tls_key else None,
            )
        client.will_set(topics.status(settings.id), offline, qos=1, retain=True)
        client.max_inflight_messages_set(self._window + 4)  # room for status and stats beside the window
        client.reconnect_delay_set(min_delay=1, max_delay=2)
        client.on_socket_open = self._socket_open
        client.on_connect = self._connected
        client.on_disconnect = self._disconnected
        client.on_connect_fail = self._connect_failed
        client.on_publish = self._published
        client.on_message = self._message
        client.on_subscribe = self._subscribed
        self._client = client

    # --- called on the asyncio thread -------------------------------------------------------------

    def start(self) -> None:
        self._client.connect_async(self._broker.host, self._broker.port, self._settings.mqtt_keepalive_s)
        self._client.loop_start()
        self.pump()

    async def stop(self, timeout_s: float = 2.0) -> None:
        """Say offline (a clean disconnect does not fire the will) and close."""
        if self.connected.is_set():
            info = self._client.publish(topics.status(self._settings.id), self._offline, qos=1, retain=True)
            try:
                await asyncio.to_thread(info.wait_for_publish, timeout_s)
            except (ValueError, RuntimeError) as err:  # the connection went while stopping
                log.warning("offline status not sent to the %s broker: %s", self._broker.name, err)
        self._client.disconnect()
        await asyncio.to_thread(self._client.loop_stop)
        # Acks still queued on the loop must not touch the spool, which closes next; those rows are
        # replayed after a restart (at least once).
        self._stopped = True

    @property
    def inflight(self) -> int:
        return len(self._inflight)

    def offer(self, seq: int, payload: bytes) -> None:
        """A frame was just spooled: publish at once when nothing older waits and the window has room."""
        if not self._ready:
            self._backlog = True
        elif self._backlog:
            self.pump()  # older rows go first; this one is among the rows pump reads
        elif len(self._inflight) < self._window:
            self._publish(seq, payload)
        else:
            self._backlog = True

    def pump(self) -> None:
        while self._ready and self._backlog and len(self._inflight) < self._window:
            room = self._window - len(self._inflight)
            rows = self._spool.after(self._cursor, room)
            for seq, payload in rows:
                if not self._publish(seq, payload):
                    return
            if len(rows) < room:
                self._backlog = False

    def publish_extra(self, topic: str, payload: bytes, retain: bool) -> None:
        """Status-like messages outside the spool: losing one is harmless, the next one replaces it."""
        self._client.publish(topic, payload, qos=1, retain=retain)

    def _publish(self, seq: int, payload: bytes) -> bool:
        info = self._client.publish(self._topic, payload, qos=1)
        # NO_CONN still queues the message inside paho; it goes out, in order, after the reconnect.
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            log.warning(
                "publish refused by the %s client (%s); frame %d stays spooled", self._broker.name, info.rc, seq
            )
            self._backlog = True
            return False
        self._inflight[info.mid] = seq
        self._cursor = seq
        return True

    def _acked(self, mid: int, failed: bool) -> None:
        seq = self._inflight.pop(mid, None)
        if seq is None or self._stopped:
            return  # status, stats or txack
        if failed:
            self._stats.rejected += 1
            log.error("%s broker refused frame %d (check its ACL); it stays spooled", self._broker.name, seq)
        else:
            self._done.append(seq)
            if not self._flush_scheduled:
                # Acks often arrive in runs: delete them in one transaction.
                self._flush_scheduled = True
                self._loop.call_soon(self._flush)
        self.pump()

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self._stopped:
            return
        done, self._done = self._done, []
        self._spool.remove(done)
        self._stats.acknowledged += len(done)
        if self.on_acknowledged is not None:
            for seq in done:
                self.on_acknowledged(seq)
        self.pump()

    def _set_connected(self, up: bool) -> None:
        if up:
            self.connected.set()
        else:
            self._ready = False
            self.connected.clear()
            self.subscribed.clear()

    def _set_ready(self) -> None:
        self._ready = True
        self.subscribed.set()
        self.pump()

    # --- called on paho's thread ------------------------------------------------------------------

    def _to_loop(self, fn: Callable[..., None], *args: Any) -> None:
        # RuntimeError: the loop closed during shutdown; the spool keeps what was not acknowledged.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(fn, *args)

    def _socket_open(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        # paho leaves Nagle's algorithm on: the 2nd and 3rd publish after a connect waited ~30 ms for the
        # previous segment's ACK. An alarm must never wait on it.
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.nodelay = bool(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        except (OSError, AttributeError) as err:
            log.warning("could not set TCP_NODELAY: %s", err)
            self.nodelay = False

    def _connected(self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, properties: Any) -> None:
        if reason.is_failure:
            self.connect_failures += 1
            log.error("%s broker refused the connection: %s", self._broker.name, reason)
            return
        log.info("connected to the %s broker %s:%d", self._broker.name, self._broker.host, self._broker.port)
        client.publish(topics.status(self._settings.id), self._online, qos=1, retain=True)
        client.subscribe(topics.downlink(self._settings.id), qos=1)
        self._to_loop(self._set_connected, True)

    def _connect_failed(self, client: mqtt.Client, userdata: Any) -> None:
        self.connect_failures += 1
        if self.connect_failures == 1 or self.connect_failures % 100 == 0:
            log.warning(
                "cannot connect to the %s broker (%d attempts); spooling", self._broker.name, self.connect_failures
            )

    def _disconnected(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, properties: Any
    ) -> None:
        log.warning("disconnected from the %s broker (%s); spooling", self._broker.name, reason)
        self._to_loop(self._set_connected, False)

    def _published(self, client: mqtt.Client, userdata: Any, mid: int, reason: ReasonCode, properties: Any) -> None:
        self._to_loop(self._acked, mid, reason.is_failure)

    def _subscribed(self, client: mqtt.Client, userdata: Any, mid: int, reasons: Any, properties: Any) -> None:
        self._to_loop(self._set_ready)

    def _message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        self._to_loop(self._on_downlink, bytes(msg.payload))
