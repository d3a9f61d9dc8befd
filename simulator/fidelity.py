"""Fidelity check: a ring's life from the simulation, replayed under the real MicroPython interpreter.

The engine runs the firmware under CPython for speed. For the rings chosen here, the button edges and the ACKs the
ring heard become a timeline for the host runner (firmware/host/runner.py, the same one `nightwatch keyring run`
uses), which runs the same firmware on the MicroPython unix port; the frames it puts on air must be the
simulation's, byte for byte and at the same millisecond. A difference means the two runtimes disagree, or the
simulator drives the ring differently from the runner.
"""

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

from firmware.host.interpreter import run_micropython
from simulator.engine import Engine
from simulator.ring import SimRing


@dataclass(frozen=True, slots=True)
class RingCheck:
    ring: int
    frames: int  # frames the simulation sent
    matched: int  # leading frames identical in time, radio and bytes
    first_difference: str  # "" when all match

    @property
    def ok(self) -> bool:
        return not self.first_difference


def timeline(ring: SimRing, end_rel_ms: int) -> str:
    items = [f"{name}@{t}" for t, name in ring.inputs if t < end_rel_ms]
    return ",".join([*items, f"end@{end_rel_ms}"])


def check_ring(ring: SimRing, end_ms: float, timeout: float = 300) -> RingCheck:
    end_rel = int(end_ms) - ring.boot_ms
    # Through a file: the runner first tries open() on an inline timeline, and the unix port aborts
    # ("FATAL: uncaught NLR") on a name of several KB.
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "timeline.txt"
        spec.write_text(timeline(ring, end_rel), encoding="utf-8")
        args = ["-m", "firmware.host.runner", "--key", "-", "--device-id", str(ring.cfg.device_id)]
        if ring.settings:
            args += ["--settings", json.dumps(ring.settings)]
        done = run_micropython([*args, "--timeline", str(spec)], timeout=timeout, stdin=ring.cfg.root_key.hex() + "\n")
    if done.returncode != 0:
        return RingCheck(ring.index, len(ring.sent), 0, f"runner failed: {done.stderr.strip()[-300:]}")
    theirs = []
    for line in done.stdout.splitlines():
        rec = json.loads(line)
        if rec.get("kind") == "radio" and rec["t_ms"] < end_rel:
            theirs.append((int(rec["t_ms"]), rec["radio"], rec["frame"]))
    ours = [f for f in ring.sent if f[0] < end_rel]
    matched = 0
    for a, b in zip(ours, theirs, strict=False):
        if a != b:
            return RingCheck(ring.index, len(ours), matched, f"simulation {a} / micropython {b}")
        matched += 1
    if len(ours) != len(theirs):
        return RingCheck(ring.index, len(ours), matched, f"{len(ours)} frames / micropython {len(theirs)}")
    return RingCheck(ring.index, len(ours), matched, "")


def check(engine: Engine, rings: int) -> list[RingCheck]:
    """Replay the first ``rings`` rings that raised an alarm (else any exact rings) under MicroPython."""
    chosen: list[int] = []
    for t in engine.traces:
        if t.ring not in chosen:
            chosen.append(t.ring)
    chosen += [i for i in engine.rings if i not in chosen]
    return [check_ring(engine.rings[i], engine.end_ms) for i in chosen[:rings]]
