"""The run's summary as JSON and Markdown, beside the plots, in the output directory."""

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from simulator import reach_report
from simulator.summary import HOP_LABELS, HOPS


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.0f}"


def hop_rows(
    lat: dict[str, Any], hops: Sequence[str], labels: dict[str, str], ms: Callable[[float | None], str]
) -> list[str]:
    """The per-hop table's rows: each hop's median / p95 by radio, and its share of the summed medians."""
    rows = []
    for hop in hops:
        cells = []
        for radio in ("ble", "lora"):
            h, share = lat[radio]["hops"][hop], lat[radio]["share_of_median"][hop]
            cells.append(f"{ms(h['p50'])} / {ms(h['p95'])} ({'-' if share is None else f'{share:.0%}'})")
        rows.append(f"| {labels[hop]} | {cells[0]} | {cells[1]} |")
    return rows


def _lora_name(s: dict[str, Any]) -> str:
    by_sf = s["latency_ms"].get("lora_by_sf", {})
    return f"LoRa {next(iter(by_sf))}" if len(by_sf) == 1 else "LoRa (all SFs)"


def markdown(s: dict[str, Any], plots: list[Path]) -> str:
    sp, hb, al, lat = s["speed"], s["heartbeats"], s["alarms"], s["latency_ms"]
    lora_name = _lora_name(s)
    lines = [
        f"# Simulation: {s['scenario']}",
        "",
        s["description"],
        "",
        f"{s['rings']} key rings ({s['exact_rings']} on the real firmware), {s['gateways']['lora']} LoRa and "
        f"{s['gateways']['ble']} BLE gateways ({s['gateways']['lora_per_km2']} LoRa gateways per km²), "
        f"{s['duration_h']} h from {s['start']}.",
        "",
        f"**Speed:** {sp['virtual_s'] / 3600:.1f} virtual hours in {sp['wall_s']} s of wall time "
        f"({sp['virtual_per_wall']}x real time; bulk heartbeats {sp['bulk_s']} s; {sp['events']} events; "
        f"{sp['ring_steps']} firmware steps).",
        "",
        "## Latency budget: recognised SOS to the responder's screen",
        "",
        "| Radio | n | p50 ms | p95 ms | p99 ms | budget p95 | met |",
        "|---|---|---|---|---|---|---|",
    ]
    for radio, name in (("ble", "BLE"), ("lora", lora_name)):
        d = lat[radio]["press_to_screen"]
        met = lat[radio]["budget_met"]
        lines.append(
            f"| {name} | {d['n']} | {_ms(d['p50'])} | {_ms(d['p95'])} | {_ms(d['p99'])} | "
            f"{lat[radio]['budget_ms']:.0f} | {'-' if met is None else 'yes' if met else 'NO'} |"
        )
    if len(lat.get("lora_by_sf", {})) > 1:
        for sf, v in lat["lora_by_sf"].items():
            d, met = v["press_to_screen"], v["budget_met"]
            lines.append(
                f"| LoRa {sf} | {d['n']} | {_ms(d['p50'])} | {_ms(d['p95'])} | {_ms(d['p99'])} | "
                f"{lat['lora']['budget_ms']:.0f} | {'-' if met is None else 'yes' if met else 'NO'} |"
            )
    d = lat["first_copy"]["press_to_screen"]
    lines += [
        f"| first copy, either radio | {d['n']} | {_ms(d['p50'])} | {_ms(d['p95'])} | {_ms(d['p99'])} | | |",
        "",
        "Each hop (median / p95 ms, and its share of the summed medians):",
        "",
        f"| Hop | BLE | {lora_name} |",
        "|---|---|---|",
    ]
    lines += hop_rows(lat, HOPS, HOP_LABELS, _ms)
    ack, hlp = lat["press_to_ack_on_ring"], lat["press_to_help_on_ring"]
    lines += [
        "",
        f"Recognised to ACK felt on the ring: p50 {_ms(ack['p50'])} ms, p95 {_ms(ack['p95'])} ms (n={ack['n']}); "
        f'to "help on the way": p50 {_ms(hlp["p50"])} ms (n={hlp["n"]}).',
        "",
        "## Alarms",
        "",
        "| | |",
        "|---|---|",
    ]
    for k, v in al.items():
        lines.append(f"| {k.replace('_', ' ')} | {v} |")
    lines += ["", *reach_report.markdown(s["reach"])]
    lines += [
        f"## Heartbeats (idle rings, {lora_name})",
        "",
        f"{hb['sent']} sent, {hb['delivered']} delivered (ratio {hb['delivery_ratio']}); of "
        f"{hb['gateway_copies_heard']} copies above a gateway's sensitivity, {hb['copies_lost_to_collision']} were "
        f"lost to collisions and {hb['copies_lost_to_gateway_tx']} to a gateway transmitting. The busiest gateway "
        f"spends {hb['busiest_gateway_ack_duty']:.1%} of an hour on heartbeat ACKs (limit 10 %; "
        f"{hb['acks_dropped_duty_cycle']} ACKs dropped for it).",
        "",
        f"Backoff (SPEC 7.5): {hb['asked_for_ack']} heartbeats asked for an ACK, {hb['acked']} got one; rings per "
        f"heartbeat period at the end (min: rings): {json.dumps(hb['periods_at_end_min'])}. "
        f"LOW_BATTERY (below {hb['low_battery']['threshold_pct']:.0f} %): {hb['low_battery']['frames']} sent by "
        f"{hb['low_battery']['rings']} rings, {hb['low_battery']['delivered']} delivered.",
        "",
        "| from m | sent | delivered | ratio |",
        "|---|---|---|---|",
    ]
    for r in hb["delivery_by_distance"]:
        lines.append(f"| {r['from_m']:.0f} | {r['sent']} | {r['delivered']} | {r['ratio']} |")
    if len(hb["by_sf"]) > 1:
        lines += ["", "| SF | sent | delivered | ratio |", "|---|---|---|---|"]
        for r in hb["by_sf"]:
            lines.append(f"| SF{r['sf']} | {r['sent']} | {r['delivered']} | {r['delivered'] / r['sent']:.4f} |")
    lines += [
        "",
        "## Dispatch",
        "",
        f"Pipeline outcomes: {json.dumps(s['dispatch']['outcomes'], sort_keys=True)}; alarm copies counted as "
        f"replays: {s['dispatch']['alarm_copies_counted_as_replay']}. Real pipeline time per frame: "
        f"p50 {s['dispatch']['pipeline_us']['p50']} µs, p99 {s['dispatch']['pipeline_us']['p99']} µs.",
        f"Recovery sweeps (SPEC 7.5): {s['dispatch']['recovery_sweeps']}, {s['dispatch']['recovery_sweep_cpu_s']} s of "
        f"real CPU; frames no device claimed: {s['dispatch']['unresolved_given_up']}.",
        f"Downlinks: {json.dumps(s['downlinks'], sort_keys=True)}.",
    ]
    if s["attacker"] is not None:
        a = s["attacker"]
        lines += [
            "",
            "## Replay attacker",
            "",
            f"{a['frames_recorded']} frames recorded, {a['replays_sent']} replays sent; at dispatch: "
            f"{json.dumps(a['outcomes_at_dispatch'], sort_keys=True)}.",
            "",
            f"**Replays of frames dispatch already had, accepted: {a['accepted_after_delivery']}.** Frames the "
            f"network had missed and the attacker delivered late (accepted as first copies): "
            f"{a['first_deliveries_accepted']}. Replays that moved an incident's location: "
            f"{a['moved_an_incident_location']}.",
        ]
    if "fidelity" in s:
        f = s["fidelity"]
        lines += [
            "",
            "## Fidelity (MicroPython)",
            "",
            f"{f['identical']} of {f['rings']} rings replayed under the MicroPython interpreter sent the same "
            f"{f['frames']} frames, byte for byte and at the same millisecond. "
            f"Differences: {f['differences'] or 'none'}.",
        ]
    lines += ["", "## Plots", ""] + [f"![{p.stem}]({p.name})" for p in plots]
    return "\n".join(lines) + "\n"


def write(summary: dict[str, Any], plots: list[Path], out: Path) -> tuple[Path, Path]:
    j, m = out / "summary.json", out / "summary.md"
    j.write_text(json.dumps(summary, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    m.write_text(markdown(summary, plots), encoding="utf-8")
    return j, m
