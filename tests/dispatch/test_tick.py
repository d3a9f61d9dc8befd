"""The clock plans only the incidents that need it, and that changes nothing: a model check against planning
every open incident on every tick."""

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from basestation.dispatch.core import actions
from basestation.dispatch.core.assignment import Policy, Responder
from basestation.dispatch.core.effects import Effects
from basestation.dispatch.core.incidents import Event, Incident, Kind, State
from basestation.dispatch.core.pipeline import UplinkPipeline
from basestation.dispatch.core.state import DeviceInfo, DispatchState
from basestation.dispatch.settings import DispatchSettings
from tests.dispatch.conftest import running
from tests.dispatch.world import RESPONDERS, T0
from tests.fuzz import examples

PLACES = [(52.1589, 4.4894), (52.1664, 4.4817), (52.1400, 4.5200), (None, None)]
IDS = list(RESPONDERS)
POLICY = Policy(offer_timeout_ms=30_000, broadcast_after_ms=90_000, broadcast_radius_m=2_000, escalate_after_ms=180_000)


def _world() -> tuple[DispatchState, UplinkPipeline]:
    state = DispatchState(policy=POLICY)
    for rid, (lat, lon) in RESPONDERS.items():
        skills = ["patrol"] if rid != "r-far" else ["first_aid"]
        state.responders[rid] = Responder(rid, rid, "nl", skills, True, lat, lon)
    return state, UplinkPipeline(state)


def _every_incident(state: DispatchState, pipeline: UplinkPipeline, now: int) -> Effects:
    """The reference: plan every incident on every tick."""
    eff = Effects()
    busy = state.busy()
    for inc in list(state.incidents.values()):
        actions.tick_incident(pipeline, inc, now, eff, busy)
    return eff


def _apply(state: DispatchState, pipeline: UplinkPipeline, op: tuple[object, ...], now: int) -> None:
    kind, ids = op[0], sorted(state.incidents)
    if kind == "open":
        lat, lon = PLACES[int(op[1])]  # type: ignore[call-overload]
        n = len(state.incidents) + 1
        inc = Incident(f"{n}-1", n, 1, Kind(str(op[2])), State.OPEN, now, now, lat=lat, lon=lon, updated_ms=now)
        state.incidents[inc.id] = inc
        pipeline.offer(inc, now, Effects())
    elif kind == "duty":
        state.responders[str(op[1])].on_duty = bool(op[2])
    elif kind == "move":
        r = state.responders[str(op[1])]
        r.lat, r.lon = PLACES[int(op[2])]  # type: ignore[call-overload]
    elif ids:
        target = ids[int(op[1]) % len(ids)]  # type: ignore[call-overload]
        try:
            if kind == "decline":
                actions.decline(state, target, str(op[2]), now, pipeline)
            elif kind == "accept":
                actions.accept(state, target, str(op[2]), now)
            elif kind == "resolve":
                actions.resolve(state, target, "operator", now)
        except actions.ActionError:
            pass


operations = st.lists(
    st.one_of(
        st.tuples(st.just("open"), st.integers(0, len(PLACES) - 1), st.sampled_from(["sos", "escort"])),
        st.tuples(
            st.just("tick"), st.integers(0, 100_000), st.sampled_from(["whole", "slices", "carried", "deadlines"])
        ),
        st.tuples(st.just("duty"), st.sampled_from(IDS), st.booleans()),
        st.tuples(st.just("move"), st.sampled_from(IDS), st.integers(0, len(PLACES) - 1)),
        st.tuples(st.sampled_from(["decline", "accept"]), st.integers(0, 20), st.sampled_from(IDS)),
        st.tuples(st.just("resolve"), st.integers(0, 20)),
    ),
    max_size=40,
)


