"""What `nightwatch provision` makes for a ring: the files written onto it (and none it would refuse), a record
that never shows its key, the real firmware booting from those files under the MicroPython unix port, and the
label (`--label-out`) with the ring's id and never its key.
"""

import json
from pathlib import Path
from typing import Any

import pytest

from basestation.dispatch import ring_label
from firmware.config import CONFIG_PATH, parse
from nightwatch import provisioning
from protocol import uplink
from protocol.constants import EVENT_HEARTBEAT
from protocol.keys import DeviceKeys
from tests.firmware import mpy
from tests.provision_cli import KEY, invoke, read_label

FAKE_MCU = Path(__file__).resolve().parent / "firmware" / "fake_mcu"


# -- the files on the ring ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("record", "settings", "expected"),
    [
        (
            provisioning.Record(4242, KEY),
            None,
            '{"device_id": 4242, "root_key": "000102030405060708090a0b0c0d0e0f", "counter_start": 1}\n',
        ),
        (
            provisioning.Record(0, bytes(16), 5000, label="not on the ring"),
            None,
            '{"device_id": 0, "root_key": "00000000000000000000000000000000", "counter_start": 5000}\n',
        ),
        (
            provisioning.Record(0xFFFFFFFF, b"\xff" * 16, 0xFFFFFFFF),
            {"rx_window_ms": 50, "hold_ms": 2000},  # a default is not written out
            '{"device_id": 4294967295, "root_key": "ffffffffffffffffffffffffffffffff", "counter_start": 4294967295,'
            ' "settings": {"rx_window_ms": 50}}\n',
        ),
    ],
)
def test_the_files_for_the_ring(record: provisioning.Record, settings: dict[str, Any] | None, expected: str) -> None:
    files = provisioning.device_files(record, settings)
    assert files == {"/nightwatch.json": expected.encode()}
    assert CONFIG_PATH == "/nightwatch.json"  # the path firmware/main.py opens at boot
    back = parse(files[CONFIG_PATH].decode())
    assert (back.device_id, back.root_key, back.counter_start) == (
        record.device_id,
        record.root_key,
        record.counter_start,
    )


@pytest.mark.parametrize(
    ("record", "settings"),
    [
        (provisioning.Record(1, bytes(15)), None),
        (provisioning.Record(1, KEY, 0), None),
        (provisioning.Record(1, KEY), {"no_such_setting": 1}),
        (provisioning.Record(1, KEY), {"escort_word": "SSSSS"}),  # the same as the test word: the ring would refuse
    ],
)
def test_files_the_ring_would_refuse_are_not_made(record: provisioning.Record, settings: dict[str, Any] | None) -> None:
    with pytest.raises(ValueError):
        provisioning.device_files(record, settings)


def test_a_record_never_shows_its_key() -> None:
    assert KEY.hex() not in repr(provisioning.Record(7, KEY)) and KEY.hex() not in str(provisioning.Record(7, KEY))


BOOT = """
import sys

import lora
import machine

from firmware.config import CONFIG_PATH, load
from firmware.main import run

root = sys.argv[1]
cfg = load(root + CONFIG_PATH)
print("config", cfg.device_id, cfg.root_key.hex(), cfg.counter_start)
try:
    run(root + CONFIG_PATH, root + "/")
except machine.DeepSleep:
    pass
for _freq, _sf, frame in lora.SENT:
    print("sent", frame.hex())
"""


@pytest.mark.micropython
@pytest.mark.parametrize("counter_start", [1, 5000])
def test_the_firmware_boots_from_the_files_under_micropython(tmp_path: Path, counter_start: int) -> None:
    record = provisioning.Record(31337, KEY, counter_start)
    device = tmp_path / "device"  # the ring's filesystem
    device.mkdir()
    # A short receive window only so the boot ends sooner; identity is what is under test.
    for path, content in provisioning.device_files(record, {"rx_window_ms": 50}).items():
        (device / path.lstrip("/")).write_bytes(content)
    script = tmp_path / "boot.py"
    script.write_text(BOOT)
    r = mpy.run([str(script), str(device)], path_first=FAKE_MCU, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.split("\n")
    assert f"config 31337 {KEY.hex()} {counter_start}" in lines
    sent = [bytes.fromhex(line.split()[1]) for line in lines if line.startswith("sent ")]
    assert len(sent) == 1  # the boot heartbeat
    # Sealed under the key, from the ring's id, at the counter dispatch will look for first.
    up = uplink.decode(DeviceKeys(KEY), sent[0], counter_start)
    assert (up.device_id, up.counter, up.event) == (31337, counter_start, EVENT_HEARTBEAT)


# -- the label -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("device_id", [0, 7, 4242, 31337, 0xFFFFFFFF])
def test_provision_writes_a_label_with_the_id_and_never_the_key(tmp_path: Path, device_id: int) -> None:
    out, label = tmp_path / "ring.json", tmp_path / "label.pdf"
    r = invoke("--device-id", str(device_id), "--out", str(out), "--label-out", str(label), "--label", "Anna")
    assert r.exit_code == 0, r.output
    key = json.loads(out.read_text())["root_key"]
    pdf = label.read_bytes()
    got = read_label(pdf)
    assert got.size_mm == (50.0, 25.0)
    assert str(device_id) in got.text.split() and f"check {ring_label.check_digit(device_id)}" in got.text
    assert got.qr == [ring_label.payload(device_id)] and ring_label.parse(got.qr[0]) == device_id
    # Neither the key (as text, in the code, or anywhere in the file) nor whom the ring is for.
    assert key not in got.text and key.encode() not in pdf and key.upper().encode() not in pdf
    assert key not in got.qr[0] and "Anna" not in got.text
