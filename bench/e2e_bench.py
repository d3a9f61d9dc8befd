"""End-to-end benchmark: the simulator's real-time mode (simulator/realtime/) on the leiden-night city at a stated
rate, with the bare broker hop measured in the same run, through the same Mosquitto.

Real parts throughout: `nightwatch dispatch` in its own process on SQLite, a private Mosquitto with the shipped
queue and TCP_NODELAY settings, the 15 gateways of the scenario running the real relay code (Semtech UDP from
FakePacketForwarders, BLE through the fake bleak adapter), the key rings' real firmware logic, simulated responders
on the live stream. Radio hops (BLE discovery, LoRa time on air) come from the radio model and are waited out.

Figures are the budget (recognised SOS to a responder's screen, per radio) and the software's share of it, each
also as a ratio to the bare broker hop: a QoS 1 publish from one client to another through the same broker, with
nothing behind it.
"""

from pathlib import Path
from typing import Any

from simulator.cli import quiet
from simulator.realtime.run import Options
from simulator.realtime.run import run as run_realtime
from simulator.scenario import load

SCENARIO = "leiden-night"
RATE = 2.0  # alarms a second: each is a distinct ring, two radios, retries until ACKed, a responder's accept
SECONDS = 30.0


def run(results: Path) -> tuple[dict[str, float], dict[str, Any]]:
    quiet()
    res = run_realtime(load(SCENARIO), Options(rate=RATE, seconds=SECONDS), results / "e2e")
    s = res.summary
    lat, bare, r, al = s["latency_ms"], s["bare_broker_hop_ms"], s["ratios_to_bare_broker_hop"], s["alarms"]
    gw = {radio: lat[radio]["hops"]["gateway_broker"] for radio in ("ble", "lora")}
    figures: dict[str, Any] = {
        "rate_alarms_per_s": RATE,
        "achieved_alarms_per_s": s["achieved_rate_per_s"],
        "alarms": al["pressed"],
        "lost_alarms": al["pressed"] - al["help_on_ring"],
        "ble_press_to_screen_p50_ms": lat["ble"]["press_to_screen"]["p50"],
        "ble_press_to_screen_p95_ms": lat["ble"]["press_to_screen"]["p95"],
        "lora_press_to_screen_p50_ms": lat["lora"]["press_to_screen"]["p50"],
        "lora_press_to_screen_p95_ms": lat["lora"]["press_to_screen"]["p95"],
        "broker_to_screen_p50_ms": lat["broker_to_screen"]["p50"],
        "broker_to_screen_p95_ms": lat["broker_to_screen"]["p95"],
        "lora_gateway_broker_p50_ms": gw["lora"]["p50"],
        "ble_gateway_broker_p50_ms": gw["ble"]["p50"],
        "bare_hop_p50_ms": bare["p50"],
        "bare_hop_p95_ms": bare["p95"],
        "broker_to_screen_p50_x_bare_hop": r["broker_to_screen_p50_x_bare"],
        "broker_to_screen_p95_x_bare_hop": r["broker_to_screen_p95_x_bare"],
        "gateway_broker_p50_x_bare_hop": r["gateway_broker_p50_x_bare"],
        "press_to_screen_p50_x_bare_hop": r["press_to_screen_p50_x_bare"],
        "press_to_screen_p95_x_bare_hop": r["press_to_screen_p95_x_bare"],
    }
    return {k: float(v) for k, v in figures.items() if v is not None}, s
