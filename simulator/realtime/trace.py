"""What a real-time run records about each alarm: every hop's timestamp, ms on the run's WallClock."""

from dataclasses import dataclass, field


@dataclass
class RadioHops:
    """One radio's first copy of an alarm: on air, at a gateway, delivered by the broker."""

    on_air_ms: float | None = None
    gateway_rx_ms: float | None = None  # the envelope's rx_time_ms: the relay's own receive stamp
    broker_ms: float | None = None  # the broker delivered the envelope to a subscriber (the run's observer)
    gateway_id: str = ""


@dataclass
class LiveTrace:
    ring: int
    device_id: int
    kind: str  # sos | escort | duress
    pressed_ms: float
    false_alarm: bool = False
    act: str = ""  # what the person did (simulator/alarm_plan.py ACTS)
    again: str = ""  # a second hold still to come: AGAIN_WHILE_OPEN or AGAIN_AFTER_CLOSE
    cancel_due_ms: float | None = None  # the wearer will cancel at this time: the responder stays until dispatch has it
    recognised_ms: float | None = None
    counter: int = 0
    radios: dict[str, RadioHops] = field(default_factory=lambda: {"ble": RadioHops(), "lora": RadioHops()})
    first_radio: str = ""
    dispatch_ms: float | None = None  # the incident's opened_ms: dispatch decoded the first copy
    operator_ms: float | None = None  # the incident reached the operators' live stream
    push_ms: float | None = None  # ... the offered responder's live stream (the responder's screen)
    responder: str = ""
    accept_ms: float | None = None  # the responder's accept was answered
    downlink_ms: float | None = None  # dispatch published its first ACK downlink to the broker
    help_downlink_ms: float | None = None  # ... the first one after the accept ("help on the way")
    ack_ring_ms: float | None = None  # the ring verified its first ACK for this alarm
    help_ring_ms: float | None = None  # ... "help on the way"
    cancel_ms: float | None = None  # the wearer started the cancel word
    cancelled_ms: float | None = None  # the ring verified "cancelled"
    unavailable_ring_ms: float | None = None  # ... "nobody can come"
    closed_ring_ms: float | None = None  # ... "it is over"
    shown: list[str] = field(default_factory=list)  # what the ring showed its wearer for this press, in order
    states: list[str] = field(default_factory=list)  # incident states as the operators saw them

    @property
    def settled(self) -> bool:
        """The ring has told its wearer where the press stands: help, nobody, over, or the cancel heard."""
        ends = (self.help_ring_ms, self.unavailable_ring_ms, self.closed_ring_ms, self.cancelled_ms)
        cancel_answered = self.cancel_ms is None or self.cancelled_ms is not None
        return any(t is not None for t in ends) and cancel_answered

    @property
    def incident_id(self) -> str:
        # Deterministic in dispatch (incidents.incident_id): device and the alarm's counter.
        return f"{self.device_id}-{self.counter}"
