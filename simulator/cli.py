"""`nightwatch sim run SCENARIO [--out DIR]`: a virtual-time run with a progress bar and live counters.

Hooked into the main command in nightwatch/cli.py with ``app.add_typer(sim_app, name="sim")``.
"""

import logging
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from simulator.run import run as run_scenario
from simulator.scenario import ScenarioError, load

sim_app = typer.Typer(no_args_is_help=True, help="The city simulator (docs/simulator.md).")


def _counters(live: dict[str, Any]) -> str:
    return (
        f"heartbeats {live['hb_delivered']}/{live['heartbeats']}  alarms {live['alarms']}  "
        f"on screen {live['on_screen']}  acked {live['acked']}  incidents {live['incidents']}  "
        f"firmware rings {live['exact_rings']}"
    )


@sim_app.command("run")
def run(
    scenario: Annotated[str, typer.Argument(help="A scenario file, or the name of one in simulator/scenarios/.")],
    out: Annotated[Path, typer.Option("--out", help="Directory for the PNGs, summary.json and summary.md.")] = Path(
        "sim-out"
    ),
    realtime: Annotated[
        bool, typer.Option("--realtime", help="Drive the real broker, gateway relays and dispatch service.")
    ] = False,
    rate: Annotated[float, typer.Option("--rate", min=0.05, max=50, help="--realtime: alarms a second.")] = 2.0,
    seconds: Annotated[float, typer.Option("--seconds", min=1, help="--realtime: seconds of alarms.")] = 20.0,
    broker: Annotated[str, typer.Option("--broker", help="--realtime: mosquitto (default) or amqtt.")] = "mosquitto",
    plots: Annotated[bool, typer.Option("--plots/--no-plots", help="Write the PNG plots.")] = True,
    fidelity: Annotated[
        int,
        typer.Option(
            "--fidelity", min=0, help="Replay this many alarm rings under the MicroPython interpreter and compare."
        ),
    ] = 0,
) -> None:
    """Run SCENARIO in virtual time (or, with --realtime, against the real services) and write its report to --out."""
    try:
        sc = load(scenario)
    except ScenarioError as e:
        raise typer.BadParameter(str(e), param_hint="SCENARIO") from None
    if broker not in ("mosquitto", "amqtt"):
        raise typer.BadParameter("mosquitto or amqtt", param_hint="--broker")
    console = Console()
    if realtime:
        from simulator.realtime.cli import run_realtime

        run_realtime(console, sc, out, rate, seconds, broker, plots)
        return
    # Frames no device claims are counted in the report; one warning line each would bury the progress bar.
    logging.getLogger("nightwatch.dispatch.pipeline").setLevel(logging.ERROR)
    total_ms = sc.duration_h * 3_600_000
    with Progress(
        TextColumn("[bold]{task.fields[name]}"),
        BarColumn(),
        TextColumn("{task.percentage:>5.1f}% of {task.fields[hours]} h"),
        TimeElapsedColumn(),
        TextColumn("{task.fields[live]}"),
        console=console,
    ) as bar:
        task = bar.add_task("sim", total=total_ms, name=sc.name, hours=f"{sc.duration_h:g}", live="")

        def progress(now_ms: float, live: dict[str, Any]) -> None:
            bar.update(task, completed=min(now_ms, total_ms), live=_counters(live))

        result = run_scenario(sc, out, progress, plots=plots, fidelity=fidelity)
        bar.update(task, completed=total_ms)
    s = result.summary
    lat = s["latency_ms"]
    console.print(
        f"{s['duration_h']:g} virtual h of {s['rings']} rings in {s['speed']['wall_s']} s "
        f"({s['speed']['virtual_per_wall']}x real time)"
    )
    rows = [("BLE", lat["ble"]), ("LoRa", lat["lora"])]
    if len(lat["lora_by_sf"]) > 1:
        rows += [(f"LoRa {sf}", {**v, "budget_ms": lat["lora"]["budget_ms"]}) for sf, v in lat["lora_by_sf"].items()]
    else:
        rows[1] = (f"LoRa {next(iter(lat['lora_by_sf']))}", lat["lora"])
    for name, r in rows:
        d, met = r["press_to_screen"], r["budget_met"]
        verdict = "no alarm over this radio" if met is None else "met" if met else "MISSED"
        console.print(f"{name}: recognised SOS to screen p95 {d['p95']} ms (budget {r['budget_ms']:.0f}): {verdict}")
    reach = s["reach"]
    share = "-" if reach["share"] is None else f"{reach['share']:.1%}"
    console.print(
        f"presses that reached a person: {reach['reached']} of {reach['judged']} ({share}); "
        f"{reach['cancelled_in_window']} cancelled in the window, {reach['never_heard']} never heard by dispatch"
    )
    if s["attacker"] is not None:
        a = s["attacker"]
        console.print(
            f"replay attacker: {a['replays_sent']} replays; of frames dispatch already had, "
            f"{a['accepted_after_delivery']} accepted"
        )
    if "fidelity" in s:
        fid = s["fidelity"]
        console.print(
            f"MicroPython fidelity: {fid['identical']} of {fid['rings']} rings sent the same {fid['frames']} frames"
            + ("" if not fid["differences"] else f"; differences: {fid['differences']}")
        )
    for f in result.files:
        console.print(f"wrote {f}")
