"""What people do to an alarm, and what dispatch and the key ring are told (docs/lifecycle.md): pressing again,
duress, nobody available, responders acting on what is no longer theirs, restarts, floods and replays.

Each test names the person's act it checks; the pure ones run on the pipeline's memory, the ones about restarts
on a real SQLite database (tests/dispatch/desk.py)."""

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from basestation.dispatch.core import actions, operator_actions
from basestation.dispatch.core.assignment import Responder
from basestation.dispatch.core.effects import AckSent, Downlink, NoticeRow
from basestation.dispatch.core.incidents import Incident, State
from basestation.dispatch.core.outcomes import Outcome
from protocol import ack
from protocol.constants import (
    ACK_CANCELLED,
    ACK_CLOSED,
    ACK_HELP_ON_THE_WAY,
    ACK_RECEIVED,
    ACK_UNAVAILABLE,
    EVENT_CANCEL,
    EVENT_DURESS,
    EVENT_ESCORT,
    EVENT_SOS,
    LOOKBEHIND,
)
from tests.dispatch.desk import Desk, migrated
from tests.dispatch.world import T0, World


def _acks(w: World, device: int, downs: list[Downlink], counter: int) -> list[ack.Ack]:
    return [ack.decode(w.ring(device), bytes.fromhex(d.payload["frame"]), counter) for d in downs]


def _states(w: World, device: int, downs: list[Downlink], counter: int) -> list[int]:
    return [a.state for a in _acks(w, device, downs, counter)]


def _sos(w: World, device: int, at: int = T0, gw: str = "gw-breestraat"):  # type: ignore[no-untyped-def]
    frame, c = w.frame(device, EVENT_SOS)
    return w.send(frame, gw, at), c


def _opened(device: int) -> tuple[World, Incident, int]:
    """A world in which ``device`` pressed SOS at T0: the world, the incident the press opened, its counter."""
    w = World()
    _, c = _sos(w, device)
    return w, w.state.incidents[f"{device}-{c}"], c


# -- a second press ------------------------------------------------------------------------------------------


def test_a_press_after_the_alarm_ended_is_a_new_incident_offered_to_someone() -> None:
    w = World()
    _, c1 = _sos(w, 1)
    inc = w.state.incidents[f"1-{c1}"]
    actions.accept(w.state, inc.id, inc.offered_to[0], T0 + 5000)
    actions.resolve(w.state, inc.id, inc.offered_to[0], T0 + 60_000)
    again, c2 = _sos(w, 1, T0 + 600_000)
    assert again.outcome == Outcome.ACCEPTED and c2 != c1
    new = w.state.incidents[f"1-{c2}"]
    assert new.state == State.OFFERED and new.offered_to
    assert _states(w, 1, again.effects.downlinks, c2) == [ACK_RECEIVED]


def test_a_late_retry_of_an_ended_alarm_hears_it_is_over_not_help() -> None:
    w, inc, c = _opened(2)
    actions.accept(w.state, inc.id, inc.offered_to[0], T0 + 5000)
    eff = actions.resolve(w.state, inc.id, "operator", T0 + 60_000)
    assert _states(w, 2, eff.downlinks, c) == [ACK_CLOSED]  # the ring is told at once
    retry, _ = w.frame(2, EVENT_SOS, counter=c, age=70)  # it did not hear that, and tries again
    late = w.send(retry, at=T0 + 70_000)
    assert late.outcome == Outcome.DUPLICATE
    assert _states(w, 2, late.effects.downlinks, c) == [ACK_CLOSED]


