"""The dispatch service's pure core, in process: the real UplinkPipeline and actions over a DispatchState.

The service's I/O (MQTT, the writer's commit, the live stream) is replaced by the latency model's hops; its
decisions (resolve, MIC, replay check, dedupe, incident, offer, ACK) are the real code's.
"""

import time
from dataclasses import dataclass, field

from basestation.dispatch.core import actions
from basestation.dispatch.core.assignment import Policy, Responder
from basestation.dispatch.core.context import Context
from basestation.dispatch.core.effects import Effects
from basestation.dispatch.core.pipeline import UplinkPipeline
from basestation.dispatch.core.state import DispatchState, Gateway
from simulator.scenario import ResponderSpec


@dataclass
class DispatchModel:
    timezone: str  # the shifts' clock, as the service's DispatchSettings.timezone
    state: DispatchState = field(init=False)
    pipeline: UplinkPipeline = field(init=False)
    handle_us: list[float] = field(default_factory=list)  # real CPU time per pipeline call, for the report

    def __post_init__(self) -> None:
        self.state = DispatchState(policy=Policy(timezone=self.timezone))
        self.pipeline = UplinkPipeline(self.state)

    def add_ring(self, device_id: int, root_key: bytes) -> None:
        self.state.resolver.add(device_id, root_key)

    def add_gateway(self, gateway_id: str, lat: float, lon: float) -> None:
        self.state.gateways[gateway_id] = Gateway(gateway_id, lat, lon, online=True)

    def add_responder(self, r: ResponderSpec) -> None:
        self.state.responders[r.id] = Responder(
            r.id, r.id, "nl", list(r.skills), on_duty=True, lat=r.lat, lon=r.lon, shift=r.shift
        )

    def handle(self, topic: str, payload: bytes, unix_ms: int) -> Context:
        t0 = time.perf_counter()
        ctx = self.pipeline.handle(topic, payload, unix_ms)
        self.handle_us.append((time.perf_counter() - t0) * 1e6)
        return ctx

    def accept(self, incident_id: str, responder_id: str, unix_ms: int) -> Effects:
        return actions.accept(self.state, incident_id, responder_id, unix_ms, eta_min=5)

    def decline(self, incident_id: str, responder_id: str, unix_ms: int) -> Effects:
        return actions.decline(self.state, incident_id, responder_id, unix_ms, self.pipeline)

    def on_the_way(self, incident_id: str, responder_id: str, unix_ms: int) -> Effects:
        return actions.on_the_way(self.state, incident_id, responder_id, unix_ms)

    def resolve(self, incident_id: str, responder_id: str, unix_ms: int) -> Effects:
        return actions.resolve(self.state, incident_id, responder_id, unix_ms)

    def tick(self, unix_ms: int) -> Effects:
        return actions.tick(self.state, self.pipeline, unix_ms)

    def active_incidents(self) -> int:
        return sum(1 for inc in self.state.incidents.values() if inc.active)
