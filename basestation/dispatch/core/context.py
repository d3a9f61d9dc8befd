"""One uplink on its way through the pipeline's steps (pipeline.py) and the decisions (decisions.py)."""

from basestation.dispatch.core import envelope
from basestation.dispatch.core.effects import Effects
from basestation.dispatch.core.outcomes import Outcome
from basestation.dispatch.core.state import Recent
from protocol.keys import DeviceKeys
from protocol.uplink import Uplink


class Context:
    """One uplink on its way through the steps. A plain class, which the compiled pipeline (nightwatch/native.py)
    makes native: the steps read and set its fields directly instead of looking each attribute up by name."""

    def __init__(
        self,
        topic: str,
        payload: bytes,
        now_ms: int,
        reception: envelope.Reception | None = None,
        device_id: int = 0,
        counter: int = 0,
        keys: DeviceKeys | None = None,
    ) -> None:
        self.topic = topic
        self.payload = payload
        self.now_ms = now_ms
        self.reception = reception
        self.device_id = device_id
        self.counter = counter
        self.keys = keys
        self.up: Uplink | None = None
        self.outcome: Outcome | None = None
        self.detail = ""
        self.copy_of: Recent | None = None  # set when the frame is another copy of one accepted lately
        self.effects = Effects()

    def stop(self, outcome: Outcome, detail: str = "") -> None:
        self.outcome = outcome
        self.detail = detail
