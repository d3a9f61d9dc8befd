"""The rules SPEC.md settles beyond the layout: check order, equality of decoded values, the pseudonym under a
known counter, the life of an ACK's seq and the replay bitmap's bit order."""

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from basestation.pseudonyms.resolver import Resolver
from protocol import ack, uplink
from protocol.constants import (
    ACK_CLOSED,
    ACK_HELP_ON_THE_WAY,
    ACK_RECEIVED,
    ACK_SEQ_MAX,
    ACK_SIZE,
    ACK_STATE_NAMES,
    ACK_UNAVAILABLE,
    DIR_UP,
    EVENT_SOS,
    FLAG_ACK_REQUESTED,
    UPLINK_MIC_SIZE,
    UPLINK_SIZE,
    VERSION_ACK,
    VERSION_UPLINK,
)
from protocol.errors import FrameError
from protocol.keys import DeviceKeys, xor
from protocol.replay import ACCEPT, ReplayWindow
from tests.protocol.strategies import acks, root_keys, uplinks

KEYS = DeviceKeys(bytes(range(16)))
UPLINK_FIELDS = ("counter", "device_id", "event", "battery", "aux", "age", "flags")
ACK_FIELDS = ("counter", "state", "seq", "eta_min")


def _why(fn: Callable[[], object]) -> str | None:
    try:
        fn()
    except FrameError as e:
        return str(e.reason)
    return None


def _reason(decode: Any, frame: bytes, counter: int = 1) -> str | None:
    return _why(lambda: decode(KEYS, frame, counter))


# -- equality: a round trip proves something only if == compares every field -------------------------------


def _changed(value: object, name: str) -> object:
    # Another value of the same field, in range where that is easy, so the object stays plausible.
    old = getattr(value, name)
    return old + 1 if old < 200 else old - 1


@pytest.mark.parametrize("name", UPLINK_FIELDS)
def test_uplinks_differing_in_one_field_are_unequal(name: str) -> None:
    base = uplink.Uplink(100, 7, EVENT_SOS, 80, 0, 3, FLAG_ACK_REQUESTED)
    args = {n: getattr(base, n) for n in UPLINK_FIELDS}
    same = uplink.Uplink(**args)
    other = uplink.Uplink(**{**args, name: _changed(base, name)})
    # == and != both, each way round: != is derived from __eq__, and a broken one shows in either.
    assert (base == same, base != same, same == base) == (True, False, True)
    assert (base == other, base != other, other == base) == (False, True, False)


@pytest.mark.parametrize("name", ACK_FIELDS)
def test_acks_differing_in_one_field_are_unequal(name: str) -> None:
    base = ack.Ack(100, ACK_HELP_ON_THE_WAY, 3, 4)
    args = {n: getattr(base, n) for n in ACK_FIELDS}
    same = ack.Ack(**args)
    other = ack.Ack(**{**args, name: _changed(base, name)})
    # == and != both, each way round: != is derived from __eq__, and a broken one shows in either.
    assert (base == same, base != same, same == base) == (True, False, True)
    assert (base == other, base != other, other == base) == (False, True, False)


@given(uplinks(), st.sampled_from(UPLINK_FIELDS), st.integers(0, 0xFFFFFFFF))
def test_uplink_equality_follows_every_field(up: uplink.Uplink, name: str, value: int) -> None:
    args = {n: getattr(up, n) for n in UPLINK_FIELDS}
    assert uplink.Uplink(**args) == up
    assert (uplink.Uplink(**{**args, name: value}) == up) == (value == args[name])


@given(acks(), st.sampled_from(ACK_FIELDS), st.integers(0, 0xFFFFFFFF))
def test_ack_equality_follows_every_field(a: ack.Ack, name: str, value: int) -> None:
    args = {n: getattr(a, n) for n in ACK_FIELDS}
    assert ack.Ack(**args) == a
    assert (ack.Ack(**{**args, name: value}) == a) == (value == args[name])


@pytest.mark.parametrize(("cls", "fields"), [(uplink.Uplink, UPLINK_FIELDS), (ack.Ack, ACK_FIELDS)])
def test_the_field_lists_are_every_field(cls: type, fields: tuple[str, ...]) -> None:
    # A field added to a class but not here would escape the tests above.
    slots = getattr(cls, "__slots__", None)
    if slots is not None:  # a mypyc-compiled class may not expose it
        assert set(slots) == set(fields)


