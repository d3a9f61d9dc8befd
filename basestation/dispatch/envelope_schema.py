"""The uplink envelope's schema (docs/schemas/uplink-envelope.schema.json) as msgspec checks it while decoding.

Kept apart from the parsing logic in ``envelope``, which is compiled (``nightwatch.native``): a compiled module
keeps no usable annotations, and msgspec reads its schema from them.
"""

from typing import Annotated, Literal

import msgspec

Radio = Literal["ble", "lora"]


class Envelope(msgspec.Struct, gc=False):
    """The envelope's schema (docs/schemas/uplink-envelope.schema.json), checked by msgspec while it decodes.

    One C pass decodes and validates: about a fifth of json.loads followed by checks in Python, and the parser
    runs for every copy of every frame (bench/dispatch_bench.py). Bools are not integers here, NaN is not JSON.
    """

    v: Literal[1]
    gateway_id: str
    rx_time_ms: Annotated[int, msgspec.Meta(ge=0, le=1 << 53)]
    radio: Radio
    frame: Annotated[str, msgspec.Meta(max_length=128)]  # hex: checked by decoding it, cheaper than a pattern
    rssi: Annotated[float, msgspec.Meta(ge=-200, le=50)] | None = None
    snr: Annotated[float, msgspec.Meta(ge=-50, le=50)] | None = None
    freq_mhz: Annotated[float, msgspec.Meta(ge=0, le=10_000)] | None = None
    datr: Annotated[str, msgspec.Meta(max_length=32)] | None = None
    tmst: Annotated[int, msgspec.Meta(ge=0, le=0xFFFFFFFF)] | None = None
    forwarder: Annotated[str, msgspec.Meta(min_length=16, max_length=16)] | None = None  # lower-case hex


decode = msgspec.json.Decoder(Envelope).decode
