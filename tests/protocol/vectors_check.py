"""Checks protocol/vectors.json against the codec. Runs unchanged on MicroPython and CPython.

Usage on either runtime: ``vectors_check.py PATH``; prints one line per failure and a closing count, and exits
non-zero when any vector fails. pytest imports :func:`check` directly as well.
"""

import json
import sys

from protocol import ack, uplink
from protocol.constants import ACK_STATE_CODES, LOOKAHEAD, LOOKBEHIND
from protocol.errors import FrameError
from protocol.keys import DeviceKeys
from protocol.replay import ReplayWindow

try:  # for the type checker only; MicroPython has no typing and never evaluates the string annotations
    from collections.abc import Callable
    from typing import Any
except ImportError:
    pass


def _unhex(s: "str") -> "bytes":
    return bytes.fromhex(s)


def _reason(fn: "Callable[[], object]") -> "str | None":
    try:
        fn()
    except FrameError as e:
        return e.reason
    return None


def _resolve(keys: "DeviceKeys", highest: "int", frame: "bytes") -> "int":
    # SPEC 7.1: the counters a server must recognise without a recovery sweep, scanned one by one here.
    pid = uplink.check_shape(frame)
    lo = max(1, highest - LOOKBEHIND + 1)
    for counter in range(lo, highest + LOOKAHEAD + 1):
        if uplink.pseudonym(keys, counter) == pid and uplink.verify(keys, frame, counter):
            return counter
    raise FrameError("unknown_device")


def check_one(v: "dict[str, Any]") -> "str | None":
    """None when the vector holds, else a description of what differed."""
    kind = v["kind"]
    if kind == "replay":
        w = ReplayWindow(v["highest"], v["bitmap"])
        verdicts = [w.accept(c) for c in v["counters"]]
        return None if verdicts == v["verdicts"] else "verdicts " + str(verdicts)
    keys = DeviceKeys(_unhex(v["root_key"]))
    if kind == "kdf":
        derived = [keys.k_mic.hex(), keys.k_enc.hex(), keys.k_id.hex()]
        return None if derived == [v["k_mic"], v["k_enc"], v["k_id"]] else "derived keys differ"
    if kind == "uplink":
        f = v["fields"]
        up = uplink.Uplink(v["counter"], f["device_id"], f["event"], f["battery"], f["aux"], f["age"], f["flags"])
        frame = uplink.encode(keys, up)
        if frame.hex() != v["frame"]:
            return "encoded " + frame.hex()
        if uplink.pseudonym(keys, v["counter"]).hex() != v["pseudonym"]:
            return "pseudonym differs"
        if uplink.decode(keys, _unhex(v["frame"]), v["counter"]) != up:
            return "decoded fields differ"
        return None
    if kind == "uplink_reject":
        frame = _unhex(v["frame"])
        got = _reason(lambda: uplink.decode(keys, frame, v["counter"]))
        return None if got == v["reason"] else "reason " + str(got)
    if kind == "ack":
        a = ack.Ack(v["counter"], ACK_STATE_CODES[v["state"]], v["seq"], v["eta_min"])
        if ack.encode(keys, a).hex() != v["frame"]:
            return "encoded ack differs"
        return None if ack.decode(keys, _unhex(v["frame"]), v["counter"]) == a else "decoded ack differs"
    if kind == "ack_reject":
        frame = _unhex(v["frame"])
        got = _reason(lambda: ack.decode(keys, frame, v["counter"]))
        return None if got == v["reason"] else "reason " + str(got)
    if kind == "resolve":
        frame = _unhex(v["frame"])
        try:
            counter = _resolve(keys, v["highest"], frame)
        except FrameError as e:
            return None if e.reason == v["reason"] else "reason " + e.reason
        if counter == v["counter"] and v["reason"] is None:
            return None
        return "resolved " + str(counter)
    return "unknown kind " + str(kind)


def check(doc: "dict[str, Any]") -> "list[str]":
    failures = []
    for v in doc["vectors"]:
        try:
            problem = check_one(v)
        except Exception as e:  # a crash is a failure of this vector, reported with the rest
            problem = "raised " + repr(e)
        if problem is not None:
            failures.append(v["kind"] + " / " + v["name"] + ": " + problem)
    return failures


def main(path: "str") -> "int":
    with open(path) as fh:
        doc = json.load(fh)
    failures = check(doc)
    for line in failures:
        print("FAIL " + line)
    total = len(doc["vectors"])
    print(str(total - len(failures)) + " passed, " + str(len(failures)) + " failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
