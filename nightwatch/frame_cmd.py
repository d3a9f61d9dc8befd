"""`nightwatch frame`: encode and decode frames by hand, for operators and developers debugging captures."""

import json
import sys
from typing import Annotated, NoReturn

import typer

from basestation.pseudonyms.resolver import search_key
from basestation.pseudonyms.search import find_counters
from protocol import ack, uplink
from protocol.constants import (
    ACK_SEQ_OFFSET,
    ACK_STATE_CODES,
    ACK_TAG_OFFSET,
    ACK_TAG_SIZE,
    BATTERY_UNKNOWN,
    COUNTER_MAX,
    COUNTER_MIN,
    DIR_DOWN,
    EVENT_CANCEL,
    EVENT_CODES,
    EVENT_DURESS,
    EVENT_HEARTBEAT,
    EVENT_LOW_BATTERY,
    FLAG_ACK_REQUESTED,
    FLAG_BOOT,
    REASON_DEVICE,
    REASON_UNKNOWN_DEVICE,
    VERSION_ACK,
)
from protocol.errors import FrameError
from protocol.keys import DeviceKeys, parse_root_key

frame_app = typer.Typer(no_args_is_help=True, help="Encode and decode Nightwatch frames (protocol v1).")

SEARCH_LIMIT = (1 << 20) - 1

KeyOpt = Annotated[str, typer.Option("--key", help="Device root key, 32 hex digits.")]
TimeOpt = Annotated[
    int | None,
    typer.Option("--time", help="Unix time. Accepted for tools that pass it; v1 pseudonyms do not use time."),
]


def _keys(key: str) -> DeviceKeys:
    try:
        return DeviceKeys(parse_root_key(key))
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--key") from None


def _fail(reason: str, detail: str = "") -> NoReturn:
    print(json.dumps({"error": reason, "detail": detail}))
    raise typer.Exit(2)


@frame_app.command()
def encode(
    key: KeyOpt,
    device_id: Annotated[int, typer.Option("--device-id", min=0, max=0xFFFFFFFF)],
    counter: Annotated[int, typer.Option("--counter", min=1, max=0xFFFFFFFF)],
    event: Annotated[str, typer.Option("--event", help="sos, escort, cancel, duress, heartbeat, low_battery, test")],
    battery: Annotated[int | None, typer.Option("--battery", min=0, max=100, help="Percent.")] = None,
    age: Annotated[int, typer.Option("--age", min=0, max=0xFFFF, help="Seconds since the press.")] = 0,
    cancels: Annotated[
        int | None, typer.Option("--cancels", help="Counter of the alarm a cancel or duress ends.")
    ] = None,
    period: Annotated[int, typer.Option("--period", min=0, max=0xFFFF, help="Heartbeat period, minutes.")] = 0,
    ack_requested: Annotated[bool, typer.Option("--ack-requested")] = False,
    boot: Annotated[bool, typer.Option("--boot")] = False,
    time: TimeOpt = None,
) -> None:
    """Print one uplink frame as hex."""
    code = EVENT_CODES.get(event.lower())
    if code is None:
        raise typer.BadParameter("unknown event " + repr(event), param_hint="--event")
    aux = 0
    if code in (EVENT_CANCEL, EVENT_DURESS):
        if cancels is None:
            raise typer.BadParameter("a cancel or duress names the alarm it ends", param_hint="--cancels")
        aux = counter - cancels
    elif code in (EVENT_HEARTBEAT, EVENT_LOW_BATTERY):
        aux = period
    flags = (FLAG_ACK_REQUESTED if ack_requested else 0) | (FLAG_BOOT if boot else 0)
    up = uplink.Uplink(counter, device_id, code, BATTERY_UNKNOWN if battery is None else battery, aux, age, flags)
    try:
        print(uplink.encode(_keys(key), up).hex())
    except FrameError as e:
        _fail(e.reason, e.detail)


@frame_app.command("ack")
def encode_ack(
    key: KeyOpt,
    counter: Annotated[int, typer.Option("--counter", min=1, max=0xFFFFFFFF, help="Counter of the uplink.")],
    state: Annotated[str, typer.Option("--state", help=", ".join(ACK_STATE_CODES))],
    seq: Annotated[int, typer.Option("--seq", min=0, max=255)] = 0,
    eta: Annotated[int, typer.Option("--eta", min=0, max=255, help="Minutes, 0 if unknown.")] = 0,
) -> None:
    """Print one downlink ACK as hex."""
    code = ACK_STATE_CODES.get(state.lower())
    if code is None:
        raise typer.BadParameter("unknown state " + repr(state), param_hint="--state")
    print(ack.encode(_keys(key), ack.Ack(counter, code, seq, eta)).hex())


def _decode_ack(keys: DeviceKeys, frame: bytes, counter: int | None) -> dict[str, object]:
    # A given counter is tried alone, as for an uplink: the search stops at 2^20, and a ring's counters go on to
    # 2^32 - 1, so an ACK for a later alarm is found only this way.
    if counter is not None:
        return {"type": "ack", **ack.decode(keys, frame, counter).to_dict()}
    ack.check_shape(frame)
    seq = frame[ACK_SEQ_OFFSET]
    tag = frame[ACK_TAG_OFFSET : ACK_TAG_OFFSET + ACK_TAG_SIZE]
    for found in find_counters(keys.k_id, tag, DIR_DOWN, seq, 1, SEARCH_LIMIT):
        try:
            return {"type": "ack", **ack.decode(keys, frame, found).to_dict()}
        except FrameError as e:
            if e.reason != REASON_UNKNOWN_DEVICE:
                raise
    raise FrameError(REASON_UNKNOWN_DEVICE, "no counter below 2^20 matches; give it with --counter")


@frame_app.command()
def decode(
    frame_hex: Annotated[str, typer.Argument(metavar="HEX", help="The frame, as hex.")],
    key: KeyOpt,
    device_id: Annotated[int | None, typer.Option("--device-id", help="Expected device id.")] = None,
    counter: Annotated[
        int | None,
        typer.Option("--counter", min=COUNTER_MIN, max=COUNTER_MAX, help="Skip the search: try this counter."),
    ] = None,
    time: TimeOpt = None,
) -> None:
    """Print an uplink's or an ACK's fields as JSON, searching counters below 2^20 when none is given.

    Exit status 2 with a JSON error and its reason when the frame does not verify; a first byte that is neither
    an uplink's nor an ACK's is ``version``, whatever the frame's length (SPEC 9).
    """
    keys = _keys(key)
    try:
        frame = bytes.fromhex(frame_hex.strip())
    except ValueError:
        _fail("hex", "the frame is not hexadecimal")
    try:
        if frame[:1] == bytes((VERSION_ACK,)):
            out = _decode_ack(keys, frame, counter)
        else:
            # An empty frame, a wrong first byte or a wrong length raise here, before any search.
            uplink.check_shape(frame)
            found = counter if counter is not None else search_key(keys, frame, 1, SEARCH_LIMIT)
            out = {"type": "uplink", **uplink.decode(keys, frame, found).to_dict()}
            if device_id is not None and out["device_id"] != device_id:
                raise FrameError(REASON_DEVICE, "frame carries device " + str(out["device_id"]))
    except FrameError as e:
        _fail(e.reason, e.detail)
    json.dump(out, sys.stdout)
    print()
