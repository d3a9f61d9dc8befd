"""A run's summary as JSON and Markdown, beside its plots, in the output directory: one writer for both clocks.

The sections both clocks have (the budget table, each hop, the alarms, every press reaching a person, the plots)
are written once; each clock adds what only it measures (virtual time: speed, heartbeats, dispatch, the attacker,
MicroPython fidelity; real time: BLE by distance, the steps after the push, the bare broker hop).
"""

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from simulator import reach_report
from simulator.chain import LIVE, RADIOS, VIRTUAL

Ms = Callable[[float | None], str]


def _ms0(v: float | None) -> str:
    return "-" if v is None else f"{v:.0f}"


def _ms1(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}"


def _met(met: bool | None) -> str:
    return "-" if met is None else "yes" if met else "NO"


def budget_row(name: str, d: dict[str, Any], budget: str, met: str, ms: Ms) -> str:
    return f"| {name} | {d['n']} | {ms(d['p50'])} | {ms(d['p95'])} | {ms(d['p99'])} | {budget} | {met} |"


def budget_head(first: str = "Radio") -> list[str]:
    return [f"| {first} | n | p50 ms | p95 ms | p99 ms | budget p95 | met |", "|---|---|---|---|---|---|---|"]


def hop_rows(lat: dict[str, Any], hops: Sequence[str], labels: dict[str, str], ms: Ms) -> list[str]:
    """The per-hop table's rows: each hop's median / p95 by radio, and its share of the summed medians."""
    rows = []
    for hop in hops:
        cells = []
        for radio in RADIOS:
            h, share = lat[radio]["hops"][hop], lat[radio]["share_of_median"][hop]
            cells.append(f"{ms(h['p50'])} / {ms(h['p95'])} ({'-' if share is None else f'{share:.0%}'})")
        rows.append(f"| {labels[hop]} | {cells[0]} | {cells[1]} |")
    return rows


def _budget(lat: dict[str, Any], lora_name: str, ms: Ms) -> list[str]:
    lines = ["## Latency budget: recognised SOS to the responder's screen", "", *budget_head()]
    for radio, name in (("ble", "BLE"), ("lora", lora_name)):
        r = lat[radio]
        lines.append(budget_row(name, r["press_to_screen"], f"{r['budget_ms']:.0f}", _met(r["budget_met"]), ms))
    return lines


def _alarms(al: dict[str, Any]) -> list[str]:
    return ["## Alarms", "", "| | |", "|---|---|", *(f"| {k.replace('_', ' ')} | {v} |" for k, v in al.items())]


def _plots(lines: list[str], plots: list[Path]) -> str:
    lines += ["", "## Plots", ""] + [f"![{p.stem}]({p.name})" for p in plots]
    return "\n".join(lines) + "\n"


def markdown(s: dict[str, Any], plots: list[Path]) -> str:
    return _live(s, plots) if s.get("mode") == "realtime" else _virtual(s, plots)


# ---- virtual time -------------------------------------------------------------------------------------------------


def _lora_name(s: dict[str, Any]) -> str:
    by_sf = s["latency_ms"].get("lora_by_sf", {})
    return f"LoRa {next(iter(by_sf))}" if len(by_sf) == 1 else "LoRa (all SFs)"