def test_pressing_again_while_help_comes_folds_in_and_hears_help_on_its_new_counter() -> None:
    w = World()
    _, c1 = _sos(w, 3)
    inc = w.state.incidents[f"3-{c1}"]
    actions.accept(w.state, inc.id, inc.offered_to[0], T0 + 5000, eta_min=6)
    again, c2 = _sos(w, 3, T0 + 30_000)
    assert list(w.state.incidents) == [inc.id] and inc.ring_counter == c2 and inc.presses == 2
    (got,) = _acks(w, 3, again.effects.downlinks, c2)
    assert (got.state, got.eta_min) == (ACK_HELP_ON_THE_WAY, 6)
    # Later changes go to the counter the ring now listens for.
    eff = actions.resolve(w.state, inc.id, "operator", T0 + 90_000)
    assert _states(w, 3, eff.downlinks, c2) == [ACK_CLOSED]


def test_an_sos_during_a_walk_home_makes_it_an_emergency() -> None:
    w = World()
    frame, c = w.frame(4, EVENT_ESCORT)
    w.send(frame)
    inc = w.state.incidents[f"4-{c}"]
    _sos(w, 4, T0 + 10_000)
    assert inc.kind.value == "sos" and inc.presses == 2


# -- duress --------------------------------------------------------------------------------------------------


def test_duress_after_an_accept_escalates_at_once_and_the_ring_hears_cancelled() -> None:
    w, inc, c = _opened(5)
    rid = inc.offered_to[0]
    actions.accept(w.state, inc.id, rid, T0 + 5000)
    frame, d = w.frame(5, EVENT_DURESS, aux=1)
    ctx = w.send(frame, at=T0 + 20_000)
    assert inc.forced and inc.escalation == 2 and inc.active and inc.accepted_by == [rid]
    notices = [r for r in ctx.effects.durable if isinstance(r, NoticeRow)]
    assert [n.kind for n in notices] == ["duress"]
    assert {p.topic for p in ctx.effects.pushes} == {"incident", "notice"}
    assert _states(w, 5, ctx.effects.downlinks, d) == [ACK_CANCELLED]
    # Nothing later tells a coercer watching the ring that the alarm lives on.
    eff = actions.resolve(w.state, inc.id, rid, T0 + 600_000)
    assert eff.downlinks == []
    late, _ = w.frame(5, EVENT_SOS, counter=c, age=30)
    assert _states(w, 5, w.send(late, at=T0 + 30_000).effects.downlinks, c) in ([], [ACK_CANCELLED])


def test_duress_before_anyone_accepted_is_escalated_and_offered_to_everyone_near() -> None:
    w, inc, _ = _opened(6)
    frame, _ = w.frame(6, EVENT_DURESS, aux=1)
    w.send(frame, at=T0 + 2000)
    assert inc.state == State.ESCALATED and inc.escalation == 2 and inc.forced
    assert set(inc.offered_to) == {"r-pieters", "r-hooglandse"}  # all within the radius, at once


def test_no_cancel_after_a_duress_stands_responders_down() -> None:
    w, inc, _ = _opened(19)
    duress, _ = w.frame(19, EVENT_DURESS, aux=1)
    w.send(duress, at=T0 + 5000)
    _sos(w, 19, T0 + 10_000)  # made to press again, then to cancel that press
    cancel, k = w.frame(19, EVENT_CANCEL, aux=1)
    ctx = w.send(cancel, at=T0 + 15_000)
    assert inc.active and inc.forced and inc.escalation == 2
    assert _states(w, 19, ctx.effects.downlinks, k) == [ACK_CANCELLED]  # the ring looks as after any cancel


def test_duress_naming_an_alarm_already_over_opens_a_forced_incident() -> None:
    w, inc, _ = _opened(7)
    actions.resolve(w.state, inc.id, "operator", T0 + 60_000)
    frame, d = w.frame(7, EVENT_DURESS, aux=1)
    ctx = w.send(frame, at=T0 + 120_000)
    forced = w.state.incidents[f"7-{d}"]
    assert forced.forced and forced.active and forced.escalation == 2 and forced.offered_to
    assert _states(w, 7, ctx.effects.downlinks, d) == [ACK_CANCELLED]


# -- nobody can come -----------------------------------------------------------------------------------------