def test_equality_with_another_type_is_false() -> None:
    assert uplink.Uplink(1, 1, EVENT_SOS) != (1, 1, EVENT_SOS)
    assert ack.Ack(1, ACK_RECEIVED) != ack.Ack(1, ACK_RECEIVED).to_dict()


@given(root_keys, uplinks())
def test_uplink_round_trip_field_by_field(root: bytes, up: uplink.Uplink) -> None:
    keys = DeviceKeys(root)
    got = uplink.decode(keys, uplink.encode(keys, up), up.counter)
    assert [getattr(got, n) for n in UPLINK_FIELDS] == [getattr(up, n) for n in UPLINK_FIELDS]


@given(root_keys, acks())
def test_ack_round_trip_field_by_field(root: bytes, a: ack.Ack) -> None:
    keys = DeviceKeys(root)
    got = ack.decode(keys, ack.encode(keys, a), a.counter)
    assert [getattr(got, n) for n in ACK_FIELDS] == [getattr(a, n) for n in ACK_FIELDS]


# -- SPEC 9: byte 0 is read before the length ---------------------------------------------------------------

UP = uplink.encode(KEYS, uplink.Uplink(1, 1, EVENT_SOS))
ACK = ack.encode(KEYS, ack.Ack(1, ACK_RECEIVED))


@pytest.mark.parametrize(
    ("decode", "frame", "reason"),
    [
        (uplink.decode, b"", "length"),
        (uplink.decode, b"\x10", "length"),
        (uplink.decode, UP[:-1], "length"),
        (uplink.decode, UP + b"\x00", "length"),
        (uplink.decode, ACK, "version"),
        (uplink.decode, b"\x11" + UP[1:], "version"),
        (uplink.decode, b"\x12", "version"),
        (uplink.decode, b"\x12" + UP[1:], "version"),
        (uplink.decode, b"\x20" + UP[1:] + bytes(8), "version"),
        (ack.decode, b"", "length"),
        (ack.decode, b"\x11", "length"),
        (ack.decode, ACK[:-1], "length"),
        (ack.decode, ACK + b"\x00", "length"),
        (ack.decode, UP, "version"),
        (ack.decode, b"\x10" + ACK[1:], "version"),
        (ack.decode, b"\x12", "version"),
        (ack.decode, b"\x12" + ACK[1:], "version"),
    ],
)
def test_version_is_checked_before_length(decode: Any, frame: bytes, reason: str) -> None:
    assert _reason(decode, frame) == reason


@given(st.binary(max_size=40))
def test_shape_reason_of_any_bytes(data: bytes) -> None:
    for decode, version, size in ((uplink.decode, VERSION_UPLINK, UPLINK_SIZE), (ack.decode, VERSION_ACK, ACK_SIZE)):
        got = _reason(decode, data)
        if not data:
            assert got == "length"
        elif data[0] != version:
            assert got == "version"
        elif len(data) != size:
            assert got == "length"
        else:
            assert got not in ("length", "version")


@pytest.mark.parametrize("frame", [b"", b"\x10", b"\x11", b"\x12" * 24, UP, ACK, UP[:16], ACK + bytes(8)])
def test_check_shape_agrees_with_decode(frame: bytes) -> None:
    # Gateways call check_shape alone (no key): it must give the reason a decoder would.
    for check, decode in ((uplink.check_shape, uplink.decode), (ack.check_shape, ack.decode)):
        shape = _why(lambda: check(frame))  # noqa: B023 (called at once)
        if shape is not None:
            assert _reason(decode, frame) == shape


# -- SPEC 9: the pseudonym under a known counter --------------------------------------------------------------


def _seal_with_pseudonym(keys: DeviceKeys, up: uplink.Uplink, pid: bytes) -> bytes:
    # What only the key's holder can make: a valid MIC around a pseudonym that is not the counter's.
    good = uplink.encode(keys, up)
    head = good[:1] + pid + good[7:17]
    return head + keys.mic(DIR_UP, up.counter, 0, head, UPLINK_MIC_SIZE)


