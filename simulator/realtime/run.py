"""One real-time run, from a scenario to its report: the function the CLI, the tests and the bench call.

Set-up (not timed): the broker and the dispatch service (services.py), the rings provisioned and the responders on
duty through the public API, every gateway relay connected, the observer and the live streams open. Then the clock
starts: each alarm's ring boots a few seconds before its wearer presses (load.py), and the run ends once every
alarm has settled (help on the way, or cancelled, on the ring) or a deadline after the last press.
"""

import asyncio
import math
import secrets
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from simulator import plots, report
from simulator.alarm_plan import CANCEL, DURESS, DURESS_WORD, ESCORT_OUT_OF_HOURS, FALSE_ALARM
from simulator.ble_reach import Reach, reliable_range_m
from simulator.gestures import SOS_HOLD_MS
from simulator.live_summary import ble_coverage, live
from simulator.realtime.city import AGAIN_AFTER_S, LiveCity
from simulator.realtime.clock import WallClock
from simulator.realtime.gateways import SimGateways
from simulator.realtime.load import (
    BOOT_LEAD_S,
    CANCEL_WINDOW_S,
    LATE_CANCEL_AFTER_S,
    OFF_SHIFT_GAP_S,
    Press,
    plan,
)
from simulator.realtime.observer import Observer
from simulator.realtime.reached import planned, reach
from simulator.realtime.responders import Responders
from simulator.realtime.services import Rules, Tokens, services
from simulator.scenario import RadioSettings, Scenario
from simulator.trace import LiveTrace
from simulator.world import World, build

Progress = Callable[[float, dict[str, int]], None]  # (seconds into the run, live counters)
PROBES_PER_S = 5.0
# After the last press and its follow-ups, at most this long for the ACKs: a ring's LoRa may wait out its duty cycle.
SETTLE_S = 30.0


@dataclass
class Options:
    rate: float = 2.0  # alarms a second
    seconds: float = 20.0
    accept_s: float = 1.0  # a responder's time to accept, scripted short: a real night's 15-60 s would only wait
    # Then they resolve it, and are free for the next offer: long enough for a wearer who holds SOS again once help
    # is on its way (2.6 s) to press while the incident is still open.
    on_scene_s: float = 5.0
    broker: str = "mosquitto"  # or "amqtt"; or "external", listening on mqtt_port
    mqtt_port: int = 0
    mqtt_protocol: int = 5  # of an external broker
    dispatch: str = "process"  # or "in-process"


@dataclass
class Result:
    traces: list[LiveTrace]
    summary: dict[str, Any]
    files: list[Path] = field(default_factory=list)
    incident_log: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # as the service committed it


