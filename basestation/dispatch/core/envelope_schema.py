"""The uplink envelope's one definition: msgspec checks it while decoding, and the published JSON Schema
(docs/schemas/uplink-envelope.schema.json) is generated from it, so the two cannot drift apart.

Kept apart from the parsing logic in ``envelope``, which is compiled (``nightwatch.native``): a compiled module
keeps no usable annotations, and msgspec reads its schema from them.

``python -m basestation.dispatch.core.envelope_schema`` writes the schema file; a test fails while the committed file
differs from what this module generates. Two patterns are written into the schema here but checked by
``envelope.parse``, more cheaply than msgspec would: the frame and forwarder are lower-case hex (decoding the hex
checks it), and the gateway id is the topic's, which the topic's own check already holds to the pattern.
"""

import json
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

Radio = Literal["ble", "lora"]

GATEWAY_ID = r"^[A-Za-z0-9_.-]{1,64}$"  # MQTT user name and topic level: no wildcard, no separator
MAX_FRAME = 64  # bytes
FRAME = r"^(?:[0-9a-f]{2}){1,64}$"
FORWARDER = r"^[0-9a-f]{16}$"

# JSON Schema's "integer" is a value, not a spelling: 1763776800123.0 is an integer to every validator, so the
# service takes it too (a gateway that did arithmetic in floats must not lose an alarm to a schema that said yes).
# msgspec decodes that spelling as a float, and refuses one with a fraction (multiple_of) in the same C pass.
Version = Annotated[
    Annotated[int, Meta(ge=1, le=1)] | Annotated[float, Meta(ge=1, le=1, multiple_of=1)],
    Meta(description="Envelope version."),
]
RxTime = Annotated[
    Annotated[int, Meta(ge=0, le=1 << 53)] | Annotated[float, Meta(ge=0, le=1 << 53, multiple_of=1)],
    Meta(description="The gateway's clock when it heard the copy, Unix milliseconds (NTP-synchronised)."),
]
Tmst = Annotated[
    Annotated[int, Meta(ge=0, le=0xFFFFFFFF)] | Annotated[float, Meta(ge=0, le=0xFFFFFFFF, multiple_of=1)],
    Meta(description="Concentrator counter in microseconds (wraps at 2^32); a timed downlink is scheduled on it."),
]
Chan = Annotated[
    Annotated[int, Meta(ge=0, le=255)] | Annotated[float, Meta(ge=0, le=255, multiple_of=1)],
    Meta(description="Concentrator IF channel."),
]
Rfch = Annotated[
    Annotated[int, Meta(ge=0, le=255)] | Annotated[float, Meta(ge=0, le=255, multiple_of=1)],
    Meta(description="Concentrator RF chain."),
]


class Envelope(msgspec.Struct, gc=False):
    """The envelope (docs/mqtt.md), checked by msgspec while it decodes.

    One C pass decodes and validates: about a fifth of json.loads followed by checks in Python, and the parser
    runs for every copy of every frame (bench/dispatch_bench.py). Bools are not numbers here, NaN is not JSON.
    An optional field is absent or valid, never null (``UNSET``): a gateway leaves out what its radio did not
    report. Fields not named here are ignored, in the schema as in the service (docs/mqtt.md, "Uplink envelope").
    """

    v: Version
    gateway_id: Annotated[
        str, Meta(description="The gateway that heard it.", extra_json_schema={"pattern": GATEWAY_ID})
    ]
    rx_time_ms: RxTime
    radio: Annotated[Radio, Meta(description="Which radio heard it.")]
    frame: Annotated[
        str,
        Meta(
            min_length=2,
            max_length=2 * MAX_FRAME,
            description="The raw frame, lower-case hex; a v1 uplink is 24 bytes, first byte 0x10. The service "
            "judges the frame itself: another size or version is a malformed frame, not a malformed envelope.",
            extra_json_schema={"pattern": FRAME},
        ),
    ]
    rssi: Annotated[float, Meta(ge=-200, le=50, description="dBm.")] | UnsetType = UNSET
    snr: Annotated[float, Meta(ge=-50, le=50, description="LoRa SNR, dB.")] | UnsetType = UNSET
    freq_mhz: Annotated[float, Meta(ge=0, le=10_000, description="Centre frequency, MHz.")] | UnsetType = UNSET
    datr: (
        Annotated[str, Meta(max_length=32, description="LoRa data rate as the forwarder names it, e.g. SF9BW125.")]
        | UnsetType
    ) = UNSET
    tmst: Tmst | UnsetType = UNSET
    forwarder: (
        Annotated[
            str,
            Meta(
                min_length=16,
                max_length=16,
                description="EUI of the packet forwarder that heard it, lower-case hex.",
                extra_json_schema={"pattern": FORWARDER},
            ),
        ]
        | UnsetType
    ) = UNSET
    chan: Chan | UnsetType = UNSET
    rfch: Rfch | UnsetType = UNSET


decode = msgspec.json.Decoder(Envelope).decode

SCHEMA_PATH = Path(__file__).resolve().parents[3] / "docs" / "schemas" / "uplink-envelope.schema.json"


def json_schema() -> dict[str, Any]:
    """The published JSON Schema (draft 2020-12) of ``Envelope``."""
    generated = msgspec.json.schema(Envelope)
    body: dict[str, Any] = generated["$defs"]["Envelope"]  # the only definition: inlined, no $ref to follow
    del body["title"], body["description"]  # the class's docstring speaks to this code's readers, not gateways'
    body["properties"] = {name: _integers(prop) for name, prop in body["properties"].items()}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://nightwatch.invalid/schemas/uplink-envelope.schema.json",
        "title": "Nightwatch uplink envelope",
        "description": "One frame as one gateway heard it, published QoS 1 to nightwatch/v1/up/{gateway_id}. "
        "Generated from basestation/dispatch/core/envelope_schema.py. Fields a radio does not report are absent, never "
        "null. Fields not named here are ignored, so a gateway may add some; a field whose meaning changes needs "
        "a new v.",
        **body,
    }


def _integers(prop: dict[str, Any]) -> dict[str, Any]:
    """msgspec writes an integer field that may also be spelt as a float as anyOf integer or a number that is a
    multiple of 1; JSON Schema's integer already means exactly that. A range of one value is a constant."""
    arms = prop.get("anyOf")
    if arms is None or [a.get("type") for a in arms] != ["integer", "number"]:
        return prop
    bounds = {k: v for k, v in arms[0].items() if k != "type"}
    assert {**bounds, "multipleOf": 1} == {k: v for k, v in arms[1].items() if k != "type"}, prop
    rest = {k: v for k, v in prop.items() if k != "anyOf"}
    if bounds.get("minimum") is not None and bounds.get("minimum") == bounds.get("maximum"):
        return {**rest, "const": bounds["minimum"]}
    return {**rest, "type": "integer", **bounds}


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2) + "\n"


if __name__ == "__main__":
    SCHEMA_PATH.write_text(schema_text())
    sys.stdout.write(f"wrote {SCHEMA_PATH}\n")
