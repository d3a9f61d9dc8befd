"""A real-time run's summary as JSON and Markdown, beside its plots."""

import json
from pathlib import Path
from typing import Any

from simulator import reach_report
from simulator.realtime.summary import HOP_LABELS, HOPS
from simulator.report import hop_rows


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}"


def markdown(s: dict[str, Any], plots: list[Path]) -> str:
    lat, al, bare = s["latency_ms"], s["alarms"], s["bare_broker_hop_ms"]
    lines = [
        f"# Real-time run: {s['scenario']}",
        "",
        f"{s['alarms']['pressed']} alarms at {s['rate_per_s']} a second (achieved {s['achieved_rate_per_s']}) over "
        f"{s['seconds']} s; {s['gateways']} gateways running the real relay code, broker {s['broker']}, the real "
        f"dispatch service ({s['dispatch']}), {s['responders']} simulated responders on its live stream.",
        "",
        "## Latency budget: recognised SOS to the responder's screen",
        "",
        "| Radio | n | p50 ms | p95 ms | p99 ms | budget p95 | met |",
        "|---|---|---|---|---|---|---|",
    ]
    for radio, name in (("ble", "BLE"), ("lora", "LoRa SF9")):
        d, met = lat[radio]["press_to_screen"], lat[radio]["budget_met"]
        lines.append(
            f"| {name} | {d['n']} | {_ms(d['p50'])} | {_ms(d['p95'])} | {_ms(d['p99'])} | "
            f"{lat[radio]['budget_ms']:.0f} | {'-' if met is None else 'yes' if met else 'NO'} |"
        )
    cov = s.get("ble_coverage")
    if cov is not None:
        lines += [
            "",
            f"**Which BLE figure holds where.** This run's software after the gateway receive took "
            f"{cov['software_p95_ms']:.1f} ms at p95, leaving {cov['radio_allowance_ms']:.0f} ms of the 300 ms budget "
            f"to the radio. The radio model hears 95 % of alarms within that up to "
            f"**{cov['reliable_range_m']:.0f} m** from a scanner (simulator/ble_reach.py), so the budget holds where "
            f"scanners stand on a grid no wider than {cov['grid_spacing_m']:.0f} m "
            f"(**{cov['scanners_per_km2']:.0f} scanners per km²** of the area promised BLE coverage).",
            "",
            "| BLE alarms | n | p50 ms | p95 ms | p99 ms | budget p95 | met |",
            "|---|---|---|---|---|---|---|",
        ]
        for key, name, met in (
            ("within_range", f"within {cov['reliable_range_m']:.0f} m of a scanner", cov["budget_met_within_range"]),
            ("beyond_range", "further (the edge of BLE coverage)", None),
        ):
            d = cov[key]
            verdict = "-" if met is None else "yes" if met else "NO"
            lines.append(
                f"| {name} | {d['n']} | {_ms(d['p50'])} | {_ms(d['p95'])} | {_ms(d['p99'])} | 300 | {verdict} |"
            )
    lines += ["", "Each hop (median / p95 ms, and its share of the summed medians):", "", "| Hop | BLE | LoRa SF9 |"]
    lines.append("|---|---|---|")
    lines += hop_rows(lat, HOPS, HOP_LABELS, _ms)
    lines += ["", "After the push (median / p95 ms, n):", "", "| Step | p50 | p95 | n |", "|---|---|---|---|"]
    for name, d in lat["after_dispatch"].items():
        lines.append(f"| {name.replace('_', ' ')} | {_ms(d['p50'])} | {_ms(d['p95'])} | {d['n']} |")
    r = s["ratios_to_bare_broker_hop"]
    lines += [
        "",
        f"**Bare broker hop** (QoS 1 publish to a subscriber, same broker, same run): p50 {_ms(bare['p50'])} ms, "
        f"p95 {_ms(bare['p95'])} ms (n={bare['n']}). As ratios to it: gateway -> broker p50 "
        f"{r['gateway_broker_p50_x_bare']}x; broker -> responder's screen p50 {r['broker_to_screen_p50_x_bare']}x, "
        f"p95 {r['broker_to_screen_p95_x_bare']}x; press to screen p50 {r['press_to_screen_p50_x_bare']}x, p95 "
        f"{r['press_to_screen_p95_x_bare']}x.",
        "",
        "## Alarms",
        "",
        "| | |",
        "|---|---|",
    ]
    lines += [f"| {k.replace('_', ' ')} | {v} |" for k, v in al.items()]
    if "reach" in s:
        lines += ["", *reach_report.markdown(s["reach"])]
    lines += ["", "## Plots", ""] + [f"![{p.stem}]({p.name})" for p in plots]
    return "\n".join(lines) + "\n"


def write(summary: dict[str, Any], plots: list[Path], out: Path) -> tuple[Path, Path]:
    j, m = out / "summary.json", out / "summary.md"
    j.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    m.write_text(markdown(summary, plots), encoding="utf-8")
    return j, m
