"""`make demo` (nightwatch/demo/live.py) and the protocol tour (protocol_tour.py). The demo's embedded broker and
packet forwarders are the development harness's (harness/amqtt_broker.py, harness/forwarder.py), which the simulator's
real-time mode shares.

Kept free of imports: the demo imports the simulator.
"""


def run(duration: float | None = None) -> None:
    from nightwatch.demo.live import run as live

    live(duration)
