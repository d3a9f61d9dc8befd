"""The service's envelope parser and the published JSON Schema agree: the file is what the envelope's msgspec type
generates, and on generated envelopes, valid and not, the parser accepts exactly what a JSON Schema validator
accepts. Everything it refuses is an EnvelopeError (``malformed_envelope``), nothing else."""

import json
import math
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from basestation.dispatch.core.envelope import MAX_PAYLOAD, UP_PREFIX, EnvelopeError, parse
from basestation.dispatch.core.envelope_schema import SCHEMA_PATH, schema_text
from basestation.dispatch.core.outcomes import Outcome
from basestation.dispatch.core.pipeline import UplinkPipeline
from basestation.dispatch.core.state import DispatchState
from tests.fuzz import examples
from tests.gateway.schema_check import errors, load, valid

SCHEMA = load("uplink-envelope.schema.json")
GOOD: dict[str, Any] = {
    "v": 1,
    "gateway_id": "leiden-station",
    "rx_time_ms": 1763776800123,
    "radio": "lora",
    "frame": "10" + "a3" * 23,
    "rssi": -97,
    "snr": 7.5,
    "freq_mhz": 868.5,
    "datr": "SF9BW125",
    "tmst": 3512348611,
    "forwarder": "0016c001ff10a235",
    "chan": 2,
    "rfch": 0,
}
REQUIRED = ("v", "gateway_id", "rx_time_ms", "radio", "frame")


def accepted(doc: dict[str, Any]) -> bool:
    """Whether the service takes the envelope, published on the topic of the gateway id it names."""
    gw = doc.get("gateway_id")
    topic = UP_PREFIX + (gw if isinstance(gw, str) else "gw-1")
    try:
        parse(topic, json.dumps(doc, allow_nan=False).encode())
    except EnvelopeError:
        return False
    return True


def test_the_published_schema_is_the_generated_one() -> None:
    assert SCHEMA_PATH.read_text() == schema_text(), "run: python -m basestation.dispatch.core.envelope_schema"


def test_the_example_envelope_is_valid_for_both() -> None:
    assert errors(SCHEMA, GOOD) == []
    assert accepted(GOOD)


@pytest.mark.parametrize(
    ("change", "valid_"),
    [
        # The cases the service and the schema once disagreed on: now both refuse.
        ({"rssi": None}, False),  # a gateway that knows no RSSI leaves the field out
        ({"chan": 300}, False),
        ({"frame": "10" + "A3" * 23}, False),  # gateways write lower case
        ({"rfch": -1}, False),
        ({"forwarder": "0016C001FF10A235"}, False),
        ({"frame": "10 " + "a3" * 23}, False),
        ({"frame": "10" + "a3" * 23 + "\n"}, False),
        ({"frame": ""}, False),
        ({"frame": "a"}, False),
        ({"frame": "10" * 65}, False),
        ({"gateway_id": "leiden-station\n"}, False),
        ({"tmst": 1.5}, False),
        ({"v": 2}, False),
        ({"v": True}, False),
        ({"rx_time_ms": 2**53 + 1}, False),
        ({"datr": "x" * 33}, False),
        # ... and both accept.
        ({"extra": {"nested": [1, None]}}, True),  # unknown fields are ignored: a gateway may add some
        ({"rx_time_ms": 1763776800123.0, "tmst": 5.0, "v": 1.0, "chan": 2.0}, True),  # an integer spelt 5.0
        ({"rssi": -200, "snr": 50, "freq_mhz": 0}, True),
        ({"frame": "11" + "00" * 15}, True),  # another size or version: the frame's fault, not the envelope's
        ({"frame": "ff" * 64}, True),
        ({"rx_time_ms": 2**53}, True),
    ],
)
def test_the_disputed_cases(change: dict[str, Any], valid_: bool) -> None:
    doc = {**GOOD, **change}
    assert valid(SCHEMA, doc) is valid_
    assert accepted(doc) is valid_


