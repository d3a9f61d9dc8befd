import json
from pathlib import Path
from typing import Any

import pytest

from harness import make_vectors
from protocol.constants import (
    ACK_SEQ_MAX,
    ACK_SEQ_OFFSET,
    ACK_SIZE,
    ACK_STATE_NAMES,
    DIR_DOWN,
    EVENT_CANCEL,
    EVENT_DURESS,
    EVENT_ESCORT,
    EVENT_NAMES,
    EVENT_SOS,
    EVENT_TEST,
    FLAG_ACK_REQUESTED,
    REASONS,
    UPLINK_SIZE,
)
from protocol.keys import DeviceKeys
from tests import micropython
from tests.protocol import vectors_check

VECTORS = make_vectors.PATH


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(VECTORS.read_text())
    return loaded


def test_committed_vectors_are_what_the_generator_writes() -> None:
    assert VECTORS.read_text() == make_vectors.render(), "run: python -m harness.make_vectors"


def test_vectors_cover_the_spec(doc: dict[str, Any]) -> None:
    vectors = doc["vectors"]
    assert len(vectors) >= 30
    events = {v["fields"]["event"] for v in vectors if v["kind"] == "uplink"}
    assert events == set(EVENT_NAMES)
    reasons = {v["reason"] for v in vectors if v.get("reason")}
    # too_old, replay and device come from the replay vectors and the resolver tests, not from decode alone.
    assert reasons >= set(REASONS) - {"too_old", "replay", "device"}
    verdicts = {x for v in vectors if v["kind"] == "replay" for x in v["verdicts"]}
    assert verdicts == {"accept", "replay", "too_old"}
    counters = {v["counter"] for v in vectors if v["kind"] == "uplink"}
    assert {1, 255, 256, 65535, 65536, (1 << 20) - 1, 0xFFFFFFFF} <= counters


def test_vectors_cover_every_ack_state_and_the_last_seq(doc: dict[str, Any]) -> None:
    acks = [v for v in doc["vectors"] if v["kind"] == "ack"]
    assert {v["state"] for v in acks} == set(ACK_STATE_NAMES.values())
    assert any(v["seq"] == ACK_SEQ_MAX and v["state"] == "closed" for v in acks)


def _ack_state(v: dict[str, Any]) -> int:
    # The state byte of a sealed frame, decrypted by hand: the codec would refuse to give it.
    frame = bytes.fromhex(v["frame"])
    keys = DeviceKeys(bytes.fromhex(v["root_key"]))
    return frame[6] ^ keys.keystream(DIR_DOWN, v["counter"], frame[ACK_SEQ_OFFSET])[0]


def test_vectors_reject_the_state_after_the_last_one(doc: dict[str, Any]) -> None:
    bad = {
        _ack_state(v)
        for v in doc["vectors"]
        if v["kind"] == "ack_reject" and v["reason"] == "field" and len(v["frame"]) == 2 * ACK_SIZE
    }
    assert {0, max(ACK_STATE_NAMES) + 1, 255} <= bad


@pytest.mark.parametrize(("kind", "size"), [("uplink_reject", UPLINK_SIZE), ("ack_reject", ACK_SIZE)])
def test_vectors_show_version_is_read_before_length(doc: dict[str, Any], kind: str, size: int) -> None:
    shapes = {(len(v["frame"]) // 2, v["reason"]) for v in doc["vectors"] if v["kind"] == kind}
    assert (0, "length") in shapes
    assert (1, "version") in shapes and (1, "length") in shapes
    # A frame of the other type, at its own length, is `version` (SPEC 9).
    assert (UPLINK_SIZE + ACK_SIZE - size, "version") in shapes


def test_vectors_hold_alarms_without_ack_requested(doc: dict[str, Any]) -> None:
    # SPEC 4.4: valid frames that a decoder must accept, which test_vectors_hold_* then checks.
    bare = {
        v["fields"]["event"]
        for v in doc["vectors"]
        if v["kind"] == "uplink" and not v["fields"]["flags"] & FLAG_ACK_REQUESTED
    }
    assert bare >= {EVENT_SOS, EVENT_ESCORT, EVENT_CANCEL, EVENT_DURESS, EVENT_TEST}


def test_vectors_hold_on_cpython(doc: dict[str, Any]) -> None:
    assert vectors_check.check(doc) == []


@pytest.mark.micropython
def test_vectors_hold_on_micropython(doc: dict[str, Any]) -> None:
    proc = micropython.run(Path(vectors_check.__file__), str(VECTORS))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip().endswith(f"{len(doc['vectors'])} passed, 0 failed")


def test_a_broken_vector_is_caught(doc: dict[str, Any]) -> None:
    v = dict(next(v for v in doc["vectors"] if v["kind"] == "uplink"))
    v["frame"] = v["frame"][:-2] + ("00" if v["frame"][-2:] != "00" else "01")
    assert vectors_check.check({"vectors": [v]}) != []