def test_an_escort_out_of_hours_hears_nobody_can_come_and_the_operators_see_it() -> None:
    w = World()
    for r in w.state.responders.values():
        r.shift = "01:00-05:00"  # the night patrol; T0 is 08:00 in Leiden
    frame, c = w.frame(8, EVENT_ESCORT)
    ctx = w.send(frame)
    inc = w.state.incidents[f"8-{c}"]
    assert inc.unavailable and inc.escalation == 2 and inc.state == State.ESCALATED
    assert _states(w, 8, ctx.effects.downlinks, c) == [ACK_UNAVAILABLE]
    assert [r.kind for r in ctx.effects.durable if isinstance(r, NoticeRow)] == ["unavailable"]


def test_when_everyone_declines_the_ring_is_told_within_the_offer_timeout() -> None:
    w, inc, c = _opened(9)
    actions.decline(w.state, inc.id, "r-pieters", T0 + 3000, w.pipeline)
    assert not inc.unavailable  # the next nearest was offered at once
    eff = actions.decline(w.state, inc.id, "r-hooglandse", T0 + 6000, w.pipeline)
    eff2 = actions.decline(w.state, inc.id, "r-far", T0 + 9000, w.pipeline) if "r-far" in inc.offered_to else eff
    assert inc.unavailable
    assert ACK_UNAVAILABLE in _states(w, 9, eff.downlinks + eff2.downlinks, c)
    # Someone comes on duty and takes it: the ring hears help after all.
    w.state.responders["r-late"] = Responder("r-late", "r-late", "nl", ["patrol"], True, 52.159, 4.49)
    actions.tick(w.state, w.pipeline, T0 + 12_000)
    assert "r-late" in inc.offered_to
    eff3 = actions.accept(w.state, inc.id, "r-late", T0 + 13_000)
    assert _states(w, 9, eff3.downlinks, c) == [ACK_HELP_ON_THE_WAY]


# -- responders act only on what is theirs now -------------------------------------------------------------


def test_accept_after_decline_is_refused_unless_offered_again() -> None:
    w, inc, _ = _opened(10)
    actions.decline(w.state, inc.id, "r-pieters", T0 + 1000, w.pipeline)
    with pytest.raises(actions.ActionError):
        actions.accept(w.state, inc.id, "r-pieters", T0 + 2000)
    operator_actions.assign(w.state, inc.id, "r-pieters", T0 + 3000)
    actions.accept(w.state, inc.id, "r-pieters", T0 + 4000)
    assert inc.accepted_by == ["r-pieters"]


def test_accept_of_what_was_never_offered_is_refused() -> None:
    w, inc, _ = _opened(11)
    assert "r-far" not in inc.offered_to
    with pytest.raises(actions.ActionError):
        actions.accept(w.state, inc.id, "r-far", T0 + 1000)


def test_repeated_accept_and_on_the_way_change_nothing() -> None:
    w, inc, _ = _opened(12)
    rid = inc.offered_to[0]
    actions.accept(w.state, inc.id, rid, T0 + 1000)
    actions.on_the_way(w.state, inc.id, rid, T0 + 2000)
    for at in (3000, 4000):
        assert actions.accept(w.state, inc.id, rid, T0 + at).durable == []
        assert actions.on_the_way(w.state, inc.id, rid, T0 + at).durable == []
    assert inc.state == State.ON_THE_WAY and inc.accepted_by == [rid]


