"""Run firmware/main.py's loop on the fakes in tests/firmware/fake_mcu until the ring first deep-sleeps.

MICROPYPATH=tests/firmware/fake_mcu:<repo>:.frozen micropython tests/firmware/main_check.py DIR
"""

import struct
import sys

import lora
import machine

from firmware import keyring
from firmware.config import Config, dump
from firmware.main import run

root = sys.argv[1]
with open(root + "/nightwatch.json", "w") as f:
    f.write(dump(Config(5, bytes(range(16)), 100, {"rx_window_ms": 50})))
try:
    run(root + "/nightwatch.json", root + "/")
except machine.DeepSleep:
    pass
else:
    print("FAIL the loop ended without deep sleep")
    sys.exit(1)
ms = [c[1] for c in machine.CALLS if c[0] == "deepsleep"]
# One boot heartbeat, its 50 ms receive window unanswered, so (SPEC 7.5) the next one in two hours.
if len(lora.SENT) != 1 or len(ms) != 1 or not 119 * 60000 < ms[0] <= 120 * 60000:
    print("FAIL", lora.SENT, machine.CALLS)
    sys.exit(1)
if len(machine.RTC.data) != struct.calcsize(keyring._RETAINED) + 8:
    print("FAIL snapshot not kept")
    sys.exit(1)
print("main ok")
