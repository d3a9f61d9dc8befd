"""Two variants of the dispatch service side by side, latency turn for turn: A/B for one change.

    python -m bench.ab [--turns 16] [--b-env NAME=VALUE ...] [--b-path DIR] [--a-env ...] [--a-path DIR]

A variant is this checkout (the default) or another one (``--b-path``: a copy with the change, its compiled
modules built with ``PYTHONPATH=DIR .venv/bin/python scripts/build_native.py``), with settings of its own
(``--b-env NIGHTWATCH_DISPATCH_...=value``). Each runs as ``nightwatch dispatch`` on a Mosquitto of its own (a
service takes every gateway's topic: one broker would feed both), with the key rings, responders and alarms of
the dispatch benchmark's latency run (bench/dispatch_bench.py), timed the same way: publish of an alarm's first
copy to its arrival on the stream of the responder it was offered to.

Why not two runs of ``python -m bench dispatch``: this machine's speed moves by half between runs minutes apart,
far more than most changes move the latency. Here the variants take turns (A first in one, B first in the next),
every process goes quiet before each turn, and each variant's turns make one distribution; the percentiles of B
minus A are what the change did. Results go to bench/results/ab.json, not into summary.json: a comparison of two
variants is not a figure of the project.

    python -m bench.ab --a DIR|REV --b DIR|REV [--rounds 6] [--devices 3000] [--floor 0.03]

compares what the service's uplink pipeline costs instead: its CPU per uplink in two trees, each a directory or a
git revision, round by round in fresh interpreters (bench/ab_cost.py), and B/A with the band it would fall in by
chance (bench/ab_band.py). The exit status is 1 when B/A is outside the band: B costs more, or less, than A. It
writes bench/results/ab.json too: the file holds the last comparison, of either kind (its ``measure``).
"""

import argparse
import asyncio
import gc
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench import ab_cost, dispatch_service, peer_runs, pipeline_cost
from bench.ab_band import FLOOR
from bench.common import RESULTS, cpu_ticks, steal_pct
from bench.peer_runs import LATENCY_RATE, LATENCY_WARMUP, TURN_WARMUP, Sched, settle_processes, turn_blocks
from bench.service_peer import ServicePeer
from bench.uplinks import Fleet, copies, paired_ratio_interval, percentile
from harness.mosquitto import MosquittoBroker, mosquitto_binary
from protocol.constants import EVENT_SOS, FLAG_ACK_REQUESTED

PER_TURN = 250  # measured alarms per turn, as in the dispatch benchmark
PERCENTILES = (10, 25, 50, 75, 90, 95, 99, 99.9)


def _env(pairs: list[str], path: str | None) -> dict[str, str]:
    env = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--*-env takes NAME=VALUE, got {pair!r}")
        env[name] = value
    if path is not None:
        env["PYTHONPATH"] = str(Path(path).resolve())
    return env


def _figures(samples: list[float]) -> dict[str, float]:
    out = {f"p{q:g}_ms": round(percentile(samples, q), 3) for q in PERCENTILES}
    out["max_ms"] = round(max(samples), 3)
    out["n"] = float(len(samples))
    return out


