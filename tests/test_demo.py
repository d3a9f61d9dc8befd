"""`make demo` on a fresh machine: the whole chain runs on embedded defaults and a ring hears help is coming."""

import subprocess
import sys
from pathlib import Path


def test_demo_runs_the_whole_chain_and_stops_cleanly() -> None:
    exe = Path(sys.executable).with_name("nightwatch")
    proc = subprocess.run(
        [str(exe), "demo", "--duration", "16"], capture_output=True, text=True, timeout=90, check=False
    )
    out = proc.stdout
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "/docs" in out and "/api/v1/stream" in out  # the URLs a person opens
    assert "held its button: SOS" in out
    assert "'received'" in out and "'help on the way'" in out  # the ring heard both ACKs, through a gateway
    assert out.rstrip().endswith("stopped")


def test_protocol_tour() -> None:
    exe = Path(sys.executable).with_name("nightwatch")
    proc = subprocess.run([str(exe), "demo", "--protocol-tour"], capture_output=True, text=True, timeout=60, check=True)
    assert "rejected: mic" in proc.stdout
