import json
from pathlib import Path
from typing import Any

import pytest

from protocol import make_vectors
from protocol.constants import EVENT_NAMES, REASONS
from tests import micropython
from tests.protocol import vectors_check

VECTORS = Path(make_vectors.__file__).with_name("vectors.json")


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(VECTORS.read_text())
    return loaded


def test_committed_vectors_are_what_the_generator_writes() -> None:
    assert VECTORS.read_text() == make_vectors.render(), "run: python -m protocol.make_vectors"


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
