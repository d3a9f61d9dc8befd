"""Shared helpers: timing, memory, and the results files every benchmark writes."""

import gc
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def settle() -> int:
    gc.collect()
    return rss_bytes()


def per_call_us(fn: Callable[[], object], rounds: int) -> float:
    """Median over five batches of ``rounds`` calls, in microseconds per call."""
    samples = []
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(rounds):
            fn()
        samples.append((time.perf_counter() - t) / rounds * 1e6)
    return statistics.median(samples)


def cpu_ticks() -> list[int]:
    """The machine's CPU time so far by kind, in clock ticks (/proc/stat: user, nice, system, idle, iowait, irq,
    softirq, steal)."""
    with open("/proc/stat") as fh:
        return [int(x) for x in fh.readline().split()[1:9]]


def steal_pct(before: list[int], after: list[int]) -> float:
    """The share of the time between two ``cpu_ticks`` that the hypervisor gave this machine's CPUs to others."""
    spent = [b - a for a, b in zip(before, after, strict=True)]
    return round(100 * spent[7] / sum(spent), 2) if sum(spent) else 0.0


def sched_stats(pid: int) -> dict[str, int]:
    """What Linux's scheduler counted for a process so far, in ns (/proc/PID/task/*/schedstat): time on a CPU
    and time runnable but waiting for one, of its main thread (the event loop's) and of all its threads, and how
    many times its threads were put on a CPU. Waiting is contention inside this machine; time the hypervisor
    took (steal) is not in it."""
    out = {"loop_run_ns": 0, "loop_wait_ns": 0, "run_ns": 0, "wait_ns": 0, "slices": 0}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            run, wait, slices = (int(x) for x in (task / "schedstat").read_text().split())
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue  # a thread that ended meanwhile
        out["run_ns"] += run
        out["wait_ns"] += wait
        out["slices"] += slices
        if task.name == str(pid):
            out["loop_run_ns"], out["loop_wait_ns"] = run, wait
    return out


def write(name: str, results_dir: Path, figures: dict[str, float], raw: dict[str, Any]) -> None:
    results_dir.mkdir(parents=True, exist_ok=True)
    doc = {"benchmark": name, "figures": figures, "raw": raw}
    (results_dir / f"{name}.json").write_text(json.dumps(doc, indent=2) + "\n")


def merge_summary(results_dir: Path, name: str, figures: dict[str, float]) -> None:
    path = results_dir / "summary.json"
    summary: dict[str, float] = json.loads(path.read_text()) if path.exists() else {}
    summary.update({f"{name}.{k}": v for k, v in figures.items()})
    path.write_text(json.dumps(dict(sorted(summary.items())), indent=2) + "\n")