@settings(max_examples=examples(300))
@given(operations)
def test_planning_only_what_is_due_gives_what_planning_everything_gives(ops: list[tuple[object, ...]]) -> None:
    fast, fast_pipe = _world()
    ref, ref_pipe = _world()
    now = T0
    for op in ops:
        if op[0] == "tick":
            now += int(op[1])  # type: ignore[call-overload]
            if op[2] == "whole":
                got = actions.tick(fast, fast_pipe, now)
            elif op[2] == "deadlines":  # the service's deadline pass, then its walk, at the same moment
                got = Effects()
                for part in actions.deadline_slices(fast, fast_pipe, now, slice_s=0.0, carry_out=got.merge):
                    got.merge(part)
                for part in actions.tick_slices(fast, fast_pipe, now, slice_s=0.0, carry_out=got.merge):
                    got.merge(part)
                want = _every_incident(ref, ref_pipe, now)
                # Deadlines come in the order they fall, the walk's in the order incidents opened.
                assert sorted(map(_key, got.pushes)) == sorted(map(_key, want.pushes))
                continue
            else:  # the pass as the service runs it: in slices, here of sixteen incidents each
                got = Effects()
                carry_out = got.merge if op[2] == "carried" else None  # each incident's effects as they come
                for part in actions.tick_slices(fast, fast_pipe, now, slice_s=0.0, carry_out=carry_out):
                    got.merge(part)
            want = _every_incident(ref, ref_pipe, now)
            assert [p.data for p in got.pushes] == [p.data for p in want.pushes]
        else:
            _apply(fast, fast_pipe, op, now)
            _apply(ref, ref_pipe, op, now)
        assert [i.to_dict() for i in fast.incidents.values()] == [i.to_dict() for i in ref.incidents.values()]


def _key(push: Any) -> str:
    return json.dumps(push.data, sort_keys=True)


@settings(max_examples=examples(200))
@given(
    places=st.lists(st.integers(0, len(PLACES) - 1), min_size=1, max_size=12),
    on_duty=st.lists(st.booleans(), min_size=len(IDS), max_size=len(IDS)),
    steps=st.lists(st.integers(0, 70_000), min_size=1, max_size=12),
)
def test_with_only_time_passing_the_deadline_heap_does_what_planning_everything_does(
    places: list[int], on_duty: list[bool], steps: list[int]
) -> None:
    """Timeouts, broadcasts and escalations from the heap alone, after one walk has planned every incident,
    against planning every incident at every step; some responders off duty, so some incidents wait for nobody."""
    worlds = [_world(), _world()]
    for state, pipeline in worlds:
        for rid, duty in zip(IDS, on_duty, strict=True):
            state.responders[rid].on_duty = duty
        for n, place in enumerate(places, 1):
            _apply(state, pipeline, ("open", place, "sos" if n % 3 else "escort"), T0)
    (fast, fast_pipe), (ref, ref_pipe) = worlds
    actions.tick(fast, fast_pipe, T0 + 1)
    _every_incident(ref, ref_pipe, T0 + 1)
    now = T0 + 1
    for step in steps:
        now += step
        got = Effects()
        for part in actions.deadline_slices(fast, fast_pipe, now, slice_s=0.0, carry_out=got.merge):
            got.merge(part)
        want = _every_incident(ref, ref_pipe, now)
        assert sorted(map(_key, got.pushes)) == sorted(map(_key, want.pushes))
        assert [i.to_dict() for i in fast.incidents.values()] == [i.to_dict() for i in ref.incidents.values()]


def test_each_deadline_is_met_when_it_falls_not_before() -> None:
    state, pipeline = _world()
    inc = Incident("1-1", 1, 1, Kind.SOS, State.OPEN, T0, T0, lat=52.1589, lon=4.4894, updated_ms=T0)
    state.incidents[inc.id] = inc
    pipeline.offer(inc, T0, Effects())  # as the alarm's pipeline does: its timeout is on the heap at once
    first = list(inc.offered_to)
    assert len(first) == 1

    def at(ms: int) -> list[Any]:
        eff = Effects()
        for part in actions.deadline_slices(state, pipeline, T0 + ms, slice_s=0.0, carry_out=eff.merge):
            eff.merge(part)
        return [e for e in eff.durable if isinstance(e, Event)]

    assert not actions.deadlines_due(state, T0 + POLICY.offer_timeout_ms - 1)
    assert at(POLICY.offer_timeout_ms - 1) == []
    assert actions.deadlines_due(state, T0 + POLICY.offer_timeout_ms)
    assert [e.kind for e in at(POLICY.offer_timeout_ms)] == ["offered"]  # the next nearest, on the ms
    assert len(inc.offered_to) == 2 and inc.offered_to[0] == first[0]
    assert [e.kind for e in at(POLICY.broadcast_after_ms - 1)] == ["offered"]  # and the next, 30 s later
    kinds = [e.kind for e in at(POLICY.broadcast_after_ms)]
    assert "broadcast" in kinds
    assert [e.kind for e in at(POLICY.escalate_after_ms)] == ["escalated"]
    assert inc.state == State.ESCALATED


