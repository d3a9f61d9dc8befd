"""`nightwatch sim run SCENARIO --realtime`: a progress bar on the wall clock, live counters, the verdict."""

import logging
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from simulator.realtime.load import BOOT_LEAD_S
from simulator.realtime.run import Options, run
from simulator.scenario import Scenario


def quiet() -> None:
    """The relays and the services log every connect and disconnect; the bar shows what matters."""
    for name in ("basestation", "nightwatch", "paho", "amqtt", "uvicorn", "transitions"):
        logging.getLogger(name).setLevel(logging.ERROR)


def run_realtime(
    console: Console, sc: Scenario, out: Path, rate: float, seconds: float, broker: str, plots: bool = True
) -> None:
    quiet()
    opts = Options(rate=rate, seconds=seconds, broker=broker)
    total = BOOT_LEAD_S + seconds
    with Progress(
        TextColumn("[bold]{task.fields[name]} (real time)"),
        BarColumn(),
        TextColumn("{task.completed:>5.1f} s"),
        TimeElapsedColumn(),
        TextColumn("{task.fields[live]}"),
        console=console,
    ) as bar:
        task = bar.add_task("rt", total=total, name=sc.name, live="setting up the broker, dispatch and gateways")

        def progress(at_s: float, live: dict[str, int]) -> None:
            text = "  ".join(f"{k.replace('_', ' ')} {v}" for k, v in live.items())
            bar.update(task, completed=min(at_s, total), live=text)

        result = run(sc, opts, out if plots else None, progress)
        bar.update(task, completed=total)
    s = result.summary
    lat, r = s["latency_ms"], s["ratios_to_bare_broker_hop"]
    console.print(
        f"{s['alarms']['pressed']} alarms at {s['achieved_rate_per_s']}/s: {s['alarms']['incidents']} incidents, "
        f"{s['alarms']['on_a_responder_screen']} on a responder's screen, {s['alarms']['help_on_ring']} heard "
        "'help on the way'"
    )
    for radio, name in (("ble", "BLE"), ("lora", "LoRa SF9")):
        d, met = lat[radio]["press_to_screen"], lat[radio]["budget_met"]
        verdict = "no alarm over this radio" if met is None else "met" if met else "MISSED"
        console.print(
            f"{name}: recognised SOS to screen p95 {d['p95']} ms (budget {lat[radio]['budget_ms']:.0f}): {verdict}"
        )
    reach = s["reach"]
    share = "-" if reach["share"] is None else f"{reach['share']:.1%}"
    console.print(
        f"presses that reached a person: {reach['reached']} of {reach['judged']} ({share}); "
        f"{reach['cancelled_in_window']} cancelled in the window, {reach['never_heard']} never heard by dispatch"
    )
    bare = s["bare_broker_hop_ms"]
    console.print(
        f"bare broker hop p50 {bare['p50']} ms; broker to screen p50 {r['broker_to_screen_p50_x_bare']}x, "
        f"p95 {r['broker_to_screen_p95_x_bare']}x"
    )
    for f in result.files:
        console.print(f"wrote {f}")