def test_a_known_counter_skips_the_pseudonym_but_not_the_mic() -> None:
    up = uplink.Uplink(41, 7, EVENT_SOS, 80, 0, 0, FLAG_ACK_REQUESTED)
    frame = uplink.encode(KEYS, up)
    wrong = bytes(b ^ 0xFF for b in frame[1:7])
    # Changed in transit: the MIC covers the pseudonym.
    assert _reason(uplink.decode, frame[:1] + wrong + frame[7:], 41) == "mic"
    # Sealed with the key around another pseudonym: a decoder given the counter accepts it (SPEC 9) ...
    sealed = _seal_with_pseudonym(KEYS, up, wrong)
    assert uplink.decode(KEYS, sealed, 41) == up
    # ... and a server, which finds counters only by their pseudonym, never reaches it.
    resolver = Resolver()
    resolver.add(1, bytes(range(16)), highest=40)
    assert resolver.resolve(frame).counter == 41
    with pytest.raises(FrameError) as e:
        resolver.resolve(sealed)
    assert e.value.reason == "unknown_device"


def test_an_ack_checks_its_tag_even_under_a_known_counter() -> None:
    frame = ack.encode(KEYS, ack.Ack(41, ACK_RECEIVED))
    wrong_tag = frame[:1] + bytes(b ^ 0xFF for b in frame[1:5]) + frame[5:]
    assert _reason(ack.decode, wrong_tag, 41) == "unknown_device"


# -- SPEC 6: states and seq ----------------------------------------------------------------------------------


@pytest.mark.parametrize("state", [ACK_CLOSED, ACK_UNAVAILABLE])
def test_the_new_states_round_trip_up_to_the_last_seq(state: int) -> None:
    for seq in (0, 1, ACK_SEQ_MAX):
        a = ack.Ack(2**32 - 1, state, seq, 0)
        assert ack.decode(KEYS, ack.encode(KEYS, a), a.counter) == a


@pytest.mark.parametrize(
    "bad",
    [
        ack.Ack(1, 0),
        ack.Ack(1, max(ACK_STATE_NAMES) + 1),
        ack.Ack(1, 255),
        ack.Ack(1, ACK_RECEIVED, ACK_SEQ_MAX + 1),
        ack.Ack(1, ACK_RECEIVED, -1),
        ack.Ack(1, ACK_RECEIVED, 0, 256),
        ack.Ack(0, ACK_RECEIVED),
        ack.Ack(2**32, ACK_RECEIVED),
    ],
)
def test_ack_encode_refuses_what_decode_would_reject(bad: ack.Ack) -> None:
    with pytest.raises(FrameError) as e:
        ack.encode(KEYS, bad)
    assert e.value.reason == "field"


@given(st.integers(0, 255).filter(lambda s: s not in ACK_STATE_NAMES), st.integers(0, ACK_SEQ_MAX))
def test_every_state_outside_the_spec_is_field(state: int, seq: int) -> None:
    # Sealed by hand, as only the key's holder could: the decoder checks the state after the MIC.
    head = bytes((VERSION_ACK,)) + ack.tag(KEYS, 9, seq) + bytes((seq,))
    head += xor(bytes((state, 0)), KEYS.keystream(1, 9, seq))
    frame = head + KEYS.mic(1, 9, seq, head, 8)
    with pytest.raises(FrameError) as e:
        ack.decode(KEYS, frame, 9)
    assert e.value.reason == "field"


# -- SPEC 8: bit i of the bitmap is counter H - i -------------------------------------------------------------


def test_the_spec_example_of_the_bitmap() -> None:
    w = ReplayWindow(50, 0b1011)
    assert [w.check(c) for c in (50, 49, 48, 47)] == ["replay", "replay", ACCEPT, "replay"]
    assert w.accept(52) == ACCEPT
    assert (w.highest, w.bitmap) == (52, 0b101101)


@given(st.lists(st.integers(1, 200), max_size=60))
def test_bit_i_is_set_exactly_when_counter_h_minus_i_was_accepted(seq: list[int]) -> None:
    w = ReplayWindow()
    accepted: set[int] = set()
    for c in seq:
        if w.accept(c) == ACCEPT:
            accepted.add(c)
    for i in range(w.size):
        assert bool(w.bitmap >> i & 1) == (w.highest - i in accepted)
    assert w.bitmap < 1 << w.size
