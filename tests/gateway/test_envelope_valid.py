"""The gateway builds only envelopes the published schema accepts, whatever metadata its radios report: a
forwarder's nonsense costs the field, never the frame."""

import json
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from basestation.dispatch.core.envelope import UP_PREFIX, parse
from basestation.gateway.core import encode_envelope, envelope
from basestation.gateway.record import ReceivedFrame
from tests.fuzz import examples
from tests.gateway.schema_check import errors, load

SCHEMA = load("uplink-envelope.schema.json")
FRAMES = st.binary(min_size=23, max_size=23).map(lambda b: b"\x10" + b)  # what frame_problem lets through
floats = st.floats() | st.floats(-250, 100)
ints = st.integers(-(2**40), 2**40) | st.integers(-5, 300)
opt_str = st.none() | st.text(max_size=40) | st.binary(min_size=8, max_size=8).map(bytes.hex)


@st.composite
def records(draw: st.DrawFn) -> ReceivedFrame:
    return ReceivedFrame(
        frame=draw(FRAMES),
        radio=draw(st.sampled_from(["ble", "lora"])),
        rx_time=draw(st.floats(0, 4e12)),
        rssi=draw(st.none() | floats),
        snr=draw(st.none() | floats),
        freq_mhz=draw(st.none() | floats),
        datr=draw(opt_str),
        tmst=draw(st.none() | ints),
        forwarder=draw(opt_str),
        chan=draw(st.none() | ints),
        rfch=draw(st.none() | ints),
    )


@settings(max_examples=examples(1000), deadline=None)
@given(records(), st.from_regex(r"[A-Za-z0-9_.-]{1,64}", fullmatch=True))
def test_every_envelope_the_gateway_builds_is_valid_and_accepted(rec: ReceivedFrame, gateway_id: str) -> None:
    env = envelope(rec, gateway_id)
    assert errors(SCHEMA, env) == []
    assert set(env) <= set(SCHEMA["properties"])  # nothing undocumented, though the schema would let it pass
    reception = parse(UP_PREFIX + gateway_id, encode_envelope(rec, gateway_id))
    assert reception.frame == rec.frame
    for name in ("rssi", "snr", "freq_mhz", "datr", "tmst", "forwarder"):
        assert getattr(reception, name) == env.get(name)


def test_metadata_in_range_is_carried_and_nonsense_is_left_out() -> None:
    frame = b"\x10" + bytes(23)
    good = ReceivedFrame(frame, "lora", 1.0, -200.0, 50.0, 868.1, "SF12BW125", 0xFFFFFFFF, "0016c001ff10a235", 255, 0)
    assert set(envelope(good, "gw")) == set(SCHEMA["properties"])
    bad = ReceivedFrame(frame, "lora", 1.0, 90.0, math.nan, -1.0, "x" * 33, 2**32, "0016C001FF10A235", 256, -1)
    env = envelope(bad, "gw")
    assert set(env) == {"v", "gateway_id", "rx_time_ms", "radio", "frame"}
    assert errors(SCHEMA, json.loads(encode_envelope(bad, "gw"))) == []
