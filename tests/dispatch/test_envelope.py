"""The uplink envelope parser: table-driven cases and fuzzing; bad input is an EnvelopeError, nothing else."""

import contextlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from basestation.dispatch.core.envelope import EnvelopeError, parse
from tests.fuzz import examples

TOPIC = "nightwatch/v1/up/gw-1"
GOOD = {"v": 1, "gateway_id": "gw-1", "rx_time_ms": 1, "radio": "lora", "frame": "10" * 24, "rssi": -90.5}


def test_a_good_envelope() -> None:
    r = parse(TOPIC, json.dumps(GOOD).encode())
    assert (r.gateway_id, r.radio, r.rssi, len(r.frame)) == ("gw-1", "lora", -90.5, 24)


@pytest.mark.parametrize(
    ("topic", "change", "why"),
    [
        ("nightwatch/v1/down/gw-1", {}, "not an uplink topic"),
        ("nightwatch/v1/up/gw 1", {}, "bad gateway id"),
        (TOPIC, {"v": 2}, "version"),
        (TOPIC, {"gateway_id": "gw-2"}, "differs from the topic"),
        (TOPIC, {"rx_time_ms": -1}, "rx_time_ms"),
        (TOPIC, {"rx_time_ms": True}, "rx_time_ms"),
        (TOPIC, {"radio": "wifi"}, "radio"),
        (TOPIC, {"frame": "1"}, "frame"),
        (TOPIC, {"frame": "zz" * 24}, "frame"),
        (TOPIC, {"rssi": float("nan")}, "rssi"),
        (TOPIC, {"rssi": 1e9}, "rssi"),
        (TOPIC, {"forwarder": "GW"}, "forwarder"),
        (TOPIC, {"forwarder": "0016C001FF10A235"}, "forwarder"),
        (TOPIC, {"forwarder": "0016c001ff10a2zz"}, "forwarder"),
        (TOPIC, {"frame": "10 " + "10" * 23}, "frame"),
        (TOPIC, {"tmst": 1 << 33}, "tmst"),
    ],
)
def test_bad_envelopes_are_refused_with_a_reason(topic: str, change: dict[str, object], why: str) -> None:
    doc = {**GOOD, **change}
    with pytest.raises(EnvelopeError) as e:
        parse(topic, json.dumps(doc).encode())
    assert e.value.reason == "malformed_envelope"


def test_invalid_utf8_inside_a_json_string_is_an_envelope_error() -> None:
    # Found by the coverage-guided fuzzer (scripts/fuzz/run.py envelope). Anything but an EnvelopeError escapes
    # the pipeline, and the MQTT link then withholds the PUBACK and reconnects: the broker redelivers the same
    # message for ever, and one gateway's bad envelope stops the service.
    with pytest.raises(EnvelopeError):
        parse(TOPIC, b'{"v":1,"gateway_id":"\xcf"}')


@settings(max_examples=examples(500))
@given(st.binary(max_size=300))
def test_arbitrary_bytes_raise_only_envelope_errors(payload: bytes) -> None:
    with contextlib.suppress(EnvelopeError):
        parse(TOPIC, payload)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=examples(500))
@given(st.dictionaries(st.sampled_from([*GOOD, "extra"]), json_values, max_size=8))
def test_arbitrary_json_objects_raise_only_envelope_errors(doc: dict[str, object]) -> None:
    with contextlib.suppress(EnvelopeError):
        parse(TOPIC, json.dumps({**GOOD, **doc}).encode())
