"""Properties of the two frames: round trips, and every damage rejected with a reason."""

from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import ack, uplink
from protocol.constants import ACK_SIZE, REASONS, UPLINK_SIZE
from protocol.errors import FrameError
from protocol.keys import DeviceKeys
from tests.fuzz import examples
from tests.protocol.strategies import acks, root_keys, uplinks


def _round_trip(codec: ModuleType, root: bytes, message: uplink.Uplink | ack.Ack, size: int) -> None:
    keys = DeviceKeys(root)
    frame = codec.encode(keys, message)
    assert len(frame) == size
    assert codec.decode(keys, frame, message.counter) == message


def _flipped(codec: ModuleType, root: bytes, message: uplink.Uplink | ack.Ack, bit: int) -> str:
    """The reason ``codec`` rejects ``message``'s frame with ``bit`` flipped."""
    keys = DeviceKeys(root)
    frame = bytearray(codec.encode(keys, message))
    frame[bit // 8] ^= 0x80 >> (bit % 8)
    with pytest.raises(FrameError) as e:
        codec.decode(keys, bytes(frame), message.counter)
    return e.value.reason


@given(root_keys, uplinks())
def test_uplink_round_trip(root: bytes, up: uplink.Uplink) -> None:
    _round_trip(uplink, root, up, UPLINK_SIZE)


@given(root_keys, acks())
def test_ack_round_trip(root: bytes, a: ack.Ack) -> None:
    _round_trip(ack, root, a, ACK_SIZE)


@given(root_keys, uplinks(), st.integers(0, UPLINK_SIZE * 8 - 1))
def test_any_single_bit_flip_of_an_uplink_is_rejected(root: bytes, up: uplink.Uplink, bit: int) -> None:
    # The version byte is checked first; everything after it is covered by the MIC.
    assert _flipped(uplink, root, up, bit) == ("version" if bit < 8 else "mic")


@given(root_keys, acks(), st.integers(0, ACK_SIZE * 8 - 1))
def test_any_single_bit_flip_of_an_ack_is_rejected(root: bytes, a: ack.Ack, bit: int) -> None:
    assert _flipped(ack, root, a, bit) in ("version", "unknown_device", "mic")


@given(root_keys, uplinks(), st.integers(0, UPLINK_SIZE - 1), st.binary(min_size=1, max_size=8))
def test_truncation_and_extension_are_rejected(root: bytes, up: uplink.Uplink, cut: int, extra: bytes) -> None:
    keys = DeviceKeys(root)
    frame = uplink.encode(keys, up)
    for damaged in (frame[:cut], frame + extra):
        with pytest.raises(FrameError) as e:
            uplink.decode(keys, damaged, up.counter)
        assert e.value.reason == "length"


@given(root_keys, acks(), st.integers(1, 0xFFFFFFFF))
def test_an_ack_answers_only_its_own_alarm(root: bytes, a: ack.Ack, other: int) -> None:
    keys = DeviceKeys(root)
    frame = ack.encode(keys, a)
    if other != a.counter:
        with pytest.raises(FrameError):
            ack.decode(keys, frame, other)


@given(root_keys, uplinks(), root_keys)
def test_another_key_never_verifies(root: bytes, up: uplink.Uplink, other: bytes) -> None:
    if other != root:
        frame = uplink.encode(DeviceKeys(root), up)
        with pytest.raises(FrameError) as e:
            uplink.decode(DeviceKeys(other), frame, up.counter)
        assert e.value.reason == "mic"


@settings(max_examples=examples(500))
@given(st.binary(max_size=40), st.integers(1, 0xFFFFFFFF))
def test_arbitrary_bytes_raise_only_frame_errors(data: bytes, counter: int) -> None:
    keys = DeviceKeys(bytes(16))
    for decode in (uplink.decode, ack.decode):
        try:
            decode(keys, data, counter)
        except FrameError as e:
            assert e.reason in REASONS


@settings(max_examples=examples(300))
@given(st.binary(min_size=UPLINK_SIZE - 1, max_size=UPLINK_SIZE - 1))
def test_well_shaped_garbage_is_rejected_by_the_mic(tail: bytes) -> None:
    with pytest.raises(FrameError) as e:
        uplink.decode(DeviceKeys(bytes(16)), b"\x10" + tail, 1)
    assert e.value.reason == "mic"


def test_encode_refuses_what_decode_would_reject() -> None:
    keys = DeviceKeys(bytes(16))
    bad = [
        uplink.Uplink(0, 1, 1),  # counter 0 never exists
        uplink.Uplink(1 << 32, 1, 1),
        uplink.Uplink(1, 1, 0),
        uplink.Uplink(1, 1, 1, battery=101),
        uplink.Uplink(5, 1, 3, aux=0),
        uplink.Uplink(5, 1, 3, aux=5),
        uplink.Uplink(5, 1, 1, aux=1),
        uplink.Uplink(5, 1, 1, flags=0x4),
        uplink.Uplink(5, 1 << 32, 1),
    ]
    for up in bad:
        with pytest.raises(FrameError):
            uplink.encode(keys, up)