@pytest.mark.parametrize("field", REQUIRED)
def test_every_required_field_is_required(field: str) -> None:
    doc = {k: v for k, v in GOOD.items() if k != field}
    assert not valid(SCHEMA, doc)
    assert not accepted(doc)


@pytest.mark.parametrize("field", [k for k in GOOD if k not in REQUIRED])
def test_every_other_field_may_be_left_out(field: str) -> None:
    doc = {k: v for k, v in GOOD.items() if k != field}
    assert valid(SCHEMA, doc)
    assert accepted(doc)


def test_what_the_schema_cannot_say_is_refused_too() -> None:
    # Beyond any schema: the topic names the gateway, the message has a size limit, and the payload is JSON.
    with pytest.raises(EnvelopeError, match="differs from the topic"):
        parse(UP_PREFIX + "another", json.dumps(GOOD).encode())
    with pytest.raises(EnvelopeError, match="too large"):
        parse(UP_PREFIX + "leiden-station", json.dumps({**GOOD, "extra": "x" * MAX_PAYLOAD}).encode())
    with pytest.raises(EnvelopeError):
        parse(UP_PREFIX + "leiden-station", json.dumps({**GOOD, "rssi": math.nan}).encode())


def test_a_refused_envelope_is_counted_as_malformed_and_nothing_else_happens() -> None:
    state = DispatchState()
    ctx = UplinkPipeline(state).handle(UP_PREFIX + "leiden-station", json.dumps({**GOOD, "rssi": None}).encode(), 1)
    assert ctx.outcome == Outcome.MALFORMED_ENVELOPE
    assert state.counts == {Outcome.MALFORMED_ENVELOPE: 1}
    assert not ctx.effects.durable and not ctx.effects.pushes


# -- generated envelopes --------------------------------------------------------------------------------------

finite = st.floats(allow_nan=False, allow_infinity=False)
# Values around every bound in the schema, in both spellings of a number.
edges = st.sampled_from([0, 1, -1, 50, 51, -50, -51, -200, -201, 255, 256, 10_000, 10_001, 2**32 - 1, 2**32])
edges |= st.sampled_from([2**53 - 1, 2**53, 2**53 + 1, 2**63, 2**64, -(2**63) - 1, 10**30])
numbers = (
    st.integers()
    | finite
    | edges
    | edges.map(float)
    | edges.map(lambda n: n + 0.5)
    | st.floats(-210, 60).map(lambda f: round(f, 1))
)
hex_text = st.binary(max_size=70).map(bytes.hex)
strings = (
    st.text(max_size=70)
    | hex_text
    | hex_text.map(str.upper)
    | hex_text.map(lambda h: h + "\n")
    | hex_text.map(lambda h: h[1:])
    | st.binary(min_size=8, max_size=8).map(bytes.hex)
    | st.from_regex(r"[A-Za-z0-9_.-]{1,70}", fullmatch=True)
    | st.sampled_from(["ble", "lora", "BLE", "wifi", "SF9BW125"])
)
json_values = st.recursive(
    st.none() | st.booleans() | numbers | strings,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
field_values = st.none() | st.booleans() | numbers | strings | json_values


@st.composite
def envelopes(draw: st.DrawFn) -> dict[str, Any]:
    """The good envelope with a few fields changed, removed or added: mostly near valid, so that every
    constraint is tried on its own."""
    doc = dict(GOOD)
    for name in draw(st.lists(st.sampled_from([*GOOD, "extra", "Rssi"]), max_size=3, unique=True)):
        if draw(st.booleans()) and name in doc:
            del doc[name]
        else:
            doc[name] = draw(field_values)
    return doc


@settings(max_examples=examples(2000), deadline=None)
@given(envelopes())
@example({**GOOD, "rssi": None})
@example({**GOOD, "tmst": 2**64})
@example({**GOOD, "gateway_id": "é"})
def test_the_service_accepts_exactly_what_the_schema_accepts(doc: dict[str, Any]) -> None:
    payload = json.dumps(doc)
    if len(payload) > MAX_PAYLOAD:
        return
    assert accepted(doc) is valid(SCHEMA, json.loads(payload)), errors(SCHEMA, doc)
