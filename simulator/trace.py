"""What a run records about each press (SOS, escort, duress), hop by hop, in ms on the run's one clock: virtual ms
from the scenario start, or the wall clock's ms since a real-time run started (simulator/realtime/clock.py).

Both clocks record the same press (``PressTrace``) and each radio's first copy (``RadioPath``); each adds what only it
can see. The virtual engine sees inside dispatch (when the pipeline handled a copy, the push it drew); a real-time
run sees the real service from outside only (the incident's ``opened_ms``, its live streams, its downlinks on the
broker), and stamps what the broker delivered.
"""

from dataclasses import dataclass, field

from protocol.constants import ACK_CLOSED, ACK_HELP_ON_THE_WAY, ACK_RECEIVED, ACK_UNAVAILABLE


@dataclass
class RadioPath:
    """One radio's first copy of an alarm: on air, at a gateway, through the broker, at dispatch."""

    on_air_ms: float | None = None
    gateway_rx_ms: float | None = None  # the gateway's own receive stamp (in real time: the envelope's rx_time_ms)
    gateway_out_ms: float | None = None  # envelope handed to the MQTT client (virtual time only)
    broker_ms: float | None = None  # the broker delivered the envelope (in real time: to the run's observer)
    dispatch_ms: float | None = None  # the pipeline has handled it (virtual time only: dispatch is a black box live)
    gateway_id: str = ""


def _radios() -> dict[str, RadioPath]:
    return {"ble": RadioPath(), "lora": RadioPath()}


@dataclass
class PressTrace:
    """What both clocks record about one press."""

    ring: int
    kind: str  # sos | escort | duress
    pressed_ms: float  # the wearer started the gesture
    recognised_ms: float | None = None  # the firmware recognised it (the budget's start)
    counter: int = 0
    false_alarm: bool = False
    act: str = ""  # what the person did (simulator/alarm_plan.py ACTS)
    radios: dict[str, RadioPath] = field(default_factory=_radios)
    first_radio: str = ""
    ack_ring_ms: float | None = None  # the ring verified its first ACK for this alarm ("received")
    help_ring_ms: float | None = None  # ... "help on the way"
    cancelled_ms: float | None = None  # ... "cancelled"
    unavailable_ring_ms: float | None = None  # ... "nobody can come"
    closed_ring_ms: float | None = None  # ... "it is over"
    shown: list[str] = field(default_factory=list)  # what the ring showed its wearer for this press, in order

    def ring_verified(self, state: int, t: float, ours: bool) -> None:
        """The ring verified an ACK of ``state`` at ``t``: the first of each answer is stamped. ``ours``: the alarm
        in flight on the ring is this press's (the ring listens for its newest press only); "help on the way"
        counts for this press either way."""
        if state == ACK_HELP_ON_THE_WAY and self.help_ring_ms is None:
            self.help_ring_ms = t
        if state in (ACK_RECEIVED, ACK_HELP_ON_THE_WAY) and ours and self.ack_ring_ms is None:
            self.ack_ring_ms = t
        if state == ACK_UNAVAILABLE and ours and self.unavailable_ring_ms is None:
            self.unavailable_ring_ms = t
        if state == ACK_CLOSED and ours and self.closed_ring_ms is None:
            self.closed_ring_ms = t


@dataclass(kw_only=True)
class AlarmTrace(PressTrace):
    """A press in virtual time, with what the engine sees inside dispatch and the responders' draws."""

    x: float = 0.0
    y: float = 0.0
    sf: int = 9  # the ring's LoRa spreading factor
    incident_id: str | None = None
    accepted_ms: float | None = None  # dispatch accepted the first copy (incident opened)
    screen_ms: float | None = None  # the incident reached a screen (first push delivered)
    offered: bool = False
    responder_accept_ms: float | None = None
    attempts: int = 0
    at_dispatch_ms: float | None = None  # dispatch handled its first copy (None: no copy ever reached dispatch)
    dispatch_outcome: str = ""  # ... and what the pipeline made of that copy
    cancel_pressed_ms: float | None = None  # the wearer started a cancel word of this alarm
    again_after_close_ms: int | None = None  # the wearer will hold SOS again this long after the resolve


@dataclass(kw_only=True)
class LiveTrace(PressTrace):
    """A press in real time, with what the real service shows from outside."""

    device_id: int
    again: str = ""  # a second hold still to come: AGAIN_WHILE_OPEN or AGAIN_AFTER_CLOSE
    cancel_due_ms: float | None = None  # the wearer will cancel at this time: the responder stays until dispatch has it
    dispatch_ms: float | None = None  # the incident's opened_ms: dispatch decoded the first copy
    operator_ms: float | None = None  # the incident reached the operators' live stream
    push_ms: float | None = None  # ... the offered responder's live stream (the responder's screen)
    responder: str = ""
    accept_ms: float | None = None  # the responder's accept was answered
    downlink_ms: float | None = None  # dispatch published its first ACK downlink to the broker
    help_downlink_ms: float | None = None  # ... the first one after the accept ("help on the way")
    cancel_ms: float | None = None  # the wearer started the cancel word
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
