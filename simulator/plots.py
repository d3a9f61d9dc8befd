"""PNG plots of a run (matplotlib, Agg backend: no display needed), for both clocks.

Both draw the latency budget: press to screen per radio against the budget, and each hop's median share. Virtual
time adds heartbeat delivery by distance, coverage and the alarm timeline; real time adds each hop's distribution
beside the bare broker hop.
"""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Circle

from simulator.chain import BUDGET_MS, LIVE, RADIOS, VIRTUAL, Chain, T
from simulator.engine import Engine
from simulator.links import LoraLink
from simulator.radio import BLE_STREET
from simulator.trace import LiveTrace

COLOURS = {"ble": "#1f77b4", "lora": "#d62728"}


def latency(traces: Sequence[T], chain: Chain[T], path: Path, screen: str, title: str, suptitle: str) -> None:
    """Press to screen per radio (CDF, budget lines) and each hop's median and p95 share."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.8))
    for y, radio in enumerate(RADIOS):
        rows = chain.rows(traces, radio)
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
        for k, name in enumerate(chain.hops):
            # A hop between two clocks' stamps may come out a hair below zero: no bar for it.
            med = max(float(np.median([h[name] for h in rows])), 0.0)
            ax2.barh([y], [med], left=left, color=plt.cm.tab10(k), edgecolor="white", label=name if y == 0 else None)
            left += med
        ax2.plot([p95], [y], marker="|", markersize=22, color="black")
        ax2.plot([BUDGET_MS[radio]], [y], marker="*", markersize=12, color="black")
    ax1.axhline(0.95, color="grey", linewidth=0.5)
    ax1.set_xlabel(f"recognised SOS -> {screen}")
    ax1.set_ylabel("share of alarms")
    ax1.set_title(title)
    ax1.legend(loc="lower right")
    ax2.set_yticks([0, 1], ["BLE", "LoRa SF9"])
    ax2.set_xlabel("ms (bars: median of each hop; |: p95 of the total; *: budget)")
    ax2.set_title("Each hop's share")
    ax2.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=3, fontsize=8)
    fig.suptitle(suptitle)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---- virtual time -------------------------------------------------------------------------------------------------


def delivery(summary: dict[str, Any], path: Path) -> None:
    rows = summary["heartbeats"]["delivery_by_distance"]
    fig, ax = plt.subplots(figsize=(7, 4.2))
    if rows:
        x = [r["from_m"] + 125 for r in rows]
        ax.plot(x, [r["ratio"] for r in rows], marker="o", color=COLOURS["lora"])
        ax2 = ax.twinx()
        ax2.bar(x, [r["sent"] for r in rows], width=200, alpha=0.2, color="grey")
        ax2.set_ylabel("heartbeats sent (bars)")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("distance to the nearest LoRa gateway (m)")
    ax.set_ylabel("delivery ratio (at least one gateway)")
    ax.set_title(f"{summary['scenario']}: heartbeat delivery vs distance (LoRa SF9)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def coverage(engine: Engine, path: Path) -> None:
    """Probability that a frame from a ring outdoors reaches at least one LoRa gateway (no collisions), with the
    BLE scanners' reach, the districts, and where alarms were raised."""
    w, sc = engine.world, engine.sc
    link = LoraLink(sc.radio)
    r = sc.area_radius_m * 1.1
    xs = np.linspace(-r, r, 160)
    gx, gy = np.meshgrid(xs, xs)
    miss = np.ones_like(gx)
    sigma = float(np.hypot(link.model.sigma_db, 2.0))
    from math import erf, sqrt

    verf = np.vectorize(erf)
    for i in np.flatnonzero(w.gateways.lora):
        d = np.hypot(gx - w.gateways.x[i], gy - w.gateways.y[i])
        mean = link.uplink_dbm(d, np.zeros_like(d), 0.0)
        p = 0.5 * (1 + verf((mean - link.sensitivity_dbm) / (sigma * sqrt(2))))
        miss *= 1 - p
    fig, ax = plt.subplots(figsize=(7.5, 7))
    km = 1000.0
    im = ax.imshow(1 - miss, origin="lower", extent=(-r / km, r / km, -r / km, r / km), vmin=0, vmax=1, cmap="viridis")
    fig.colorbar(im, ax=ax, label="P(frame from the street reaches a LoRa gateway)", shrink=0.8)
    lo = w.gateways.lora
    ax.scatter(
        w.gateways.x[lo] / km,
        w.gateways.y[lo] / km,
        marker="^",
        color="white",
        edgecolor="black",
        s=60,
        label="LoRa gateway",
    )
    ble_r = BLE_STREET.range_m(sc.radio.ble_tx_dbm - sc.radio.ble_sensitivity_dbm)
    for i in np.flatnonzero(w.gateways.ble):
        ax.add_patch(Circle((w.gateways.x[i] / km, w.gateways.y[i] / km), ble_r / km, color="cyan", alpha=0.6))
    ax.scatter([], [], color="cyan", label=f"BLE scanner (median reach {ble_r:.0f} m)")
    for d in sc.districts:
        x, y = w.proj.to_xy(d.lat, d.lon)
        ax.add_patch(Circle((float(x) / km, float(y) / km), d.radius_m / km, fill=False, color="white", linestyle=":"))
        ax.text(float(x) / km, float(y) / km, d.name, color="white", fontsize=7, ha="center")
    if engine.traces:
        ax.scatter(
            [t.x / km for t in engine.traces],
            [t.y / km for t in engine.traces],
            marker="x",
            color="red",
            s=20,
            label="alarm",
        )
    ax.set_xlabel("km east of the centre")
    ax.set_ylabel("km north of the centre")
    ax.set_title(f"{sc.name}: coverage ({sc.area_name}, centre {sc.centre[0]:.4f} N {sc.centre[1]:.4f} E)")
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def timeline(engine: Engine, path: Path) -> None:
    """Per minute: alarms pressed, on a screen, acknowledged on the ring, helped; for an alarm storm."""
    traces = engine.traces
    fig, ax = plt.subplots(figsize=(10, 4.5))
    bursts = engine.sc.alarms.bursts
    if bursts:
        # An alarm storm: zoom on the first burst, from 5 minutes before to 20 after, in 10 s steps.
        t0 = bursts[0].start_h * 3_600_000 - 5 * 60_000
        t1 = t0 + (bursts[0].minutes + 25) * 60_000
        step = 10_000.0
        traces = [t for t in traces if t0 <= t.pressed_ms < t1]
    elif traces:
        t0 = min(t.pressed_ms for t in traces)
        t1 = max(t.pressed_ms for t in traces) + 15 * 60_000
        step = 60_000.0
    if traces:
        bins = np.arange(t0, t1 + step, step)
        minutes = (bins[:-1] - t0) / 60_000
        for label, values, colour in (
            ("pressed", [t.pressed_ms for t in traces], "black"),
            ("on a screen", [t.screen_ms for t in traces if t.screen_ms is not None], "tab:blue"),
            ("ACK on the ring", [t.ack_ring_ms for t in traces if t.ack_ring_ms is not None], "tab:green"),
            ("help on the way (ring)", [t.help_ring_ms for t in traces if t.help_ring_ms is not None], "tab:orange"),
        ):
            counts, _ = np.histogram(values, bins=bins)
            ax.step(minutes, np.cumsum(counts), where="post", label=label, color=colour)
        ax.set_xlabel(f"minutes from the first alarm ({engine.sc.start.strftime('%H:%M')} + {t0 / 3_600_000:.2f} h)")
    ax.set_ylabel("alarms (cumulative)")
    ax.set_title(f"{engine.sc.name}: alarm timeline")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def virtual_plots(engine: Engine, summary: dict[str, Any], out: Path) -> list[Path]:
    paths = [out / "latency.png", out / "delivery_vs_distance.png", out / "coverage.png", out / "timeline.png"]
    title = "Press to screen (dashed: budget)"
    latency(engine.traces, VIRTUAL, paths[0], "responder screen (ms)", title, f"{engine.sc.name}: latency budget")
    delivery(summary, paths[1])
    coverage(engine, paths[2])
    timeline(engine, paths[3])
    return paths


# ---- real time ----------------------------------------------------------------------------------------------------


def hops(traces: Sequence[LiveTrace], probe_ms: list[float], path: Path) -> None:
    """Each hop's distribution (both radios' first copies), log scale, beside the bare broker hop."""
    data: list[list[float]] = []
    labels: list[str] = []
    for radio in ("ble", "lora"):
        rows = LIVE.rows(traces, radio)
        for name in LIVE.hops:
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


def live_plots(traces: Sequence[LiveTrace], probe_ms: list[float], summary: dict[str, Any], out: Path) -> list[Path]:
    paths = [out / "latency.png", out / "hops.png"]
    suptitle = f"{summary['scenario']}: real time at {summary.get('rate_per_s')} alarms/s"
    title = "Press to screen, real services (dashed: budget)"
    latency(traces, LIVE, paths[0], "responder's live stream (ms, wall clock)", title, suptitle)
    hops(traces, probe_ms, paths[1])
    return paths
