"""Power policy (when to deep-sleep) and the battery-life model of docs/keyring.md.

Currents, in mA, with their sources (typical values at 3.3 V, 25 °C):

- ESP32 Series Datasheet v3.5, table 6 "Power consumption by power modes": deep sleep with the RTC timer and
  RTC memory on 0.010 (ext0 wake keeps the RTC IO domain up; taken as the same row plus board leakage below);
  light sleep 0.8; modem sleep (CPU on, radio off) at 160 MHz 27-44, taken as 40.
- ESP32 datasheet, table 15 "RF power-consumption specifications": BLE transmit at 0 dBm 130, receive 95-100.
  Advertising alternates the two with the CPU on: taken as 100 on average while a burst lasts.
- SX1261/2 datasheet rev 2.1 (DS.SX1261-2.W.APP), section 3.4, tables 3-5 to 3-7: sleep with warm start 0.0006;
  receive, DC-DC, BW125 4.6; SX1262 transmit at +14 dBm with the optimal PA settings of section 13.1.14, 45.

Assumptions of the board (say so when they change): a regulator and battery divider that leak 0.004 together
in sleep; boot from deep sleep to the first radio command 400 ms with the firmware frozen into the image; LED 2 mA
when lit; vibration motor 70 mA when on.
"""

from firmware.airtime import time_on_air_ms
from firmware.const import const
from firmware.ticks import ticks_diff

DEEP = const(2)
LIGHT = const(1)

# A wake from deep sleep costs the boot (400 ms at 40 mA = 16 mAs); light sleep costs 0.8 mA. Below 20 s
# of idle, light sleep is cheaper, and it keeps RAM, so it is also quicker to answer a press.
DEEP_SLEEP_MIN_MS = const(20000)

I_DEEP_SLEEP = 0.010 + 0.0006 + 0.004  # ESP32 deep sleep + SX1262 warm sleep + board leakage
I_LIGHT_SLEEP = 0.8
I_CPU = 40.0
I_BLE_BURST = 100.0
I_LORA_TX_14DBM = 45.0
I_LORA_RX = 4.6
I_LED = 2.0
I_VIBE = 70.0
BOOT_S = 0.4


# Open-circuit voltage (mV) of a LiPo/Li-ion cell against remaining charge (%), at rest and 25 °C; a typical
# curve for one cell, read when both radios are idle so the load does not pull it down.
LIPO_CURVE = (
    (3300, 0),
    (3500, 4),
    (3600, 10),
    (3650, 18),
    (3700, 28),
    (3750, 40),
    (3800, 50),
    (3900, 65),
    (4000, 78),
    (4100, 90),
    (4200, 100),
)


def battery_percent(mv: int) -> int:
    """Charge from the cell voltage, interpolated on LIPO_CURVE and clamped to 0..100."""
    if mv <= LIPO_CURVE[0][0]:
        return 0
    for i in range(1, len(LIPO_CURVE)):
        v1, p1 = LIPO_CURVE[i]
        if mv <= v1:
            v0, p0 = LIPO_CURVE[i - 1]
            return p0 + (p1 - p0) * (mv - v0) // (v1 - v0)
    return 100


def sleep_plan(app, now: int):  # -> (mode, ms); ms < 0: no deadline, sleep until an event
    """How the board should wait for the next deadline of ``app`` (a Keyring)."""
    deadline = app.next_deadline(now)
    ms = -1 if deadline is None else max(0, ticks_diff(deadline, now))
    if app.can_deep_sleep() and (ms < 0 or ms >= DEEP_SLEEP_MIN_MS):
        return DEEP, ms
    return LIGHT, ms


def heartbeat_mas(sf: int = 9, ble_ms: int = 0, rx_s: float = 0.0) -> float:
    """Charge of one heartbeat wake, in mA*s: boot, optional BLE burst, one LoRa uplink, optional RX window."""
    toa_s = time_on_air_ms(24, sf) / 1000
    q = BOOT_S * I_CPU
    q += ble_ms / 1000 * I_BLE_BURST
    q += toa_s * (I_LORA_TX_14DBM + I_CPU)
    q += rx_s * (I_LORA_RX + I_LIGHT_SLEEP)
    return q


def alarm_mas(sf: int = 9, minutes_to_ack: float = 1.0, window_min: float = 15.0) -> float:
    """Charge of one alarm: bursts and uplinks until the ACK (about seven attempts in the first minute),
    then the receiver on, the ESP32 in light sleep and the LED blinking through the cancel window."""
    toa_s = time_on_air_ms(24, sf) / 1000
    attempts = 7 * minutes_to_ack
    q = attempts * (1.0 * I_BLE_BURST + toa_s * I_LORA_TX_14DBM)
    q += minutes_to_ack * 60 * (I_LORA_RX + I_LIGHT_SLEEP + 0.5 * I_LED)
    q += 3.0 * I_VIBE  # all the pulses of sending, received and help on the way
    q += window_min * 60 * (I_LORA_RX + I_LIGHT_SLEEP + 0.5 * I_LED)
    return q


def monthly_mah(
    heartbeat_min: int = 60,
    alarms_per_month: float = 2.0,
    sf: int = 9,
    heartbeat_ble_ms: int = 0,
    acked_share: float = 1.0,
    rx_window_s: float = 3.0,
) -> dict:
    """mAh per 30-day month, by cause. ``acked_share``: share of heartbeats the server answers; unanswered,
    every heartbeat from the ACK_REQUEST_GAP-th on asks for an ACK and keeps a receive window open."""
    month_s = 30 * 24 * 3600
    beats = month_s / 60 / heartbeat_min
    asking = 1.0 / 8 if acked_share >= 1.0 else (1.0 - acked_share) + acked_share / 8
    beat_q = heartbeat_mas(sf, heartbeat_ble_ms, 0) + asking * rx_window_s * (I_LORA_RX + I_LIGHT_SLEEP)
    parts = {
        "sleep": month_s * I_DEEP_SLEEP / 3600,
        "heartbeats": beats * beat_q / 3600,
        "alarms": alarms_per_month * alarm_mas(sf) / 3600,
    }
    parts["total"] = parts["sleep"] + parts["heartbeats"] + parts["alarms"]
    return parts


def battery_months(capacity_mah: float = 1000.0, usable: float = 0.8, **kwargs) -> float:
    """Months of service; ``usable`` derates the cell for self-discharge, cold and the cut-off voltage."""
    return capacity_mah * usable / monthly_mah(**kwargs)["total"]
