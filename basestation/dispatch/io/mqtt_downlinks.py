"""The link's downlinks: ACKs to the gateways as QoS 1 publishes, at most the broker's Receive Maximum
unacknowledged (20 on a stock Mosquitto); the rest wait in a bounded outbox, so that an uplink never waits for a
downlink. What the broker will not take or pass on is dropped and shown to operators, never sent again.

The link's packet ids are handed out here, a SUBSCRIBE's too: none may be one a downlink in flight holds.
"""

import json
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

import msgspec

from basestation.dispatch.core.effects import Downlink
from basestation.dispatch.io import mqtt_wire as wire

log = logging.getLogger("nightwatch.dispatch.mqtt")

DOWN_PREFIX = "nightwatch/v1/down/"
OUTBOX_MAX = 10_000

Notice = Callable[[str, str, dict[str, Any]], None]


class Outgoing(msgspec.Struct, frozen=True, gc=False):
    """A downlink on its way: in the outbox, then in flight until the broker's PUBACK."""

    topic: str
    payload: bytes
    alarm: bool


class Downlinks:
    """The outbox and the downlinks in flight of one link. ``wake`` asks the link for a write in this turn of the
    event loop (which calls :meth:`take`); ``notice`` is the handler's ``link_notice``."""

    def __init__(self, version: int, wake: Callable[[], None], notice: Notice) -> None:
        self.version = version
        self.wake = wake
        self.notice = notice
        self.max_packet = wire.MAX_REMAINING + 5  # the broker's Maximum Packet Size, once it told us
        self.quota = 20  # the broker's Receive Maximum, once it told us
        self._outbox: deque[Outgoing] = deque()
        self._supervision_waiting = 0  # of the outbox: the part OUTBOX_MAX bounds
        self._unacked: dict[int, Outgoing] = {}
        self._next_id = 0
        self.dropped = 0
        # Downlinks the broker took but would not pass on (PUBACK reason 0x80 and above, MQTT 5): each one
        # logged with its reason and shown to operators (``Handler.link_notice``).
        self.refused = 0
        # Taken with "no matching subscribers" (0x10): the gateway was not listening; the ring's retry will ask.
        self.unheard = 0
        self.too_large = 0

    def waiting(self) -> int:
        return len(self._outbox) + len(self._unacked)

    def publish(self, down: Downlink) -> None:
        if not down.alarm and self._supervision_waiting >= OUTBOX_MAX:
            # Ten thousand heartbeat ACKs waiting means the broker is gone; the ring's next heartbeat is answered.
            # An alarm's ACK is never dropped here: what it tells the wearer (help comes, nobody can come, it is
            # over) may not come again, and alarms are few (each ring's ACKs are rate-limited: docs/dispatch.md).
            self.dropped += 1
            log.error("downlink outbox full: dropped the supervision ACK for %s", down.payload.get("id"))
            return
        self._outbox.append(Outgoing(DOWN_PREFIX + down.gateway_id, json.dumps(down.payload).encode(), down.alarm))
        self._supervision_waiting += not down.alarm
        self.wake()

    def take(self, out: list[bytes]) -> None:
        """Move queued downlinks into ``out`` as PUBLISH packets, as many as the broker lets us have in flight."""
        while self._outbox and len(self._unacked) < self.quota:
            down = self._outbox.popleft()
            self._supervision_waiting -= not down.alarm
            pid = self.packet_id()
            packet = wire.publish(down.topic, down.payload, version=self.version, packet_id=pid)
            if len(packet) > self.max_packet:
                # Sent, it would get the connection dropped (MQTT 5.0, 3.1.2.11.4) with every uplink in hand,
                # and be sent again after the reconnect.
                self._too_large(down, len(packet))
                continue
            self._unacked[pid] = down
            out.append(packet)

    def resend(self) -> list[bytes]:
        """On a new connection: what the broker had not acknowledged goes again, marked as a duplicate (MQTT 5.0,
        4.4), within what this broker now lets us have in flight; the rest waits at the head of the outbox with
        new packet ids. Returns the packets to write."""
        again: list[Outgoing] = []
        out: list[bytes] = []
        for pid, down in list(self._unacked.items()):
            packet = wire.publish(down.topic, down.payload, version=self.version, packet_id=pid, dup=True)
            if len(out) < self.quota and len(packet) <= self.max_packet:
                out.append(packet)
                continue
            del self._unacked[pid]
            if len(packet) <= self.max_packet:
                again.append(down)
                self._supervision_waiting += not down.alarm
            else:
                self._too_large(down, len(packet))
        self._outbox.extendleft(reversed(again))
        return out

    def _too_large(self, down: Outgoing, size: int) -> None:
        self.too_large += 1
        self.dropped += 1
        log.error(
            "downlink to %s of %d bytes is over the broker's maximum packet size (%d): dropped",
            down.topic,
            size,
            self.max_packet,
        )
        self._refused(down, 0x95, f"over the broker's maximum packet size ({self.max_packet} bytes)")

    def puback(self, body: bytes) -> None:
        pid, reason, why = wire.parse_puback(body, self.version)
        down = self._unacked.pop(pid, None)
        if down is None:
            return
        if reason >= 0x80:
            self.refused += 1
            log.error("the broker refused the downlink to %s: reason 0x%02x %s", down.topic, reason, why)
            self._refused(down, reason, why)
        elif reason == 0x10:
            self.unheard += 1
        if self._outbox:
            self.wake()

    def _refused(self, down: Outgoing, reason: int, why: str) -> None:
        """Tell operators: a refused ACK is a ring that was not told (an ACL, a quota), and not sending it again
        is right only because the same refusal would follow."""
        gateway = down.topic[len(DOWN_PREFIX) :]
        try:
            msg_id = json.loads(down.payload).get("id")
        except ValueError:
            msg_id = None
        self.notice(
            "downlink_refused",
            gateway,
            {"reason": reason, "reason_string": why, "id": msg_id, "alarm": down.alarm},
        )

    def packet_id(self) -> int:
        for _ in range(65535):
            self._next_id = self._next_id % 65535 + 1
            if self._next_id not in self._unacked:
                return self._next_id
        raise RuntimeError("every packet id is in flight")