def test_a_deadline_that_moved_or_an_incident_gone_leaves_nothing_to_do() -> None:
    state, pipeline = _world()
    for n in (1, 2):
        inc = Incident(f"{n}-1", n, 1, Kind.SOS, State.OPEN, T0, T0, lat=52.1589, lon=4.4894, updated_ms=T0)
        state.incidents[inc.id] = inc
        pipeline.offer(inc, T0, Effects())
    actions.resolve(state, "1-1", "operator", T0 + 1)
    del state.incidents["2-1"]  # purged
    assert actions.deadlines_due(state, T0 + POLICY.offer_timeout_ms)
    parts = list(actions.deadline_slices(state, pipeline, T0 + POLICY.offer_timeout_ms, slice_s=0.0))
    assert all(not p.pushes and not p.durable for p in parts)
    assert not state.deadlines


def test_a_tick_with_nothing_due_plans_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    state, pipeline = _world()
    for n in range(1, 201):
        inc = Incident(f"{n}-1", n, 1, Kind.SOS, State.OPEN, T0, T0, lat=52.16, lon=4.49, updated_ms=T0)
        state.incidents[inc.id] = inc
    actions.tick(state, pipeline, T0 + 1)
    planned_before = dict(state.planned)
    calls = 0
    real = actions.tick_incident

    def counting(*args: Any) -> None:
        nonlocal calls
        calls += 1
        real(*args)

    # Counted where the clock plans one incident (the pipeline may be compiled, and its methods then fixed).
    monkeypatch.setattr(actions, "tick_incident", counting)
    actions.tick(state, pipeline, T0 + 1000)  # one second on: no deadline passed, nobody changed
    assert calls == 0
    assert state.planned == planned_before
    actions.tick(state, pipeline, T0 + POLICY.offer_timeout_ms + 1)  # every offer timed out
    assert calls == 200


def test_a_responder_coming_on_duty_is_offered_the_waiting_incident_at_the_next_tick() -> None:
    # Nobody to offer to at first: the incident waits on no deadline of its own but on who comes on duty.
    state, pipeline = _world()
    for r in state.responders.values():
        r.on_duty = False
    inc = Incident("1-1", 1, 1, Kind.SOS, State.OPEN, T0, T0, lat=52.1589, lon=4.4894, updated_ms=T0)
    state.incidents[inc.id] = inc
    actions.tick(state, pipeline, T0 + 1000)
    assert inc.offered_to == []
    state.responders["r-hooglandse"].on_duty = True
    actions.tick(state, pipeline, T0 + 2000)
    assert inc.offered_to == ["r-hooglandse"]


def test_every_silent_ring_is_noticed_once_within_a_round_of_ticks() -> None:
    state, pipeline = _world()
    hour = 3_600_000
    for d in range(1, 301):
        # Even rings heartbeat hourly and were last heard three hours ago: silent. Odd ones were just heard.
        seen = T0 - 3 * hour if d % 2 == 0 else T0 - 1000
        state.devices[d] = DeviceInfo(last_seen_ms=seen, heartbeat_min=60)
    notices: list[str] = []
    for i in range(actions.DEVICE_ROUND_TICKS):
        eff = actions.tick(state, pipeline, T0 + i * 1000)
        notices += [p.data["subject"] for p in eff.pushes if p.topic == "notice"]
        if i == 0:
            assert 0 < len(notices) < 150  # a share of them per tick, not all at once
    assert sorted(notices, key=int) == [str(d) for d in range(2, 301, 2)]
    eff = actions.tick(state, pipeline, T0 + 61_000)  # the next round: each is told once, not again
    assert not [p for p in eff.pushes if p.topic == "notice"]


