"""`make demo` (nightwatch/demo/live.py), its embedded broker (broker.py), the packet-forwarder stand-in the
simulator shares (forwarder.py) and the protocol tour (protocol_tour.py).

Kept free of imports: the simulator's real-time mode imports forwarder.py, and the demo imports the simulator.
"""


def run(duration: float | None = None) -> None:
    from nightwatch.demo.live import run as live

    live(duration)
