"""The uplink frame: 24 bytes that fit one BLE legacy advert and one LoRa payload (SPEC 3, 4)."""

import struct

from protocol.constants import (
    BATTERY_UNKNOWN,
    BODY_OFFSET,
    BODY_SIZE,
    COUNTER_MAX,
    COUNTER_MIN,
    DEVICE_ID_MAX,
    DIR_UP,
    EVENT_CANCEL,
    EVENT_DURESS,
    EVENT_HEARTBEAT,
    EVENT_LOW_BATTERY,
    EVENT_NAMES,
    FLAG_ACK_REQUESTED,
    FLAG_BOOT,
    FLAGS_DEFINED,
    PSEUDONYM_OFFSET,
    PSEUDONYM_SIZE,
    REASON_EVENT,
    REASON_FIELD,
    REASON_LENGTH,
    REASON_MIC,
    REASON_VERSION,
    UPLINK_MIC_OFFSET,
    UPLINK_MIC_SIZE,
    UPLINK_SIZE,
    VERSION_UPLINK,
)
from protocol.errors import FrameError
from protocol.keys import DeviceKeys, equal, xor

_BODY_FORMAT = ">BBHHI"  # event|flags, battery, aux, age, device id (SPEC 4.1)
AGE_MAX = 0xFFFF
AUX_MAX = 0xFFFF


_FIELDS = ("age", "aux", "battery", "counter", "device_id", "event", "flags")


class Uplink:
    """The fields of one uplink after it verified; ``counter`` comes from the pseudonym, not the air."""

    __slots__ = _FIELDS

    def __init__(
        self,
        counter: int,
        device_id: int,
        event: int,
        battery: int = BATTERY_UNKNOWN,
        aux: int = 0,
        age: int = 0,
        flags: int = 0,
    ) -> None:
        self.counter = counter
        self.device_id = device_id
        self.event = event
        self.battery = battery
        self.aux = aux
        self.age = age
        self.flags = flags

    @property
    def event_name(self) -> str:
        return EVENT_NAMES[self.event]

    @property
    def cancels(self) -> int:
        """The counter of the alarm a CANCEL or DURESS ends, else 0."""
        if self.event in (EVENT_CANCEL, EVENT_DURESS):
            return self.counter - self.aux
        return 0

    def to_dict(self) -> dict:  # type: ignore[type-arg]
        d = {
            "event": EVENT_NAMES[self.event],
            "counter": self.counter,
            "device_id": self.device_id,
            "battery": None if self.battery == BATTERY_UNKNOWN else self.battery,
            "age_s": self.age,
            "ack_requested": bool(self.flags & FLAG_ACK_REQUESTED),
            "boot": bool(self.flags & FLAG_BOOT),
        }
        if self.event in (EVENT_CANCEL, EVENT_DURESS):
            d["cancels"] = self.cancels
        elif self.event in (EVENT_HEARTBEAT, EVENT_LOW_BATTERY):
            d["heartbeat_min"] = self.aux
        return d

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Uplink):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in _FIELDS)

    def __repr__(self) -> str:
        return "Uplink(" + repr(self.to_dict()) + ")"


def check_fields(up: Uplink) -> None:
    """Range rules of SPEC 4.2; raised as ``event`` or ``field`` so a decoder and an encoder agree."""
    if up.event not in EVENT_NAMES:
        raise FrameError(REASON_EVENT, "unknown event code " + str(up.event))
    if not COUNTER_MIN <= up.counter <= COUNTER_MAX:
        raise FrameError(REASON_FIELD, "counter out of range")
    if not 0 <= up.device_id <= DEVICE_ID_MAX:
        raise FrameError(REASON_FIELD, "device id out of range")
    if up.flags & ~FLAGS_DEFINED:
        raise FrameError(REASON_FIELD, "reserved flag set")
    if not (0 <= up.battery <= 100 or up.battery == BATTERY_UNKNOWN):
        raise FrameError(REASON_FIELD, "battery out of range")
    if not 0 <= up.age <= AGE_MAX:
        raise FrameError(REASON_FIELD, "age out of range")
    if not 0 <= up.aux <= AUX_MAX:
        raise FrameError(REASON_FIELD, "aux out of range")
    if up.event in (EVENT_CANCEL, EVENT_DURESS):
        # The cancelled alarm came earlier and had a valid counter.
        if up.aux == 0 or up.aux >= up.counter:
            raise FrameError(REASON_FIELD, "cancel must name an earlier counter")
    elif up.event not in (EVENT_HEARTBEAT, EVENT_LOW_BATTERY) and up.aux != 0:
        raise FrameError(REASON_FIELD, "aux must be zero for this event")


