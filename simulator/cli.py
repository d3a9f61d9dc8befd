"""`nightwatch sim`: the city simulator's command, one for both clocks.

``nightwatch sim run SCENARIO`` runs the city in virtual time; ``nightwatch sim live SCENARIO`` (or ``run
--realtime``) drives the real broker, gateway relays and dispatch service with it on the wall clock. Both show a
progress bar with live counters, then the same verdict (the budget per radio, the presses that reached a person)
and what only that clock measures, and write the same report to --out.

Hooked into the main command in nightwatch/cli.py with ``app.add_typer(sim_app, name="sim")``.
"""

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from simulator.scenario import Scenario, ScenarioError, load

sim_app = typer.Typer(no_args_is_help=True, help="The city simulator (docs/simulator.md).")

ScenarioArg = Annotated[str, typer.Argument(help="A scenario file, or the name of one in simulator/scenarios/.")]
OutOpt = Annotated[Path, typer.Option("--out", help="Directory for the PNGs, summary.json and summary.md.")]
PlotsOpt = Annotated[bool, typer.Option("--plots/--no-plots", help="Write the PNG plots.")]
RateOpt = Annotated[float, typer.Option("--rate", min=0.05, max=50, help="Real time: alarms a second.")]
SecondsOpt = Annotated[float, typer.Option("--seconds", min=1, help="Real time: seconds of alarms.")]
BrokerOpt = Annotated[str, typer.Option("--broker", help="Real time: mosquitto (default) or amqtt.")]