async def compare(env_a: dict[str, str], env_b: dict[str, str], turns: int) -> dict[str, Any]:
    binary = mosquitto_binary()
    if binary is None:
        raise RuntimeError("the A/B run needs Mosquitto")
    n_alarms = turns * PER_TURN + LATENCY_WARMUP + (turns - 1) * TURN_WARMUP
    fleet = Fleet.make(1, n_alarms, seed=12)
    alarms = copies(fleet, range(1, 2), EVENT_SOS, flags=FLAG_ACK_REQUESTED)
    gc.collect()
    gc.freeze()
    delays: dict[str, list[float]] = {"a": [], "b": []}
    turn_delays: dict[str, list[list[float]]] = {"a": [], "b": []}
    lost = {"a": 0, "b": 0}
    with tempfile.TemporaryDirectory(prefix="nightwatch-ab-") as tmp:
        work = Path(tmp)
        for name in ("a", "b"):
            (work / name).mkdir()
        conf = "autosave_interval 30\n"
        with (
            MosquittoBroker(work / "a" / "broker", binary, extra_conf=conf) as broker_a,
            MosquittoBroker(work / "b" / "broker", binary, extra_conf=conf) as broker_b,
        ):
            assert broker_a.proc is not None and broker_b.proc is not None
            async with (
                ServicePeer(work / "a", broker_a.port, broker_a.proc.pid, [fleet], env_a) as a,
                ServicePeer(work / "b", broker_b.port, broker_b.proc.pid, [fleet], env_b) as b,
            ):
                pids = (broker_a.proc.pid, broker_b.proc.pid, a.svc.pid, b.svc.pid)
                peers = {"a": a, "b": b}
                sched = {"a": Sched(a.svc.pid), "b": Sched(b.svc.pid)}
                ticks = cpu_ticks()
                before = {n: (await p.health())["writer"]["commits"] for n, p in peers.items()}
                for i, (warmup, block) in enumerate(turn_blocks(alarms, turns)):
                    for name in ("a", "b") if i % 2 == 0 else ("b", "a"):
                        await settle_processes(*pids)
                        with sched[name]:
                            turn = await peers[name].latency(block, warmup)
                        delays[name].extend(turn["delays"])
                        turn_delays[name].append(turn["delays"])
                        lost[name] += turn["lost"] + turn["doubled"]
                    print(f"turn {i + 1}/{turns}", file=sys.stderr, flush=True)
                steal = steal_pct(ticks, cpu_ticks())
                commits = {n: (await p.health())["writer"]["commits"] - before[n] for n, p in peers.items()}
    gc.unfreeze()
    fa, fb = _figures(delays["a"]), _figures(delays["b"])
    per_alarm = {n: sched[n].per(len(alarms)) for n in ("a", "b")}
    # Turn i of B beside turn i of A: how far B's p99 over A's could move by chance in this run.
    low, high = paired_ratio_interval(turn_delays["b"], turn_delays["a"])
    return {
        "measure": "dispatch service latency, publish to the responder's stream",
        "a": {"env": env_a, **fa, "lost_or_doubled": lost["a"], "commits": commits["a"], "service": per_alarm["a"]},
        "b": {"env": env_b, **fb, "lost_or_doubled": lost["b"], "commits": commits["b"], "service": per_alarm["b"]},
        "b_minus_a_ms": {k: round(fb[k] - fa[k], 3) for k in fa if k != "n"},
        "b_over_a_p99_interval": [round(low, 3), round(high, 3)],
        "turns": turns,
        "rate_uplinks_per_s": peer_runs.LATENCY_RATE,
        "responders": dispatch_service.RESPONDERS,
        "machine_steal_pct": steal,
    }


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.ab", description=__doc__.split("\n\n")[0])
    ap.add_argument("--turns", type=int, default=16, help="turns per variant (default 16)")
    ap.add_argument("--rate", type=float, default=LATENCY_RATE, help="uplinks a second (default %(default)s)")
    for side in ("a", "b"):
        ap.add_argument(f"--{side}-env", action="append", default=[], metavar="NAME=VALUE")
        ap.add_argument(f"--{side}-path", metavar="DIR", help="another checkout to run (its PYTHONPATH)")
    ap.add_argument(
        "--responders",
        type=int,
        default=dispatch_service.RESPONDERS,
        help="responders on duty, each following their own stream (default %(default)s)",
    )
    ap.add_argument("--a", metavar="DIR|REV", help="the pipeline's CPU per uplink instead: side A's tree")
    ap.add_argument("--b", metavar="DIR|REV", help="and side B's: a directory, or a git revision to check out")
    ap.add_argument("--rounds", type=int, default=ab_cost.ROUNDS, help="with --a/--b (default %(default)s)")
    ap.add_argument("--devices", type=int, default=pipeline_cost.DEVICES, help="key rings a measurement")
    ap.add_argument("--floor", type=float, default=FLOOR, help="the narrowest band, either way (default %(default)s)")
    args = ap.parse_args(argv)
    if args.a is not None or args.b is not None:
        if args.a is None or args.b is None:
            ap.error("--a and --b go together")
        if args.a_env or args.b_env or args.a_path or args.b_path:
            ap.error("--a/--b compare the CPU per uplink; --*-path and --*-env the latency")
        return _cost(args.a, args.b, max(2, args.rounds), args.devices, args.floor)
    peer_runs.LATENCY_RATE = args.rate  # what every latency turn's publisher reads
    dispatch_service.RESPONDERS = args.responders  # and every service's staff
    result = asyncio.run(compare(_env(args.a_env, args.a_path), _env(args.b_env, args.b_path), max(2, args.turns)))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "ab.json").write_text(json.dumps(result, indent=2) + "\n")
    keys = list(result["b_minus_a_ms"])
    print(f"{'':8}" + "".join(f"{k[:-3]:>8}" for k in keys))
    for row in ("a", "b"):
        print(f"{row:8}" + "".join(f"{result[row][k]:8.3f}" for k in keys))
    print(f"{'b - a':8}" + "".join(f"{result['b_minus_a_ms'][k]:8.3f}" for k in keys))
    a, b = result["a"], result["b"]
    print(
        f"lost or doubled: a {a['lost_or_doubled']}, b {b['lost_or_doubled']}; commits: a {a['commits']}, "
        f"b {b['commits']}; steal {result['machine_steal_pct']} %"
    )
    print(f"b's p99 over a's: {result['b_over_a_p99_interval']} (95 % interval over resampled turns)")
    print("per alarm (service): " + "; ".join(f"{n} {result[n]['service']}" for n in ("a", "b")))
    return 0


def _cost(a: str, b: str, rounds: int, devices: int, floor: float) -> int:
    result = ab_cost.compare(a, b, rounds, devices, floor)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "ab.json").write_text(json.dumps(result, indent=2) + "\n")
    print(ab_cost.report(result))
    return 0 if result["inside_band"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
