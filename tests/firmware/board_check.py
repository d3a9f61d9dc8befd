"""Drive firmware/board_esp32.py on the fakes in tests/firmware/fake_mcu, under the MicroPython unix port.

    MICROPYPATH=tests/firmware/fake_mcu:<repo>:.frozen micropython tests/firmware/board_check.py DIR

Builds the real Board and Keyring, presses the button through the pin's interrupt handler, and checks what
reached the (fake) BLE stack and SX1262 driver, then the deep-sleep path. Exits 1 on a failed check.
"""

import struct
import sys
import time

import bluetooth
import esp32
import lora
import machine

from firmware import advert, channels, keyring, power
from firmware.airtime import UPLINK_CHANNELS
from firmware.board_esp32 import Board
from firmware.config import Config
from firmware.keyring import Keyring
from firmware.ticks import ticks_ms
from protocol import ack, uplink
from protocol.constants import ACK_HELP_ON_THE_WAY, EVENT_HEARTBEAT, EVENT_SOS
from protocol.keys import DeviceKeys

KEY = bytes(range(16))


def check(cond, what):
    if not cond:
        print("FAIL", what)
        sys.exit(1)


def decode(keys, frame):
    for c in range(1, 100):
        if uplink.verify(keys, frame, c):
            return uplink.decode(keys, frame, c)
    return None


def run_until(app, board, ms):
    end = time.ticks_add(time.ticks_ms(), ms)
    while time.ticks_diff(end, time.ticks_ms()) > 0:
        app.poll(ticks_ms())
        time.sleep_ms(5)


def main(root):
    # Short press timings: the board stamps edges with the real ticks_ms, so the test waits in real time.
    cfg = Config(77, KEY, 1, {"debounce_ms": 5, "click_max_ms": 40, "gap_ms": 60, "arm_ms": 50, "hold_ms": 100})
    keys = DeviceKeys(KEY)
    board = Board(cfg, root + "/")
    app = Keyring(board.hardware(), cfg, keys, ticks_ms())
    app.poll(ticks_ms())
    sent = lora.SENT
    check(len(sent) == 1, "boot heartbeat on LoRa")
    freq_khz, sf, frame = sent[0]
    up = decode(keys, frame)
    check(up is not None and up.event == EVENT_HEARTBEAT and up.device_id == 77, "boot heartbeat decodes")
    walk = bytearray(channels.N_CHANNELS)
    channels.order(77, 0, walk)  # counter 1, first copy: position 1 of round 0
    check(freq_khz * 1000 == UPLINK_CHANNELS[walk[1]] and sf == 9, "the walk's channel, SF9")
    check(lora.SX1262.last.cfg["syncword"] == 0x34, "public sync word")
    check(lora.SX1262.last.cfg["invert_iq_rx"] is True and lora.SX1262.last.cfg["invert_iq_tx"] is False, "IQ")

    # Press through the interrupt handler: pin low = pressed.
    button = machine.Pin.pins[33]
    button.drive(0)
    run_until(app, board, cfg.hold_ms + 50)
    button.drive(1)
    app.poll(ticks_ms())
    check(bluetooth.ADVERTS, "an advert went out")
    interval, adv, connectable, ble_cfg = bluetooth.ADVERTS[0]
    check(interval == 20000 and connectable is False, "20 ms non-connectable adverts")
    check(ble_cfg.get("addr_mode") == 3, "private address")
    parsed = advert.parse(adv)
    check(parsed is not None and parsed[0] == 0xFFFF, "our company id")
    sos = decode(keys, parsed[1])
    check(sos is not None and sos.event == EVENT_SOS, "SOS in the advert")

    # SPEC 10: a new private address with every new counter, not with every copy.
    starts = len(bluetooth.STARTS)
    board.ble.advertise(parsed[1])
    check(len(bluetooth.STARTS) == starts, "a copy of the same counter keeps the address")
    other = bytearray(parsed[1])
    other[3] ^= 0xFF  # another pseudonym: another counter
    board.ble.advertise(bytes(other))
    check(len(bluetooth.STARTS) == starts + 1, "a new counter restarts BLE with a new address")
    board.ble.advertise(parsed[1])

    # An ACK through the driver's receive path.
    run_until(app, board, 500)  # the boot heartbeat and then the SOS are on air for 206 ms each
    check(decode(keys, sent[-1][2]).counter == sos.counter, "LoRa copy has the same counter")
    check(sent[-1][0] != sent[0][0], "the SOS went out on the other sub-band, the radio retuned from receiving")
    check(machine.Pin.pins[25].level == 1 and machine.Pin.pins[32].level == 1, "red LED and motor: sending")
    lora.SX1262.last.rx.append(ack.encode(keys, ack.Ack(sos.counter, ACK_HELP_ON_THE_WAY, 0, 5)))
    app.poll(ticks_ms())
    check(app.alarm is not None and app.alarm.state == ACK_HELP_ON_THE_WAY, "help on the way accepted")

    # Counters were reserved in flash under the storage root.
    with open(root + "/ctr_b", "rb") as f:
        check(len(f.read()) == 12, "counter record written")

    # Deep sleep: snapshot in RTC memory, ext0 on the button, timer set.
    app.alarms.alarm = None
    app.alarms.until = None
    slept = False
    try:
        board.deep_sleep(app.snapshot(ticks_ms()), 3600000)
    except machine.DeepSleep:
        slept = True
    check(slept, "deep_sleep does not return")
    check(("deepsleep", 3600000) in machine.CALLS, "deep sleep with the heartbeat timer")
    check(("ext0", 33, False) in esp32.WAKE, "button wakes the chip")
    check(len(machine.RTC.data) == struct.calcsize(keyring._RETAINED) + 8, "snapshot and time kept in RTC memory")

    # Wake from deep sleep by the button: the board reports the press at once.
    machine._reset_cause = machine.DEEPSLEEP_RESET
    machine._wake_reason = machine.EXT0_WAKE
    button.level = 0
    board2 = Board(cfg, root + "/")
    retained, slept_ms = board2.retained()
    check(
        retained is not None and len(retained) == struct.calcsize(keyring._RETAINED) and slept_ms >= 0,
        "snapshot back after the wake",
    )
    app2 = Keyring(board2.hardware(), cfg, keys, ticks_ms(), retained, slept_ms)
    check(not app2.can_deep_sleep(), "the waking press is being recognised")
    mode, _ms = power.sleep_plan(app2, ticks_ms())
    check(mode == power.LIGHT, "light sleep while the press goes on")
    board2.light_sleep(5)
    check(("lightsleep", 5) in machine.CALLS, "light sleep used")
    check(esp32.WAKE[-2] == ("ext0", 33, True), "held button: wake on its release, not at once")
    machine.Pin.pins[33].level = 1  # released (board2 made its own Pin object for the same wire)
    board2.sync_button()
    board2.light_sleep(5)
    check(esp32.WAKE[-2] == ("ext0", 33, False) and esp32.WAKE[-1] == ("ext1", (39,), True), "wake sources")
    print("board ok")


main(sys.argv[1])