@pytest.mark.parametrize("end", ["resolve", "cancel"])
def test_any_act_on_an_ended_incident_is_refused_and_writes_nothing(end: str) -> None:
    w, inc, _ = _opened(13)
    rid = inc.offered_to[0]
    if end == "resolve":
        actions.resolve(w.state, inc.id, "operator", T0 + 1000)
    else:
        frame, _ = w.frame(13, EVENT_CANCEL, aux=1)
        w.send(frame, at=T0 + 1000)
    before = inc.to_dict()
    refused: list[Callable[[], object]] = [
        lambda: actions.accept(w.state, inc.id, rid, T0 + 2000),
        lambda: actions.decline(w.state, inc.id, rid, T0 + 2000, w.pipeline),
        lambda: actions.on_the_way(w.state, inc.id, rid, T0 + 2000),
        lambda: actions.resolve(w.state, inc.id, rid, T0 + 2000),
        lambda: operator_actions.escalate(w.state, inc.id, T0 + 2000, w.pipeline),
        lambda: operator_actions.assign(w.state, inc.id, "r-far", T0 + 2000),
    ]
    for act in refused:
        with pytest.raises(actions.ActionError):
            act()
    assert inc.to_dict() == before


# -- cancels -------------------------------------------------------------------------------------------------


def test_a_late_cancel_keeps_the_incident_open_and_the_ring_quiet() -> None:
    w, inc, _ = _opened(14)
    frame, k = w.frame(14, EVENT_CANCEL, aux=1)
    ctx = w.send(frame, at=T0 + w.state.timing.cancel_window_ms + 1000)
    assert inc.active and _states(w, 14, ctx.effects.downlinks, k) == [ACK_CANCELLED]
    eff = actions.accept(w.state, inc.id, inc.offered_to[0], T0 + 200_000)
    assert eff.downlinks == []  # the wearer was told "cancelled"; help still goes and looks


def test_a_cancel_of_a_press_folded_into_an_incident_cancels_that_incident() -> None:
    w = World()
    _, c1 = _sos(w, 15)
    _sos(w, 15, T0 + 5000)
    frame, _ = w.frame(15, EVENT_CANCEL, aux=1)  # names the second press, the one the ring listens for
    w.send(frame, at=T0 + 6000)
    assert w.state.incidents[f"15-{c1}"].state == State.CANCELLED


# -- floods, replays and ACK numbers --------------------------------------------------------------------------


def test_rate_limited_presses_are_acked_and_visible_in_their_incident() -> None:
    w = World()
    outcomes, acked = [], 0
    for i in range(12):
        ctx, c = _sos(w, 16, T0 + i * 100)
        outcomes.append(ctx.outcome)
        acked += len(ctx.effects.downlinks)
    inc = next(iter(w.state.incidents.values()))
    assert Outcome.RATE_LIMITED in outcomes
    assert inc.presses == 12
    assert acked > outcomes.count(Outcome.ACCEPTED)  # some over the budget were answered too
    assert _states(w, 16, w.send(w.frame(16, EVENT_SOS)[0], at=T0 + 60_000).effects.downlinks, c + 1) == [ACK_RECEIVED]


def test_a_recording_played_back_costs_no_downlink() -> None:
    w = World()
    frame, _ = w.frame(17, EVENT_SOS)
    w.send(frame)
    for i in range(3, 300):
        ctx = w.send(frame, at=T0 + i * 2000)  # the same bytes, every 2 s for ten minutes
        assert ctx.effects.downlinks == []


def test_retries_cannot_use_up_the_ack_numbers() -> None:
    w = World()
    frame, c = w.frame(18, EVENT_SOS)
    w.send(frame)
    seqs = []
    for i in range(1, 250):
        retry, _ = w.frame(18, EVENT_SOS, counter=c, age=2 * i)
        for d in w.send(retry, at=T0 + i * 2000).effects.downlinks:
            seqs.append(ack.decode(w.ring(18), bytes.fromhex(d.payload["frame"]), c).seq)
    budget = w.state.ack_limiter
    minutes = 250 * 2000 / 60_000
    assert len(seqs) == len(set(seqs)) and len(seqs) <= budget.burst + budget.rate_per_ms * 60_000 * minutes
    # Every one of those retries played back again later costs nothing.
    for i in range(1, 250):
        retry, _ = w.frame(18, EVENT_SOS, counter=c, age=2 * i)
        assert w.send(retry, at=T0 + 600_000 + i * 2000).effects.downlinks == []


