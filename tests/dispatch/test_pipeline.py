"""The uplink pipeline's decisions, step by step, on real frames (pure: no broker, no database)."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from basestation.dispatch.core import actions
from basestation.dispatch.core.effects import (
    DeviceState,
    Downlink,
    FrameSeen,
    IncidentSnapshot,
    NoticeRow,
    ReceptionRow,
)
from basestation.dispatch.core.incidents import Incident, State
from basestation.dispatch.core.outcomes import Outcome
from protocol import ack
from protocol.constants import (
    ACK_CANCELLED,
    ACK_HELP_ON_THE_WAY,
    ACK_RECEIVED,
    EVENT_CANCEL,
    EVENT_DURESS,
    EVENT_ESCORT,
    EVENT_HEARTBEAT,
    EVENT_LOW_BATTERY,
    EVENT_SOS,
    LOOKAHEAD,
)
from tests.dispatch.world import T0, World, envelope, topic


def test_first_copy_of_an_sos_opens_offers_and_acks_at_once() -> None:
    w = World()
    frame, counter = w.frame(7, EVENT_SOS, age=2)
    ctx = w.send(frame, rssi=-70)
    assert ctx.outcome == Outcome.ACCEPTED
    inc = w.state.incidents[f"7-{counter}"]
    assert inc.state == State.OFFERED
    assert inc.offered_to == ["r-pieters"]  # the nearest to Breestraat
    assert inc.press_ms == T0 - 2000
    assert inc.lat is not None and inc.radius_m is not None
    kinds = {type(d) for d in ctx.effects.durable}
    assert {DeviceState, FrameSeen, IncidentSnapshot, ReceptionRow} <= kinds
    assert [p.topic for p in ctx.effects.pushes] == ["incident"]
    (down,) = ctx.effects.downlinks
    assert down.gateway_id == "gw-breestraat"
    got = ack.decode(w.ring(7), bytes.fromhex(down.payload["frame"]), counter)
    assert got.state == ACK_RECEIVED


def test_copies_refine_the_location_and_never_open_a_second_incident() -> None:
    w = World()
    frame, counter = w.frame(8, EVENT_SOS)
    first = w.send(frame, "gw-breestraat", rssi=-100)
    inc = w.state.incidents[f"8-{counter}"]
    before = (inc.lat, inc.lon, inc.radius_m)
    second = w.send(frame, "gw-centraal", rssi=-80)
    third = w.send(frame, "gw-centraal", rssi=-85)
    assert (first.outcome, second.outcome, third.outcome) == (Outcome.ACCEPTED, Outcome.DUPLICATE, Outcome.DUPLICATE)
    assert len(w.state.incidents) == 1
    assert (inc.lat, inc.lon, inc.radius_m) != before
    assert any(isinstance(d, ReceptionRow) and d.gateway_id == "gw-centraal" for d in second.effects.durable)
    assert [p.topic for p in second.effects.pushes] == ["incident"]
    assert third.effects.pushes == []  # nothing moved


def test_expected_stops_are_outcomes_not_exceptions() -> None:
    w = World()
    frame, _ = w.frame(9, EVENT_SOS)
    forged = bytearray(frame)
    forged[-1] ^= 1
    assert w.send(bytes(forged)).outcome == Outcome.BAD_MIC
    assert w.send(frame[:-1]).outcome == Outcome.MALFORMED_FRAME
    assert w.send(b"\x20" + frame[1:]).outcome == Outcome.MALFORMED_FRAME
    assert w.pipeline.handle(topic("gw-x"), b"{not json", T0).outcome == Outcome.MALFORMED_ENVELOPE
    assert w.pipeline.handle("elsewhere/x", envelope(frame, "gw-x"), T0).outcome == Outcome.MALFORMED_ENVELOPE
    stranger = World()
    alien, _ = stranger.frame(1, EVENT_SOS)
    assert w.send(alien).outcome == Outcome.UNKNOWN_DEVICE
    assert len(w.state.unresolved) == 1
    assert w.state.incidents == {}


def test_a_replay_long_after_is_refused() -> None:
    w = World()
    frame, _ = w.frame(10, EVENT_HEARTBEAT, flags=0, aux=60)
    assert w.send(frame).outcome == Outcome.ACCEPTED
    w.state.recent.clear()  # ten minutes later the copy cache has forgotten it
    assert w.send(frame).outcome == Outcome.REPLAY


def _sos_then(w: World, device: int, event: int, after_ms: int) -> tuple[Incident, list[int]]:
    """``device`` presses SOS at T0 and says ``event``'s word ``after_ms`` later: the SOS's incident, and the states
    of the acks the word got."""
    sos, c1 = w.frame(device, EVENT_SOS)
    w.send(sos)
    word, c2 = w.frame(device, event, aux=1)
    downs = w.send(word, at=T0 + after_ms).effects.downlinks
    states = [ack.decode(w.ring(device), bytes.fromhex(d.payload["frame"]), c2).state for d in downs]
    return w.state.incidents[f"{device}-{c1}"], states


def test_cancel_inside_the_window_stands_down_and_acks_cancelled() -> None:
    inc, states = _sos_then(World(), 11, EVENT_CANCEL, 30_000)
    assert inc.state == State.CANCELLED
    assert states[0] == ACK_CANCELLED


def test_cancel_after_the_window_keeps_the_incident_open() -> None:
    w = World()
    inc, _ = _sos_then(w, 12, EVENT_CANCEL, w.state.timing.cancel_window_ms + 1)
    assert inc.active


def test_duress_looks_cancelled_to_the_ring_but_stays_open_and_flagged() -> None:
    inc, states = _sos_then(World(), 13, EVENT_DURESS, 10_000)
    assert inc.active and inc.forced
    assert states[0] == ACK_CANCELLED


def test_duress_for_an_alarm_never_heard_opens_a_forced_incident() -> None:
    w = World()
    w.frame(14, EVENT_SOS)  # sent, never heard
    duress, c2 = w.frame(14, EVENT_DURESS, aux=1)
    w.send(duress)
    (inc,) = w.state.incidents.values()
    assert inc.forced and inc.active and inc.counter == c2


def test_pressing_again_joins_the_open_incident() -> None:
    w = World()
    first, _ = w.frame(15, EVENT_SOS)
    again, _ = w.frame(15, EVENT_SOS)
    w.send(first)
    assert w.send(again, at=T0 + 5000).outcome == Outcome.ACCEPTED
    assert len(w.state.incidents) == 1


def test_escort_goes_to_the_patrol_only_and_escalates_to_the_operators() -> None:
    w = World()
    w.state.responders["r-pieters"].skills = ["first_aid"]
    frame, c = w.frame(16, EVENT_ESCORT)
    w.send(frame)
    inc = w.state.incidents[f"16-{c}"]
    assert inc.offered_to == ["r-hooglandse"]
    actions.tick(w.state, w.pipeline, T0 + w.state.policy.escalate_after_ms + 1)
    # Nobody of the patrol came: the operators must know, or the request would stay open forever.
    assert inc.state == State.ESCALATED


def test_supervision_is_rate_limited_and_low_battery_notified() -> None:
    w = World()
    outcomes = []
    for i in range(10):
        frame, _ = w.frame(17, EVENT_HEARTBEAT, flags=0, aux=60)
        outcomes.append(w.send(frame, at=T0 + i).outcome)
    assert outcomes.count(Outcome.RATE_LIMITED) == 10 - int(w.state.limiter.burst)
    low, _ = w.frame(18, EVENT_LOW_BATTERY, flags=0, battery=9, aux=60)
    ctx = w.send(low)
    assert any(isinstance(d, NoticeRow) and d.kind == "low_battery" for d in ctx.effects.durable)


def test_sweep_recovers_a_ring_that_sent_many_unheard_frames() -> None:
    w = World()
    far, c = w.frame(19, EVENT_SOS, counter=LOOKAHEAD + 500)
    assert w.send(far).outcome == Outcome.UNKNOWN_DEVICE
    (ctx,) = w.pipeline.sweep(T0 + 100)
    assert ctx.outcome == Outcome.ACCEPTED
    assert f"19-{c}" in w.state.incidents


def test_offer_timeout_then_broadcast_then_escalation() -> None:
    w = World()
    frame, c = w.frame(20, EVENT_SOS)
    w.send(frame)
    inc = w.state.incidents[f"20-{c}"]
    pol = w.state.policy
    actions.tick(w.state, w.pipeline, T0 + pol.offer_timeout_ms)
    assert inc.offered_to == ["r-pieters", "r-hooglandse"]
    actions.tick(w.state, w.pipeline, T0 + pol.broadcast_after_ms)
    assert inc.escalation == 1
    assert "r-far" not in inc.offered_to  # outside the broadcast radius
    actions.tick(w.state, w.pipeline, T0 + pol.escalate_after_ms)
    assert inc.state == State.ESCALATED and inc.escalation == 2


def test_decline_offers_the_next_at_once_and_accept_sends_help_on_the_way() -> None:
    w = World()
    frame, c = w.frame(21, EVENT_SOS)
    w.send(frame, "gw-breestraat", rssi=-95)
    w.send(frame, "gw-centraal", rssi=-75)
    inc = w.state.incidents[f"21-{c}"]
    actions.decline(w.state, inc.id, inc.offered_to[0], T0 + 1000, w.pipeline)
    assert len(inc.offered_to) == 2
    eff = actions.accept(w.state, inc.id, inc.offered_to[1], T0 + 2000, eta_min=4)
    assert inc.state == State.ACCEPTED
    (down,) = eff.downlinks
    assert down.gateway_id == "gw-centraal"  # the stronger LoRa copy
    got = ack.decode(w.ring(21), bytes.fromhex(down.payload["frame"]), c)
    assert (got.state, got.eta_min, got.seq) == (ACK_HELP_ON_THE_WAY, 4, 1)
    actions.on_the_way(w.state, inc.id, inc.offered_to[1], T0 + 3000)
    actions.resolve(w.state, inc.id, inc.offered_to[1], T0 + 600_000, referral="student-psychologist")
    assert inc.to_dict()["state"] == "resolved" and inc.referral == "student-psychologist"
    with pytest.raises(actions.ActionError):
        actions.accept(w.state, inc.id, "r-far", T0 + 700_000)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 4), st.sampled_from(["gw-centraal", "gw-breestraat", "gw-lammermarkt"])), max_size=40
    )
)
def test_any_interleaving_of_copies_makes_one_incident_per_alarm(order: list[tuple[int, str]]) -> None:
    w = World()
    frames = [w.frame(100 + i, EVENT_SOS)[0] for i in range(5)]
    for i, gw in order:
        assert w.send(frames[i], gw).outcome in (Outcome.ACCEPTED, Outcome.DUPLICATE)
    assert len(w.state.incidents) == len({i for i, _ in order})


def test_incident_dict_is_json() -> None:
    w = World()
    frame, c = w.frame(22, EVENT_SOS)
    w.send(frame)
    json.dumps(w.state.incidents[f"22-{c}"].to_dict())


def test_a_retry_after_a_lost_ack_is_answered_again_with_the_current_state() -> None:
    w = World()
    frame, c = w.frame(30, EVENT_SOS)
    first = w.send(frame, "gw-breestraat")
    assert len(first.effects.downlinks) == 1
    same_burst = w.send(frame, "gw-centraal", at=T0 + 300)
    assert same_burst.effects.downlinks == []  # one answer per retry, not one per gateway
    # A retry is the same alarm, seconds older: its ``age`` differs, so its bytes do.
    retry_frame, _ = w.frame(30, EVENT_SOS, counter=c, age=5)
    retry = w.send(retry_frame, "gw-centraal", at=T0 + 5000)
    (down,) = retry.effects.downlinks
    assert ack.decode(w.ring(30), bytes.fromhex(down.payload["frame"]), c).state == ACK_RECEIVED
    inc = w.state.incidents[f"30-{c}"]
    actions.accept(w.state, inc.id, inc.offered_to[0], T0 + 6000)
    later_frame, _ = w.frame(30, EVENT_SOS, counter=c, age=9)
    later = w.send(later_frame, "gw-breestraat", at=T0 + 9000)
    got = ack.decode(w.ring(30), bytes.fromhex(later.effects.downlinks[0].payload["frame"]), c)
    assert got.state == ACK_HELP_ON_THE_WAY
    seqs = [first.effects.downlinks[0], down, later.effects.downlinks[0]]
    assert len({d.payload["frame"][10:12] for d in seqs}) == 3  # a fresh seq, hence keystream, each time


def test_an_alarm_flood_from_one_ring_is_folded_and_others_go_through() -> None:
    w = World()
    outcomes = []
    for i in range(200):
        frame, _ = w.frame(40, EVENT_SOS)
        outcomes.append(w.send(frame, at=T0 + i * 5).outcome)
    assert outcomes[0] == Outcome.ACCEPTED
    assert outcomes.count(Outcome.RATE_LIMITED) >= 190
    assert len(w.state.incidents) == 1  # one person, one incident
    other, c = w.frame(41, EVENT_SOS)
    ctx = w.send(other, at=T0 + 1000)
    assert ctx.outcome == Outcome.ACCEPTED and f"41-{c}" in w.state.incidents
    assert ctx.effects.urgent


def test_an_alarm_heard_first_over_ble_is_acked_through_its_first_lora_copy() -> None:
    w = World()
    frame, c = w.frame(50, EVENT_SOS)
    first = w.send(frame, "gw-breestraat", radio="ble")
    assert first.outcome == Outcome.ACCEPTED and first.effects.downlinks == []  # BLE gateways only listen
    lora = w.send(frame, "gw-centraal", at=T0 + 200)
    (down,) = lora.effects.downlinks
    assert down.gateway_id == "gw-centraal"
    assert ack.decode(w.ring(50), bytes.fromhex(down.payload["frame"]), c).state == ACK_RECEIVED


def test_an_open_alarm_is_remembered_past_the_copy_horizon() -> None:
    w = World()
    frame, c = w.frame(51, EVENT_SOS)
    w.send(frame)
    later = T0 + w.state.timing.recent_ms + 60_000
    other, _ = w.frame(52, EVENT_HEARTBEAT, flags=0, aux=60)
    w.send(other, at=later)  # something else arrives and ages the cache
    retry_frame, _ = w.frame(51, EVENT_SOS, counter=c, age=(later + 1000 - T0) // 1000)
    retry = w.send(retry_frame, "gw-centraal", at=later + 1000)
    assert retry.outcome == Outcome.DUPLICATE  # not a replay: help has not come yet
    assert ack.decode(w.ring(51), bytes.fromhex(retry.effects.downlinks[0].payload["frame"]), c).state == ACK_RECEIVED


def test_a_recording_played_back_later_does_not_move_the_location() -> None:
    w = World()
    frame, c = w.frame(53, EVENT_SOS)
    w.send(frame, "gw-breestraat", rssi=-70)
    inc = w.state.incidents[f"53-{c}"]
    before = (inc.lat, inc.lon)
    replay = w.send(frame, "gw-centraal", at=T0 + 60_000, rssi=-40)  # same bytes, a minute later
    assert replay.outcome == Outcome.DUPLICATE
    assert (inc.lat, inc.lon) == before


def test_a_frame_no_sweep_could_place_is_not_swept_again() -> None:
    w = World()
    stranger = World()
    alien, _ = stranger.frame(1, EVENT_SOS)
    w.send(alien)
    assert w.pipeline.sweep(T0) == [] and w.state.unresolved_given_up == 1
    w.send(alien, at=T0 + 10)  # the same recording again
    assert len(w.state.unresolved) == 0


def test_a_downlink_made_on_demand_is_made_once_when_first_read() -> None:
    made: list[int] = []

    def make() -> dict[str, object]:
        made.append(1)
        return {"id": "7-1-0", "frame": "00", "uplink": "00"}

    down = Downlink("gw-centraal", make=make)
    assert made == []  # the alarm's push goes out before its ACK is encoded
    assert down.payload == {"id": "7-1-0", "frame": "00", "uplink": "00"} and made == [1]
    assert down.payload["id"] == "7-1-0" and made == [1]
    with pytest.raises(ValueError):
        Downlink("gw-centraal")
    with pytest.raises(ValueError):
        Downlink("gw-centraal", {"id": "x"}, make=make)
