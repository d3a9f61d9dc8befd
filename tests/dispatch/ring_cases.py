"""What the tests of what a key ring is told share (tests/dispatch/test_ring_state_*.py): an incident of one ring
made with a few words, in the state, with the counters and the people each rule looks at.
"""

from basestation.dispatch.core.incidents import Incident, Kind, State

T0 = 1_800_000_000_000
DEVICE = 7


def incident(
    state: State = State.OPEN,
    ring: int = 3,
    quiet: int = 0,
    accepted_by: tuple[str, ...] = (),
    unavailable: bool = False,
    offered_to: tuple[str, ...] = (),
    declined_by: tuple[str, ...] = (),
    eta_min: int = 0,
) -> Incident:
    return Incident(
        f"{DEVICE}-1",
        DEVICE,
        1,
        Kind.SOS,
        state,
        T0,
        T0,
        offered_to=list(offered_to),
        accepted_by=list(accepted_by),
        declined_by=list(declined_by),
        ring_counter=ring,
        quiet_counter=quiet,
        unavailable=unavailable,
        eta_min=eta_min,
    )
