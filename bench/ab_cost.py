"""The dispatch pipeline's CPU per uplink in two trees, A and B, round by round: ``python -m bench.ab --a X --b Y``.

A side is a checkout's directory or a git revision of this repository, checked out with ``git worktree add``
into a temp dir and removed at the end. Every measurement is bench/pipeline_cost.py, this checkout's, in a fresh
interpreter whose working directory and ``PYTHONPATH`` are the side's tree, with ``NIGHTWATCH_NATIVE=0``: the
trees' code runs interpreted, so neither needs compiling and neither has an advantage from it. The two sides
take turns, the order alternating (A B, B A, A B, ...), so that what drifts on this machine during the run falls
on both. bench/ab_band.py makes B/A and its band of the rounds.
"""

import contextlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.ab_band import FLOOR, verdict
from bench.common import cpu_ticks, steal_pct

ROOT = Path(__file__).resolve().parent.parent
PROBE = Path(__file__).resolve().parent / "pipeline_cost.py"
FIGURE = "cpu_us_per_uplink"  # CPU, not wall time: on two shared cores the wall clock mostly measures the others
PROBE_TIMEOUT_S = 300.0
ROUNDS = 6


@dataclass(frozen=True)
class Side:
    spec: str  # as given: a directory or a git revision
    tree: Path
    commit: str | None  # the revision's commit; None for a directory


def _git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(ROOT), *args], check=True, capture_output=True, text=True).stdout.strip()


@contextlib.contextmanager
def checkout(spec: str, workdir: Path, name: str) -> Iterator[Side]:
    """``spec`` as a tree to measure: a directory as it is, a revision in a worktree of its own for as long as
    the context lasts."""
    if Path(spec).is_dir():
        yield Side(spec, Path(spec).resolve(), None)
        return
    try:
        commit = _git("rev-parse", "--verify", f"{spec}^{{commit}}")
    except subprocess.CalledProcessError:
        raise SystemExit(f"{spec!r} is neither a directory nor a git revision of {ROOT}") from None
    tree = workdir / name
    _git("worktree", "add", "--detach", "--quiet", str(tree), commit)
    try:
        yield Side(spec, tree, commit)
    finally:
        _git("worktree", "remove", "--force", str(tree))


def probe(side: Side, devices: int) -> dict[str, Any]:
    """One measurement of ``side`` in a fresh interpreter."""
    env = dict(os.environ, PYTHONPATH=str(side.tree), NIGHTWATCH_NATIVE="0")
    argv = [sys.executable, "-P", str(PROBE), "--devices", str(devices)]
    done = subprocess.run(
        argv, cwd=side.tree, env=env, capture_output=True, text=True, timeout=PROBE_TIMEOUT_S, check=False
    )
    if done.returncode != 0:  # its stderr is what says why
        raise RuntimeError(f"the measurement of {side.spec} failed:\n{done.stderr[-3000:]}")
    doc: dict[str, Any] = json.loads(done.stdout)
    # PYTHONPATH ahead of the editable install is what makes this the side's code: checked, not assumed.
    if not Path(doc["pipeline_source"]).is_relative_to(side.tree) or doc["compiled"]:
        raise RuntimeError(f"{side.spec}: measured {doc['pipeline_source']} (compiled: {doc['compiled']})")
    return doc


def compare(spec_a: str, spec_b: str, rounds: int, devices: int, floor: float = FLOOR) -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = {"a": [], "b": []}
    order: list[str] = []
    with tempfile.TemporaryDirectory(prefix="nightwatch-ab-") as tmp, contextlib.ExitStack() as stack:
        sides = {
            "a": stack.enter_context(checkout(spec_a, Path(tmp), "a")),
            "b": stack.enter_context(checkout(spec_b, Path(tmp), "b")),
        }
        # One unmeasured run a side first: a fresh worktree compiles its bytecode on its first import, and its
        # files are not yet in the page cache; that is not what its code costs.
        for name in ("a", "b"):
            probe(sides[name], devices)
        ticks = cpu_ticks()
        for i in range(rounds):
            for name in ("a", "b") if i % 2 == 0 else ("b", "a"):
                runs[name].append(probe(sides[name], devices))
                order.append(name)
            print(f"round {i + 1}/{rounds}", file=sys.stderr, flush=True)
        steal = steal_pct(ticks, cpu_ticks())
    a = [r[FIGURE] for r in runs["a"]]
    b = [r[FIGURE] for r in runs["b"]]
    v = verdict(a, b, floor)

    def side(name: str, figures: list[float]) -> dict[str, Any]:
        s = sides[name]
        return {
            "spec": s.spec,
            "commit": s.commit,
            "tree": str(s.tree),
            FIGURE: figures,
            "outcomes": runs[name][0]["outcomes"],
        }

    return {
        "measure": "dispatch pipeline CPU per uplink, interpreted (bench/pipeline_cost.py)",
        "a": side("a", a),
        "b": side("b", b),
        "b_over_a": round(v.ratio, 4),
        "band": [round(v.low, 4), round(v.high, 4)],
        "inside_band": v.inside,
        "round_ratios": [round(r, 4) for r in v.round_ratios],
        # The same uplinks, handled alike by both trees, else the two costs are of different work.
        "same_outcomes": all(r["outcomes"] == runs["a"][0]["outcomes"] for r in runs["a"] + runs["b"]),
        "rounds": rounds,
        "order": order,
        "devices": devices,
        "uplinks": runs["a"][0]["uplinks"],
        "floor": floor,
        "machine_steal_pct": steal,
        "loadavg_at_end": [round(x, 2) for x in os.getloadavg()],
    }


def report(result: dict[str, Any]) -> str:
    lines = []
    for name in ("a", "b"):
        s = result[name]
        label = f"{s['spec']} ({s['commit'][:10]})" if s["commit"] else s["spec"]
        figures = " ".join(f"{x:.2f}" for x in s[FIGURE])
        lines.append(f"{name}  {label}: CPU us per uplink by round {figures}")
    low, high = result["band"]
    where = "inside" if result["inside_band"] else "OUTSIDE"
    lines.append(
        f"B/A {result['b_over_a']:.4f}, band {low:.4f}-{high:.4f}: {where} "
        f"({result['rounds']} rounds of {result['uplinks']} uplinks a side; round ratios "
        + " ".join(f"{r:.3f}" for r in result["round_ratios"])
        + f"; steal {result['machine_steal_pct']} %, load {result['loadavg_at_end'][0]})"
    )
    if not result["same_outcomes"]:
        lines.append("the two trees handled the uplinks differently (outcomes): the costs are of different work")
    return "\n".join(lines)