def quiet() -> None:
    """The relays and the services log every connect and disconnect; the bar shows what matters."""
    for name in ("basestation", "nightwatch", "paho", "amqtt", "uvicorn", "transitions"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _scenario(name: str) -> Scenario:
    try:
        return load(name)
    except ScenarioError as e:
        raise typer.BadParameter(str(e), param_hint="SCENARIO") from None


@contextmanager
def _bar(console: Console, title: str, done: str, total: float, live: str) -> Iterator[Callable[..., None]]:
    """A progress bar; yields ``update(completed, live_text)``, and fills the bar on the way out."""
    with Progress(
        TextColumn(f"[bold]{title}"),
        BarColumn(),
        TextColumn(done),
        TimeElapsedColumn(),
        TextColumn("{task.fields[live]}"),
        console=console,
    ) as bar:
        task = bar.add_task("sim", total=total, live=live)
        yield lambda completed, text: bar.update(task, completed=min(completed, total), live=text)
        bar.update(task, completed=total)


def _budget_line(console: Console, name: str, r: dict[str, Any], budget_ms: float) -> None:
    d, met = r["press_to_screen"], r["budget_met"]
    verdict = "no alarm over this radio" if met is None else "met" if met else "MISSED"
    console.print(f"{name}: recognised SOS to screen p95 {d['p95']} ms (budget {budget_ms:.0f}): {verdict}")


def _verdict(console: Console, s: dict[str, Any], radios: list[tuple[str, dict[str, Any]]]) -> None:
    """What both clocks print: the budget per radio and the presses that reached a person."""
    for name, r in radios:
        _budget_line(console, name, r, r.get("budget_ms", s["latency_ms"]["lora"]["budget_ms"]))
    reach = s["reach"]
    share = "-" if reach["share"] is None else f"{reach['share']:.1%}"
    console.print(
        f"presses that reached a person: {reach['reached']} of {reach['judged']} ({share}); "
        f"{reach['cancelled_in_window']} cancelled in the window, {reach['never_heard']} never heard by dispatch"
    )


def _wrote(console: Console, files: list[Path]) -> None:
    for f in files:
        console.print(f"wrote {f}")


@sim_app.command("run")
def run(
    scenario: ScenarioArg,
    out: OutOpt = Path("sim-out"),
    realtime: Annotated[
        bool, typer.Option("--realtime", help="Drive the real services on the wall clock, as `sim live` does.")
    ] = False,
    rate: RateOpt = 2.0,
    seconds: SecondsOpt = 20.0,
    broker: BrokerOpt = "mosquitto",
    plots: PlotsOpt = True,
    fidelity: Annotated[
        int,
        typer.Option(
            "--fidelity", min=0, help="Replay this many alarm rings under the MicroPython interpreter and compare."
        ),
    ] = 0,
) -> None:
    """Run SCENARIO in virtual time (or, with --realtime, against the real services) and write its report to --out."""
    if realtime:
        live(scenario, out, rate, seconds, broker, plots)
        return
    from simulator.run import run as run_scenario

    sc = _scenario(scenario)
    # Frames no device claims are counted in the report; one warning line each would bury the progress bar.
    logging.getLogger("nightwatch.dispatch.pipeline").setLevel(logging.ERROR)
    console = Console()
    total_ms = sc.duration_h * 3_600_000
    done = f"{{task.percentage:>5.1f}}% of {sc.duration_h:g} h"
    with _bar(console, sc.name, done, total_ms, "") as update:

        def progress(now_ms: float, c: dict[str, Any]) -> None:
            update(
                now_ms,
                f"heartbeats {c['hb_delivered']}/{c['heartbeats']}  alarms {c['alarms']}  "
                f"on screen {c['on_screen']}  acked {c['acked']}  incidents {c['incidents']}  "
                f"firmware rings {c['exact_rings']}",
            )

        result = run_scenario(sc, out, progress, plots=plots, fidelity=fidelity)
    s = result.summary
    lat = s["latency_ms"]
    console.print(
        f"{s['duration_h']:g} virtual h of {s['rings']} rings in {s['speed']['wall_s']} s "
        f"({s['speed']['virtual_per_wall']}x real time)"
    )
    rows = [("BLE", lat["ble"]), ("LoRa", lat["lora"])]
    by_sf = lat["lora_by_sf"]
    if len(by_sf) > 1:
        rows += [(f"LoRa {sf}", v) for sf, v in by_sf.items()]  # each SF held to LoRa's budget
    else:
        rows[1] = (f"LoRa {next(iter(by_sf))}", lat["lora"])
    _verdict(console, s, rows)
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
    _wrote(console, result.files)


@sim_app.command("live")
def live(
    scenario: ScenarioArg,
    out: OutOpt = Path("sim-out"),
    rate: RateOpt = 2.0,
    seconds: SecondsOpt = 20.0,
    broker: BrokerOpt = "mosquitto",
    plots: PlotsOpt = True,
) -> None:
    """Drive the real broker, relays and dispatch service with SCENARIO on the wall clock; report to --out."""
    from simulator.realtime.load import BOOT_LEAD_S
    from simulator.realtime.run import Options
    from simulator.realtime.run import run as run_live

    sc = _scenario(scenario)
    if broker not in ("mosquitto", "amqtt"):
        raise typer.BadParameter("mosquitto or amqtt", param_hint="--broker")
    quiet()
    console = Console()
    total = BOOT_LEAD_S + seconds
    setting_up = "setting up the broker, dispatch and gateways"
    with _bar(console, f"{sc.name} (real time)", "{task.completed:>5.1f} s", total, setting_up) as update:

        def progress(at_s: float, c: dict[str, int]) -> None:
            update(at_s, "  ".join(f"{k.replace('_', ' ')} {v}" for k, v in c.items()))

        result = run_live(sc, Options(rate=rate, seconds=seconds, broker=broker), out if plots else None, progress)
    s = result.summary
    lat, r = s["latency_ms"], s["ratios_to_bare_broker_hop"]
    console.print(
        f"{s['alarms']['pressed']} alarms at {s['achieved_rate_per_s']}/s: {s['alarms']['incidents']} incidents, "
        f"{s['alarms']['on_a_responder_screen']} on a responder's screen, {s['alarms']['help_on_ring']} heard "
        "'help on the way'"
    )
    _verdict(console, s, [("BLE", lat["ble"]), ("LoRa SF9", lat["lora"])])
    bare = s["bare_broker_hop_ms"]
    console.print(
        f"bare broker hop p50 {bare['p50']} ms; broker to screen p50 {r['broker_to_screen_p50_x_bare']}x, "
        f"p95 {r['broker_to_screen_p95_x_bare']}x"
    )
    _wrote(console, result.files)