# -- restarts ------------------------------------------------------------------------------------------------


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Desk]:
    d = Desk(migrated(tmp_path))
    yield d
    d.close()


def test_copies_after_a_restart_are_duplicates_that_refine_the_location(desk: Desk) -> None:
    desk.ring(20)
    frame, c = desk.world.frame(20, EVENT_SOS)
    desk.send(frame, "gw-breestraat", T0, rssi=-100)
    desk.restart(T0 + 1000)
    inc = desk.state.incidents[f"20-{c}"]
    before = (inc.lat, inc.lon)
    copy = desk.send(frame, "gw-centraal", T0 + 1500, rssi=-60)
    assert copy.outcome == Outcome.DUPLICATE
    assert (inc.lat, inc.lon) != before


def test_a_late_copy_after_the_ring_moved_past_the_lookbehind_is_still_a_copy(desk: Desk) -> None:
    desk.ring(21)
    frame, c = desk.world.frame(21, EVENT_SOS)
    desk.send(frame, at=T0)
    for i in range(LOOKBEHIND + 4):  # heartbeats move the window on
        beat, _ = desk.world.frame(21, 5, flags=0, aux=60)
        desk.send(beat, at=T0 + 1000 + i)
    desk.restart(T0 + 5000)
    retry, _ = desk.world.frame(21, EVENT_SOS, counter=c, age=9)
    late = desk.send(retry, "gw-centraal", T0 + 9000)
    assert late.outcome == Outcome.DUPLICATE
    assert _states(desk.world, 21, late.effects.downlinks, c) == [ACK_RECEIVED]


def test_ack_numbers_never_repeat_across_a_restart(desk: Desk) -> None:
    desk.ring(22)
    frame, c = desk.world.frame(22, EVENT_SOS)
    first = desk.send(frame, at=T0)
    seqs = [a.seq for a in _acks(desk.world, 22, first.effects.downlinks, c)]
    desk.restart(T0 + 1000)
    inc = desk.state.incidents[f"22-{c}"]
    eff = desk.act(actions.accept, inc.id, inc.offered_to[0], T0 + 2000)
    seqs += [a.seq for a in _acks(desk.world, 22, eff.downlinks, c)]
    assert any(isinstance(r, AckSent) for r in eff.durable)
    desk.restart(T0 + 3000)
    retry, _ = desk.world.frame(22, EVENT_SOS, counter=c, age=4)
    seqs += [a.seq for a in _acks(desk.world, 22, desk.send(retry, at=T0 + 4000).effects.downlinks, c)]
    assert seqs == [0, 1, 2]


def test_after_a_restart_a_recording_is_measured_against_the_earliest_press_time_heard(desk: Desk) -> None:
    # The ring pressed at T0. Its first copy dispatch heard came 50 s late; another, heard with it, only 30 s late.
    desk.ring(22)
    _, c = desk.world.frame(22, EVENT_SOS)
    late, _ = desk.world.frame(22, EVENT_SOS, counter=c, age=10)
    less_late, _ = desk.world.frame(22, EVENT_SOS, counter=c, age=30)
    assert desk.send(late, at=T0 + 60_000).outcome == Outcome.ACCEPTED
    desk.send(less_late, at=T0 + 60_000)
    desk.restart(T0 + 61_000)
    # A playback of the less late copy 20 s on gives the first copy's very press time, but 20 s after the earliest.
    assert desk.send(less_late, "gw-centraal", T0 + 80_000).effects.downlinks == []
    # A genuine retry is answered, and its press time, the truest yet, is kept.
    retry, _ = desk.world.frame(22, EVENT_SOS, counter=c, age=96)
    assert _states(desk.world, 22, desk.send(retry, at=T0 + 96_000).effects.downlinks, c) == [ACK_RECEIVED]
    desk.restart(T0 + 97_000)
    assert desk.state.recent[(22, c)].press_rx_ms == T0