def staff(world: World, opts: Options) -> list[tuple[str, str, str, list[str], float, float]]:
    """The scenario's responders, all on duty (shifts are a night's matter), plus relief copies of them when the
    rate would keep everyone busy: each is tied up for accept + on-scene seconds per incident, and an incident
    nobody is free for waits for the broadcast instead of going to a screen."""
    base = list(world.scenario.responders)
    need = max(len(base), math.ceil(opts.rate * (opts.accept_s + opts.on_scene_s + 1.0) * 2))
    out = []
    for k in range(need):
        r = base[k % len(base)]
        rid = r.id if k < len(base) else f"{r.id}-relief-{k // len(base)}"
        # Relief stands a few tens of metres away, so the nearest-first order stays that of the scenario.
        lat, lon = r.lat + 0.0003 * (k // len(base)), r.lon
        out.append((rid, rid, "nl", list(r.skills), lat, lon))
    return out


async def run_async(sc: Scenario, opts: Options, out: Path | None = None, progress: Progress | None = None) -> Result:
    world = build(sc)
    presses = plan(world, opts.rate, opts.seconds)
    people = staff(world, opts)
    tokens = Tokens(responders={p[0]: secrets.token_urlsafe(18) for p in people})
    clock = WallClock()
    with tempfile.TemporaryDirectory(prefix="nightwatch-rt-") as tmp:
        work = Path(tmp)
        async with (
            services(
                work,
                tokens,
                opts.broker,
                opts.dispatch,
                opts.mqtt_port,
                mqtt_protocol=opts.mqtt_protocol,
                rules=Rules(sc.timezone, CANCEL_WINDOW_S),
            ) as ep,
            httpx.AsyncClient(base_url=ep.http_base, timeout=10) as http,
        ):
            resp = Responders(clock, http, tokens)
            await resp.provision([(p.ring + 1, world.root_key(p.ring)) for p in presses])
            await resp.staff(people)
            gateways = SimGateways(world, work, lambda g, f: None)
            async with gateways.running(ep.mqtt_port, one_at_a_time=ep.mqtt_protocol == 4):
                city = LiveCity(world, clock, gateways, resp, opts.accept_s, opts.on_scene_s)
                obs = Observer(clock, ep.mqtt_host, ep.mqtt_port, ep.mqtt_protocol, city.on_up, city.on_down)
                await obs.start()
                await resp.listen(["operator", *(p[0] for p in people)])
                try:
                    await _drive(city, obs, presses, clock, opts, progress, people)
                    logs = await resp.incident_logs({p.ring + 1 for p in presses})
                    end_ms = clock.ms()
                finally:
                    await city.close()
                    await resp.close()
                    await obs.stop()
    meta = {
        "scenario": sc.name,
        "rate_per_s": opts.rate,
        "achieved_rate_per_s": _achieved(city.traces),
        "seconds": opts.seconds,
        "gateways": len(world.gateways.ids),
        "broker": ep.broker_name,
        "dispatch": "nightwatch dispatch, own process" if opts.dispatch == "process" else "in process",
        "responders": len(people),
        "frames_on_air": dict(city.frames),
        "downlinks_on_air": city.downlinks_on_air,
    }
    summary = live(city.traces, obs.probe_ms(), meta)
    summary["reach"] = reach(city.traces, logs, clock, end_ms, planned(presses))
    summary["ble_coverage"] = ble_coverage(city.traces, _nearest_scanner(world, city.where), _reach(sc.radio))
    files: list[Path] = []
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        pngs = plots.live_plots(city.traces, obs.probe_ms(), summary, out)
        files = [*pngs, *report.write(summary, pngs, out)]
    return Result(city.traces, summary, files, logs)


def _nearest_scanner(world: World, where: dict[int, tuple[float, float]]) -> dict[int, float]:
    """Each ring's distance to the nearest BLE scanner, where it stood."""
    gws = world.gateways
    ble = np.flatnonzero(gws.ble)
    if not len(ble):
        return {}
    return {i: float(np.min(np.hypot(gws.x[ble] - x, gws.y[ble] - y))) for i, (x, y) in where.items()}


def _reach(radio: RadioSettings) -> Callable[[float], Reach]:
    return lambda within_ms: reliable_range_m(within_ms, radio)


async def _drive(
    city: LiveCity,
    obs: Observer,
    presses: list[Press],
    clock: WallClock,
    opts: Options,
    progress: Progress | None,
    people: list[tuple[str, str, str, list[str], float, float]],
) -> None:
    """Boot, press and probe on schedule, until every press settled or the deadline."""
    loop = asyncio.get_running_loop()
    t0 = clock.ms() / 1000
    due: list[int] = [0]  # gestures scheduled and not yet made

    def at(t_s: float, fn: Callable[..., Any], *args: Any) -> None:
        due[0] += 1

        def fire() -> None:
            due[0] -= 1
            fn(*args)

        loop.call_at(clock.loop_time((t0 + t_s) * 1000), fire)

    for p in presses:
        city.add_ring(p.ring, p.t_virtual_ms)
        loop.call_at(clock.loop_time((t0 + p.at_s - BOOT_LEAD_S) * 1000), city.rings.boot, p.ring)
        at(p.at_s, _press, city, p, t0)
        if p.cancel_at_s is not None:
            at(p.cancel_at_s, city.press, p.ring, CANCEL)
        if p.duress_at_s is not None:
            at(p.duress_at_s, city.press, p.ring, DURESS, False, DURESS_WORD)
    out_of_hours = [p.at_s for p in presses if p.act == ESCORT_OUT_OF_HOURS]
    if out_of_hours:
        off = asyncio.ensure_future(_off_shift(city, people, min(out_of_hours) - OFF_SHIFT_GAP_S / 2 + t0, clock))
    last = presses[-1].at_s
    # The latest follow-up: a second hold after "help on the way" and after the resolve, or a late cancel.
    follow = max(
        LATE_CANCEL_AFTER_S + opts.on_scene_s,
        2 * (SOS_HOLD_MS / 1000 + opts.accept_s) + opts.on_scene_s + 2 * AGAIN_AFTER_S,
    )
    deadline = t0 + last + follow + SETTLE_S
    next_probe = t0
    while True:
        now = clock.ms() / 1000
        if now >= next_probe:
            obs.probe()
            next_probe += 1 / PROBES_PER_S
        if progress is not None:
            progress(now - t0, city.live())
        settled = not due[0] and not city.pending and all(t.settled and not t.again for t in city.traces)
        if settled or now > deadline:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)  # the streams' last events (a resolve, a cancel) arrive before the report
    if out_of_hours:
        await off


async def _off_shift(
    city: LiveCity, people: list[tuple[str, str, str, list[str], float, float]], at_s: float, clock: WallClock
) -> None:
    await asyncio.sleep(max(0.0, at_s - clock.ms() / 1000))
    await city.responders.off_shift(people, city.world.scenario.timezone)
    city.say("the night patrol's shift is over: escorts from now on find nobody")


def _press(city: LiveCity, p: Press, t0: float) -> None:
    trace = city.press(p.ring, p.kind, p.cancel_at_s is not None and p.act == FALSE_ALARM, p.act, p.again)
    if trace is not None and p.cancel_at_s is not None:
        trace.cancel_due_ms = (t0 + p.cancel_at_s) * 1000


def _achieved(traces: list[LiveTrace]) -> float | None:
    """Alarms a second as pressed on the wall clock."""
    pressed = sorted(t.pressed_ms for t in traces)
    span = (pressed[-1] - pressed[0]) / 1000 if len(pressed) > 1 else 0.0
    return round((len(pressed) - 1) / span, 2) if span > 0 else None


def run(sc: Scenario, opts: Options, out: Path | None = None, progress: Progress | None = None) -> Result:
    return asyncio.run(run_async(sc, opts, out, progress))
