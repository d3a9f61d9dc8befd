"""The downlink ACK: 16 bytes that tell a key ring its alarm was heard, bound to that alarm (SPEC 6)."""

from protocol.constants import (
    ACK_BODY_OFFSET,
    ACK_BODY_SIZE,
    ACK_MIC_OFFSET,
    ACK_MIC_SIZE,
    ACK_SEQ_MAX,
    ACK_SEQ_OFFSET,
    ACK_SIZE,
    ACK_STATE_NAMES,
    ACK_TAG_OFFSET,
    ACK_TAG_SIZE,
    COUNTER_MAX,
    COUNTER_MIN,
    DIR_DOWN,
    REASON_FIELD,
    REASON_LENGTH,
    REASON_MIC,
    REASON_UNKNOWN_DEVICE,
    REASON_VERSION,
    VERSION_ACK,
)
from protocol.errors import FrameError
from protocol.keys import DeviceKeys, equal, xor

ETA_UNKNOWN = 0
ETA_MAX = 0xFF


class Ack:
    """An ACK for the uplink whose counter is ``counter``; ``seq`` numbers the ACKs sent for it."""

    __slots__ = ("counter", "eta_min", "seq", "state")

    def __init__(self, counter: int, state: int, seq: int = 0, eta_min: int = ETA_UNKNOWN) -> None:
        self.counter = counter
        self.state = state
        self.seq = seq
        self.eta_min = eta_min

    def to_dict(self) -> dict:  # type: ignore[type-arg]
        return {
            "counter": self.counter,
            "state": ACK_STATE_NAMES[self.state],
            "seq": self.seq,
            "eta_min": self.eta_min or None,
        }

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Ack):
            return NotImplemented
        return (self.counter, self.state, self.seq, self.eta_min) == (
            other.counter,
            other.state,
            other.seq,
            other.eta_min,
        )

    def __repr__(self) -> str:
        return "Ack(" + repr(self.to_dict()) + ")"


def _check(ack: Ack) -> None:
    if ack.state not in ACK_STATE_NAMES:
        raise FrameError(REASON_FIELD, "unknown ack state " + str(ack.state))
    if not COUNTER_MIN <= ack.counter <= COUNTER_MAX:
        raise FrameError(REASON_FIELD, "counter out of range")
    if not 0 <= ack.seq <= ACK_SEQ_MAX or not 0 <= ack.eta_min <= ETA_MAX:
        raise FrameError(REASON_FIELD, "seq or eta out of range")


def tag(keys: DeviceKeys, counter: int, seq: int) -> bytes:
    return keys.pseudonym(DIR_DOWN, counter, seq, ACK_TAG_SIZE)


def encode(keys: DeviceKeys, ack: Ack) -> bytes:
    _check(ack)
    head = bytes((VERSION_ACK,)) + tag(keys, ack.counter, ack.seq) + bytes((ack.seq,))
    head += xor(bytes((ack.state, ack.eta_min)), keys.keystream(DIR_DOWN, ack.counter, ack.seq))
    return head + keys.mic(DIR_DOWN, ack.counter, ack.seq, head, ACK_MIC_SIZE)


def check_shape(frame: bytes) -> None:
    """Version, then length (SPEC 9), as for the uplink: an uplink handed to the ACK decoder is ``version``."""
    if not frame:
        raise FrameError(REASON_LENGTH, "empty frame")
    if frame[0] != VERSION_ACK:
        raise FrameError(REASON_VERSION, "first byte " + hex(frame[0]))
    if len(frame) != ACK_SIZE:
        raise FrameError(REASON_LENGTH, "ack is " + str(ACK_SIZE) + " bytes, got " + str(len(frame)))


def decode(keys: DeviceKeys, frame: bytes, counter: int) -> Ack:
    """Open an ACK that should answer ``counter``; anything else, forged or not ours, raises."""
    check_shape(frame)
    seq = frame[ACK_SEQ_OFFSET]
    # The tag lets a key ring drop other devices' ACKs without a CMAC; it is not what authenticates. It travels
    # in clear, so a plain comparison would leak nothing (SPEC 6); the constant-time one costs nothing here.
    if not equal(tag(keys, counter, seq), frame[ACK_TAG_OFFSET : ACK_TAG_OFFSET + ACK_TAG_SIZE]):
        raise FrameError(REASON_UNKNOWN_DEVICE, "not an ack for this counter")
    head = frame[:ACK_MIC_OFFSET]
    # Constant time (SPEC 6): a MIC compare that stopped at the first wrong byte would let a forger learn the
    # MIC of a forged "help on the way" byte by byte.
    if not equal(keys.mic(DIR_DOWN, counter, seq, head, ACK_MIC_SIZE), frame[ACK_MIC_OFFSET:]):
        raise FrameError(REASON_MIC)
    body = xor(frame[ACK_BODY_OFFSET : ACK_BODY_OFFSET + ACK_BODY_SIZE], keys.keystream(DIR_DOWN, counter, seq))
    ack = Ack(counter, body[0], seq, body[1])
    _check(ack)
    return ack