def test_a_responder_who_accepts_between_two_slices_is_offered_nothing_more_in_that_pass() -> None:
    state, pipeline = _world()
    for n in range(1, 41):
        inc = Incident(f"{n}-1", n, 1, Kind.SOS, State.OPEN, T0, T0, lat=52.1589, lon=4.4894, updated_ms=T0)
        state.incidents[inc.id] = inc
    slices = actions.tick_slices(state, pipeline, T0 + 1, slice_s=0.0)
    first = next(slices)
    offered = [r for e in first.durable if isinstance(e, Event) and e.kind == "offered" for r in e.data["responders"]]
    assert offered, "the first slice offers its incidents"
    nearest = offered[0]
    actions.accept(state, "1-1", nearest, T0 + 1)  # the alarm path runs between two slices
    later = [e for part in slices for e in part.durable if isinstance(e, Event) and e.kind == "offered"]
    assert later and all(nearest not in e.data["responders"] for e in later)


def test_the_time_effects_take_to_carry_out_counts_in_the_slice() -> None:
    """A slice ends once planning and carrying out together used its time, so an alarm waits for one
    incident's pushes at most, not for a whole slice of them."""
    state, pipeline = _world()
    for n in range(1, 11):
        inc = Incident(f"{n}-1", n, 1, Kind.SOS, State.OPEN, T0, T0, lat=52.1589, lon=4.4894, updated_ms=T0)
        state.incidents[inc.id] = inc
    carried: list[list[str]] = []

    def slow(eff: Effects) -> None:
        carried.append([p.data["id"] for p in eff.pushes])
        time.sleep(0.002)  # a slow push: longer than the slice

    slices = list(actions.tick_slices(state, pipeline, T0 + 1, slice_s=0.001, carry_out=slow))
    assert carried == [[f"{n}-1"] for n in range(1, 11)]  # every incident offered, each carried out at once
    assert len(slices) >= 11  # one slice for each, and the key rings' round
    assert all(not part.pushes for part in slices)  # nothing left behind for the caller


def test_the_service_meets_an_offer_timeout_from_the_heap_between_its_walks(tmp_path: Path) -> None:
    """The running service: its walk is an hour away, and the offer still times out and goes to the next, on
    time, although the clock had been set for a later deadline first."""
    settings = DispatchSettings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'd.db'}",
        offer_timeout_s=0.3,
        tick_s=3600.0,
        deadline_gap_ms=10.0,
    )

    async def scenario() -> None:
        async with running(settings) as svc:
            d = svc.dispatcher
            for rid, (lat, lon) in RESPONDERS.items():
                d.state.responders[rid] = Responder(rid, rid, "nl", ["patrol"], True, lat, lon)
            assert d.clock.timer is None  # nothing on the heap: the clock does not wake at all
            now = time.time_ns() // 1_000_000
            d.state.push_deadline(now + 60_000, "9-9")  # a deadline a minute away: the clock sleeps till then
            assert d.clock.timer is not None and d.clock.timer_ms == now + 60_000
            inc = Incident("1-1", 1, 1, Kind.SOS, State.OPEN, now, now, lat=52.1589, lon=4.4894, updated_ms=now)
            d.state.incidents[inc.id] = inc
            d.pipeline.offer(inc, now, Effects())
            assert len(inc.offered_to) == 1
            assert d.clock.timer_ms == now + 300  # the offer's timeout came first: the clock was set by it
            await asyncio.sleep(0.15)
            assert len(inc.offered_to) == 1  # not before its time
            for _ in range(100):
                if len(inc.offered_to) == 2:
                    break
                await asyncio.sleep(0.01)
            assert len(inc.offered_to) == 2
            waited = d.state.last_offer_ms[inc.id] - now
            assert 300 <= waited < 300 + 200  # on time, give or take the event loop: the walk never ran

    asyncio.run(scenario())