def _virtual(s: dict[str, Any], plots: list[Path]) -> str:
    sp, hb, lat = s["speed"], s["heartbeats"], s["latency_ms"]
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
        *_budget(lat, lora_name, _ms0),
    ]
    if len(lat.get("lora_by_sf", {})) > 1:
        for sf, v in lat["lora_by_sf"].items():
            budget = f"{lat['lora']['budget_ms']:.0f}"
            lines.append(budget_row(f"LoRa {sf}", v["press_to_screen"], budget, _met(v["budget_met"]), _ms0))
    d = lat["first_copy"]["press_to_screen"]
    lines += [
        f"| first copy, either radio | {d['n']} | {_ms0(d['p50'])} | {_ms0(d['p95'])} | {_ms0(d['p99'])} | | |",
        "",
        "Each hop (median / p95 ms, and its share of the summed medians):",
        "",
        f"| Hop | BLE | {lora_name} |",
        "|---|---|---|",
        *hop_rows(lat, VIRTUAL.hops, VIRTUAL.labels, _ms0),
    ]
    ack, hlp = lat["press_to_ack_on_ring"], lat["press_to_help_on_ring"]
    lines += [
        "",
        f"Recognised to ACK felt on the ring: p50 {_ms0(ack['p50'])} ms, p95 {_ms0(ack['p95'])} ms (n={ack['n']}); "
        f'to "help on the way": p50 {_ms0(hlp["p50"])} ms (n={hlp["n"]}).',
        "",
        *_alarms(s["alarms"]),
        "",
        *reach_report.markdown(s["reach"]),
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
    dp = s["dispatch"]
    lines += [
        "",
        "## Dispatch",
        "",
        f"Pipeline outcomes: {json.dumps(dp['outcomes'], sort_keys=True)}; alarm copies counted as "
        f"replays: {dp['alarm_copies_counted_as_replay']}. Real pipeline time per frame: "
        f"p50 {dp['pipeline_us']['p50']} µs, p99 {dp['pipeline_us']['p99']} µs.",
        f"Recovery sweeps (SPEC 7.5): {dp['recovery_sweeps']}, {dp['recovery_sweep_cpu_s']} s of "
        f"real CPU; frames no device claimed: {dp['unresolved_given_up']}.",
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
    return _plots(lines, plots)


# ---- real time ----------------------------------------------------------------------------------------------------


def _live(s: dict[str, Any], plots: list[Path]) -> str:
    lat, bare = s["latency_ms"], s["bare_broker_hop_ms"]
    lines = [
        f"# Real-time run: {s['scenario']}",
        "",
        f"{s['alarms']['pressed']} alarms at {s['rate_per_s']} a second (achieved {s['achieved_rate_per_s']}) over "
        f"{s['seconds']} s; {s['gateways']} gateways running the real relay code, broker {s['broker']}, the real "
        f"dispatch service ({s['dispatch']}), {s['responders']} simulated responders on its live stream.",
        "",
        *_budget(lat, "LoRa SF9", _ms1),
    ]
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
            *budget_head("BLE alarms"),
        ]
        for key, name, met in (
            ("within_range", f"within {cov['reliable_range_m']:.0f} m of a scanner", cov["budget_met_within_range"]),
            ("beyond_range", "further (the edge of BLE coverage)", None),
        ):
            lines.append(budget_row(name, cov[key], "300", _met(met), _ms1))
    lines += ["", "Each hop (median / p95 ms, and its share of the summed medians):", "", "| Hop | BLE | LoRa SF9 |"]
    lines.append("|---|---|---|")
    lines += hop_rows(lat, LIVE.hops, LIVE.labels, _ms1)
    lines += ["", "After the push (median / p95 ms, n):", "", "| Step | p50 | p95 | n |", "|---|---|---|---|"]
    for name, d in lat["after_dispatch"].items():
        lines.append(f"| {name.replace('_', ' ')} | {_ms1(d['p50'])} | {_ms1(d['p95'])} | {d['n']} |")
    r = s["ratios_to_bare_broker_hop"]
    lines += [
        "",
        f"**Bare broker hop** (QoS 1 publish to a subscriber, same broker, same run): p50 {_ms1(bare['p50'])} ms, "
        f"p95 {_ms1(bare['p95'])} ms (n={bare['n']}). As ratios to it: gateway -> broker p50 "
        f"{r['gateway_broker_p50_x_bare']}x; broker -> responder's screen p50 {r['broker_to_screen_p50_x_bare']}x, "
        f"p95 {r['broker_to_screen_p95_x_bare']}x; press to screen p50 {r['press_to_screen_p50_x_bare']}x, p95 "
        f"{r['press_to_screen_p95_x_bare']}x.",
        "",
        *_alarms(s["alarms"]),
    ]
    if "reach" in s:
        lines += ["", *reach_report.markdown(s["reach"])]
    return _plots(lines, plots)


def write(summary: dict[str, Any], plots: list[Path], out: Path) -> tuple[Path, Path]:
    j, m = out / "summary.json", out / "summary.md"
    j.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    m.write_text(markdown(summary, plots), encoding="utf-8")
    return j, m
