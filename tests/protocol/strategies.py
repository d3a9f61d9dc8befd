"""Hypothesis strategies for protocol values, shared by the protocol's property tests."""

from hypothesis import strategies as st

from protocol import ack, uplink
from protocol.constants import (
    ACK_STATE_NAMES,
    BATTERY_UNKNOWN,
    EVENT_CANCEL,
    EVENT_DURESS,
    EVENT_HEARTBEAT,
    EVENT_LOW_BATTERY,
    EVENT_NAMES,
    FLAGS_DEFINED,
)

root_keys = st.binary(min_size=16, max_size=16)
counters = st.integers(1, 0xFFFFFFFF)


@st.composite
def uplinks(draw: st.DrawFn) -> uplink.Uplink:
    event = draw(st.sampled_from(sorted(EVENT_NAMES)))
    counter = draw(st.integers(2 if event in (EVENT_CANCEL, EVENT_DURESS) else 1, 0xFFFFFFFF))
    if event in (EVENT_CANCEL, EVENT_DURESS):
        aux = draw(st.integers(1, min(0xFFFF, counter - 1)))
    elif event in (EVENT_HEARTBEAT, EVENT_LOW_BATTERY):
        aux = draw(st.integers(0, 0xFFFF))
    else:
        aux = 0
    return uplink.Uplink(
        counter,
        draw(st.integers(0, 0xFFFFFFFF)),
        event,
        draw(st.one_of(st.integers(0, 100), st.just(BATTERY_UNKNOWN))),
        aux,
        draw(st.integers(0, 0xFFFF)),
        draw(st.integers(0, FLAGS_DEFINED)),
    )


@st.composite
def acks(draw: st.DrawFn) -> ack.Ack:
    return ack.Ack(
        draw(counters),
        draw(st.sampled_from(sorted(ACK_STATE_NAMES))),
        draw(st.integers(0, 255)),
        draw(st.integers(0, 255)),
    )
