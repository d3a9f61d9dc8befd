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


def write(name: str, results_dir: Path, figures: dict[str, float], raw: dict[str, Any]) -> None:
    results_dir.mkdir(parents=True, exist_ok=True)
    doc = {"benchmark": name, "figures": figures, "raw": raw}
    (results_dir / f"{name}.json").write_text(json.dumps(doc, indent=2) + "\n")


def merge_summary(results_dir: Path, name: str, figures: dict[str, float]) -> None:
    path = results_dir / "summary.json"
    summary: dict[str, float] = json.loads(path.read_text()) if path.exists() else {}
    summary.update({f"{name}.{k}": v for k, v in figures.items()})
    path.write_text(json.dumps(dict(sorted(summary.items())), indent=2) + "\n")
