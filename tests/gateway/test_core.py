import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from basestation.gateway.core import Deduper, Sighting, encode_envelope, envelope, frame_problem, pseudonym
from basestation.gateway.record import ReceivedFrame
from harness.gateway import ROOT_KEY, frames
from protocol import uplink
from protocol.constants import EVENT_HEARTBEAT, EVENT_SOS
from protocol.keys import DeviceKeys
from tests.gateway.schema_check import errors

SCHEMA = json.loads((Path(__file__).parents[2] / "docs" / "schemas" / "uplink-envelope.schema.json").read_text())
FRAME = frames(1)[0]


@pytest.mark.parametrize(
    ("frame", "problem"),
    [
        (FRAME, None),
        (FRAME[:23], "length"),
        (FRAME + b"\0", "length"),
        (b"", "length"),
        (b"\x11" + FRAME[1:], "version"),
        (b"\x20" + FRAME[1:], "version"),
    ],
)
def test_frame_problem(frame: bytes, problem: str | None) -> None:
    assert frame_problem(frame) == problem


def test_dedupe_forwards_first_copy_and_suppresses_burst_within_window() -> None:
    d = Deduper(window_s=2.0)
    # A burst: the same bytes every 50 ms for 1.5 s.
    verdicts = [d.observe(FRAME, 100.0 + i * 0.05) for i in range(30)]
    assert verdicts[0].forward and verdicts[0].copies == 1
    assert not any(v.forward for v in verdicts[1:])
    assert [v.copies for v in verdicts] == list(range(1, 31))


def test_dedupe_forwards_again_after_window_from_last_forward() -> None:
    d = Deduper(window_s=2.0)
    assert d.observe(FRAME, 0.0).forward
    assert not d.observe(FRAME, 1.9).forward
    again = d.observe(FRAME, 2.0)
    assert again.forward and again.copies == 3
    assert not d.observe(FRAME, 3.9).forward
    assert d.observe(FRAME, 4.0).forward


def test_dedupe_is_per_frame_and_clock_going_back_suppresses() -> None:
    a, b = frames(2)
    d = Deduper(window_s=2.0)
    assert d.observe(a, 10.0).forward
    assert d.observe(b, 10.0).forward
    assert not d.observe(a, 5.0).forward


def test_dedupe_memory_is_bounded_by_age_and_count() -> None:
    d = Deduper(window_s=1.0, memory_s=10.0, max_entries=5)
    many = frames(8)
    for i, f in enumerate(many):
        d.observe(f, float(i))
    assert len(d) == 5  # the three least recently heard were forgotten
    assert d.observe(many[0], 8.0).copies == 1  # forgotten, so it counts as new
    d.observe(many[7], 100.0)
    assert len(d) == 1  # everything older than memory_s is gone


def test_retries_share_the_pseudonym_and_count_as_repeats() -> None:
    # SPEC 7.2: a retry keeps the counter (so the pseudonym) but carries a newer age: other bytes.
    keys = DeviceKeys(ROOT_KEY)
    first = uplink.encode(keys, uplink.Uplink(7, 42, EVENT_SOS, 80, 0, 0, 0))
    retry = uplink.encode(keys, uplink.Uplink(7, 42, EVENT_SOS, 80, 0, 3, 0))
    beat = uplink.encode(keys, uplink.Uplink(8, 42, EVENT_HEARTBEAT, 80, 60, 0, 0))
    assert first != retry and pseudonym(first) == pseudonym(retry) != pseudonym(beat)
    d = Deduper(window_s=2.0)
    assert d.observe(first, 0.0) == Sighting(True, 1, 1)
    assert d.observe(retry, 3.0) == Sighting(True, 1, 2)  # new bytes: forwarded, and marked as repeated
    assert d.observe(retry, 3.02) == Sighting(False, 2, 3)
    assert d.observe(beat, 4.0) == Sighting(True, 1, 1)  # a heartbeat is sent once


def test_dedupe_rejects_bad_parameters() -> None:
    with pytest.raises(ValueError):
        Deduper(window_s=5.0, memory_s=1.0)


def test_envelope_lora_has_all_radio_fields_and_validates() -> None:
    rec = ReceivedFrame(
        frame=FRAME,
        radio="lora",
        rx_time=1763776800.1234,
        rssi=-97.0,
        snr=7.5,
        freq_mhz=868.5,
        datr="SF9BW125",
        tmst=3512348611,
        forwarder="0016c001ff10a235",
        chan=2,
        rfch=0,
    )
    env = envelope(rec, "gw-1")
    assert env["rx_time_ms"] == 1763776800123
    assert env["frame"] == FRAME.hex()
    assert errors(SCHEMA, env) == []
    assert json.loads(encode_envelope(rec, "gw-1")) == env


def test_envelope_ble_leaves_out_unknown_fields_and_validates() -> None:
    env = envelope(ReceivedFrame(frame=FRAME, radio="ble", rx_time=1.0, rssi=-60.0), "gw-1")
    assert set(env) == {"v", "gateway_id", "rx_time_ms", "radio", "frame", "rssi"}
    assert errors(SCHEMA, env) == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"radio": "wifi"}, "is not one of"),
        ({"frame": "10" + "AB" * 23}, "does not match"),
        ({"rx_time_ms": 1.5}, 'is not of type "integer"'),
        ({"rssi": None}, 'is not of type "number"'),
        ({"gateway_id": "a/b"}, "does not match"),
        ({"tmst": 2**32}, "greater than the maximum"),
    ],
)
def test_schema_refuses_bad_envelopes(change: dict[str, object], message: str) -> None:
    env = envelope(ReceivedFrame(frame=FRAME, radio="lora", rx_time=1.0, tmst=5), "gw-1")
    env.update(change)
    found = errors(SCHEMA, env)
    assert found and message in found[0]


def test_schema_requires_the_core_fields() -> None:
    env = envelope(ReceivedFrame(frame=FRAME, radio="ble", rx_time=1.0), "gw-1")
    del env["frame"]
    assert errors(SCHEMA, env) == ['$: "frame" is a required property']


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 5), st.floats(0, 3, allow_nan=False)), max_size=60),
    st.floats(0.1, 5, allow_nan=False),
)
def test_dedupe_properties(events: list[tuple[int, float]], window: float) -> None:
    # Frames from a pool of six, heard at non-decreasing times.
    pool = frames(6)
    d = Deduper(window_s=window)
    now = 0.0
    last_forward: dict[bytes, float] = {}
    for index, step in events:
        now += step
        frame = pool[index]
        sighting = d.observe(frame, now)
        if frame not in last_forward:
            assert sighting.forward  # the first copy always goes on at once
        elif sighting.forward:
            assert now - last_forward[frame] >= window  # never twice inside the window
        else:
            assert now - last_forward[frame] < window  # and never held back past it
        if sighting.forward:
            last_forward[frame] = now
