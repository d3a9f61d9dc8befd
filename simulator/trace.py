"""What the engine records about each press (SOS, escort, duress), hop by hop, for the reports (virtual ms from the
scenario start)."""

from dataclasses import dataclass, field


@dataclass
class RadioPath:
    """One radio's part of an alarm: first frame on air, first gateway receive, first copy at dispatch."""

    on_air_ms: float | None = None
    gateway_rx_ms: float | None = None
    gateway_out_ms: float | None = None  # envelope handed to the MQTT client
    broker_ms: float | None = None
    dispatch_ms: float | None = None  # the pipeline has handled it
    gateway_id: str = ""


@dataclass
class AlarmTrace:
    ring: int
    kind: str
    pressed_ms: float  # the wearer started the gesture
    recognised_ms: float | None = None  # the firmware recognised it (the budget's start)
    counter: int = 0
    x: float = 0.0
    y: float = 0.0
    false_alarm: bool = False
    sf: int = 9  # the ring's LoRa spreading factor
    paths: dict[str, RadioPath] = field(default_factory=lambda: {"ble": RadioPath(), "lora": RadioPath()})
    incident_id: str | None = None
    accepted_ms: float | None = None  # dispatch accepted the first copy (incident opened)
    screen_ms: float | None = None  # the incident reached a screen (first push delivered)
    offered: bool = False
    responder_accept_ms: float | None = None
    ack_ring_ms: float | None = None  # the ring verified its first ACK ("received")
    help_ring_ms: float | None = None  # ... "help on the way"
    cancelled_ms: float | None = None
    attempts: int = 0
    first_radio: str = ""
    act: str = ""  # what the person did (simulator/alarm_plan.py ACTS)
    at_dispatch_ms: float | None = None  # dispatch handled its first copy (None: no copy ever reached dispatch)
    dispatch_outcome: str = ""  # ... and what the pipeline made of that copy
    unavailable_ring_ms: float | None = None  # the ring verified "nobody can come"
    closed_ring_ms: float | None = None  # ... "it is over"
    cancel_pressed_ms: float | None = None  # the wearer started a cancel word of this alarm
    shown: list[str] = field(default_factory=list)  # what the ring showed its wearer for this press, in order
    again_after_close_ms: int | None = None  # the wearer will hold SOS again this long after the resolve