def check_shape(frame: bytes) -> bytes:
    """Version, then length (SPEC 9); returns the pseudonym. Needs no key, so a gateway may call it.

    Byte 0 comes first so that a frame of another type or version is named as such whatever its size: an ACK,
    or a later version's longer uplink, handed to this decoder is ``version``, not ``length``.
    """
    if not frame:
        raise FrameError(REASON_LENGTH, "empty frame")
    if frame[0] != VERSION_UPLINK:
        raise FrameError(REASON_VERSION, "first byte " + hex(frame[0]))
    if len(frame) != UPLINK_SIZE:
        raise FrameError(REASON_LENGTH, "uplink is " + str(UPLINK_SIZE) + " bytes, got " + str(len(frame)))
    return bytes(frame[PSEUDONYM_OFFSET : PSEUDONYM_OFFSET + PSEUDONYM_SIZE])


def pseudonym(keys: DeviceKeys, counter: int) -> bytes:
    return keys.pseudonym(DIR_UP, counter, 0, PSEUDONYM_SIZE)


def encode(keys: DeviceKeys, up: Uplink) -> bytes:
    check_fields(up)
    body = struct.pack(_BODY_FORMAT, (up.flags << 4) | up.event, up.battery, up.aux, up.age, up.device_id)
    head = bytes((VERSION_UPLINK,)) + pseudonym(keys, up.counter)
    head += xor(body, keys.keystream(DIR_UP, up.counter, 0))
    return head + keys.mic(DIR_UP, up.counter, 0, head, UPLINK_MIC_SIZE)


def verify(keys: DeviceKeys, frame: bytes, counter: int) -> bool:
    """True when the MIC holds for this key and counter. Cheap enough to try on every candidate."""
    head = frame[:UPLINK_MIC_OFFSET]
    return equal(keys.mic(DIR_UP, counter, 0, head, UPLINK_MIC_SIZE), frame[UPLINK_MIC_OFFSET:])


def decode(keys: DeviceKeys, frame: bytes, counter: int) -> Uplink:
    """Verify, then decrypt, then check the fields: the MIC is checked before any plaintext is looked at.

    The pseudonym is not compared with ``counter``'s (SPEC 9): it is among the bytes the MIC covers, so a changed
    one fails as ``mic``, and the caller already has the counter the pseudonym would have led to.
    """
    check_shape(frame)
    if not verify(keys, frame, counter):
        raise FrameError(REASON_MIC)
    return open_verified(keys, frame, counter)


def open_verified(keys: DeviceKeys, frame: bytes, counter: int) -> Uplink:
    """Decrypt and check the fields of a frame whose MIC ``verify`` already accepted (the resolver does that),
    so the server's hot path computes the CMAC once. Never call it on an unverified frame."""
    body = xor(frame[BODY_OFFSET : BODY_OFFSET + BODY_SIZE], keys.keystream(DIR_UP, counter, 0))
    ev_flags, battery, aux, age, device_id = struct.unpack(_BODY_FORMAT, body)
    up = Uplink(counter, device_id, ev_flags & 0x0F, battery, aux, age, ev_flags >> 4)
    check_fields(up)
    return up
