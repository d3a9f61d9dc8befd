"""`make demo` on a fresh machine: the whole chain on embedded defaults, built on the simulator's real-time mode,
and a ring hears help is coming."""

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

EXE = str(Path(sys.executable).with_name("nightwatch"))


def test_demo_runs_the_whole_chain_and_stops_cleanly() -> None:
    proc = subprocess.run([EXE, "demo", "--duration", "16"], capture_output=True, text=True, timeout=90, check=False)
    out = proc.stdout
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "/docs" in out and "/api/v1/stream" in out  # the URLs a person opens
    assert "/ui/#token=" in out  # with their tokens
    assert out.count("responder view, ") >= 3  # every responder's own link
    assert "accept each alarm offered to them after 3 s" in out and "/walk" in out
    assert "gateways running the real relay code" in out
    assert "held its button: SOS" in out
    assert "offered to" in out and "accepted incident" in out  # a simulated responder took it on the live stream
    assert "'received'" in out and "'help on the way'" in out  # the ring's firmware verified both ACKs
    assert out.rstrip().endswith("stopped")


def test_demo_moves_off_taken_ports_and_stops_on_ctrl_c() -> None:
    held = []
    for port in (1883, 8080):
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
            s.listen()
            held.append(s)
        except OSError:
            s.close()  # taken already by something else: the demo must move off it all the same
    proc = subprocess.Popen([EXE, "demo"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        lines = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if "responders on duty" in line or not line:
                break
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=30)
    finally:
        for s in held:
            s.close()
        if proc.poll() is None:
            proc.kill()
    out = "".join(lines) + rest
    assert proc.returncode == 0, err[-2000:]
    assert "[1883 was taken]" in out and "[8080 was taken]" in out
    assert "stopping" in out and out.rstrip().endswith("stopped")


def test_protocol_tour() -> None:
    proc = subprocess.run([EXE, "demo", "--protocol-tour"], capture_output=True, text=True, timeout=60, check=True)
    assert "rejected: mic" in proc.stdout
