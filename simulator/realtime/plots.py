"""PNG plots of a real-time run (matplotlib, Agg): press to screen per radio with each hop's share, and the
distribution of every hop beside the bare broker hop."""

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from simulator.plots import COLOURS
from simulator.realtime.summary import HOPS, hop_times
from simulator.realtime.trace import LiveTrace
from simulator.summary import BUDGET_MS


def latency(traces: list[LiveTrace], summary: dict[str, Any], path: Path) -> None:
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.8))
    for y, radio in enumerate(("ble", "lora")):
        rows = [h for h in (hop_times(t, radio) for t in traces) if h is not None]
        if not rows:
            continue
        totals = np.sort([sum(h.values()) for h in rows])
        p95 = float(np.percentile(totals, 95))
        ax1.step(
            totals,
            np.arange(1, len(totals) + 1) / len(totals),
            where="post",
            color=COLOURS[radio],
            label=f"{radio.upper()} (n={len(totals)}, p95 {p95:.0f} ms)",
        )
        ax1.axvline(BUDGET_MS[radio], color=COLOURS[radio], linestyle="--", linewidth=1)
        left = 0.0
        for k, name in enumerate(HOPS):
            med = max(float(np.median([h[name] for h in rows])), 0.0)
            ax2.barh([y], [med], left=left, color=plt.cm.tab10(k), edgecolor="white", label=name if y == 0 else None)
            left += med
        ax2.plot([p95], [y], marker="|", markersize=22, color="black")
        ax2.plot([BUDGET_MS[radio]], [y], marker="*", markersize=12, color="black")
    ax1.axhline(0.95, color="grey", linewidth=0.5)
    ax1.set_xlabel("recognised SOS -> responder's live stream (ms, wall clock)")
    ax1.set_ylabel("share of alarms")
    ax1.set_title("Press to screen, real services (dashed: budget)")
    ax1.legend(loc="lower right")
    ax2.set_yticks([0, 1], ["BLE", "LoRa SF9"])
    ax2.set_xlabel("ms (bars: median of each hop; |: p95 of the total; *: budget)")
    ax2.set_title("Each hop's share")
    ax2.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=3, fontsize=8)
    rate = summary.get("rate_per_s")
    fig.suptitle(f"{summary['scenario']}: real time at {rate} alarms/s")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def hops(traces: list[LiveTrace], probe_ms: list[float], path: Path) -> None:
    """Each hop's distribution (both radios' first copies), log scale, beside the bare broker hop."""
    data: list[list[float]] = []
    labels: list[str] = []
    for radio in ("ble", "lora"):
        rows = [h for h in (hop_times(t, radio) for t in traces) if h is not None]
        for name in HOPS:
            vals = [max(h[name], 0.01) for h in rows]
            if vals:
                data.append(vals)
                labels.append(f"{radio.upper()} {name}")
    if probe_ms:
        data.append([max(v, 0.01) for v in probe_ms])
        labels.append("bare broker hop")
    fig, ax = plt.subplots(figsize=(10, 0.42 * max(len(data), 4) + 1.5))
    if data:
        ax.boxplot(data, orientation="horizontal", whis=(5, 95), showfliers=True, flierprops={"markersize": 2})
        ax.set_yticks(range(1, len(labels) + 1), labels, fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("ms (log; box: quartiles, whiskers: p5-p95)")
    ax.set_title("Latency of each hop, measured on the wall clock")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def all_plots(traces: list[LiveTrace], probe_ms: list[float], summary: dict[str, Any], out: Path) -> list[Path]:
    paths = [out / "latency.png", out / "hops.png"]
    latency(traces, summary, paths[0])
    hops(traces, probe_ms, paths[1])
    return paths
