"""A recording of a frame whose counter its ring has moved past (below the resolver's window, SPEC 7.3) is counted
as a replay at once: not an unknown device held for a sweep that cannot place it, and no log line of its own."""

import logging
from pathlib import Path

import pytest

from basestation.dispatch.api import metrics
from basestation.dispatch.core.outcomes import Outcome
from basestation.dispatch.service import Dispatcher
from basestation.dispatch.settings import DispatchSettings
from basestation.pseudonyms.resolver import Resolver
from protocol.constants import EVENT_HEARTBEAT, LOOKBEHIND, REPLAY_WINDOW
from tests.dispatch.world import T0, World, envelope, topic

GW = "gw-breestraat"
HOUR = 3_600_000  # heartbeats an hour apart: within the supervision rate limit
LATER = T0 + 1000 * HOUR


def _send(w: World, frame: bytes, at: int = LATER) -> Outcome | None:
    return w.pipeline.handle(topic(GW), envelope(frame, GW, at), at).outcome


def _heartbeats(w: World, device_id: int, counters: range) -> dict[int, bytes]:
    sent = {}
    for c in counters:
        frame, _ = w.frame(device_id, EVENT_HEARTBEAT, counter=c, flags=0, aux=60)
        assert _send(w, frame, T0 + c * HOUR) == Outcome.ACCEPTED
        sent[c] = frame
    return sent


def test_a_recording_below_the_window_is_a_replay_not_an_unknown_device() -> None:
    w = World()
    sent = _heartbeats(w, 30, range(1, LOOKBEHIND + 12))
    w.state.recent.clear()  # ten minutes later: the copy cache has forgotten them
    w.state.by_pseudonym.clear()
    ctx = w.pipeline.handle(topic(GW), envelope(sent[1], GW, LATER), LATER)
    assert (ctx.outcome, ctx.detail, ctx.device_id, ctx.counter) == (Outcome.REPLAY, "replay", 30, 1)
    assert len(w.state.unresolved) == 0  # no sweep for it
    assert w.state.counts[Outcome.UNKNOWN_DEVICE] == 0


def test_older_than_the_replay_window_is_too_old() -> None:
    w = World()
    sent = _heartbeats(w, 31, range(1, REPLAY_WINDOW + 10))
    w.state.recent.clear()
    w.state.by_pseudonym.clear()
    ctx = w.pipeline.handle(topic(GW), envelope(sent[2], GW, LATER), LATER)
    assert (ctx.outcome, ctx.detail) == (Outcome.REPLAY, "too_old")


def test_a_counter_never_heard_and_since_left_behind_is_not_accepted_late() -> None:
    w = World()
    _heartbeats(w, 32, range(1, 2))
    missed, _ = w.frame(32, EVENT_HEARTBEAT, counter=2, flags=0, aux=60)
    _heartbeats(w, 32, range(3, LOOKBEHIND + 12))
    ctx = w.pipeline.handle(topic(GW), envelope(missed, GW, LATER), LATER)
    assert (ctx.outcome, ctx.detail) == (Outcome.REPLAY, "behind_window")
    assert w.state.resolver.replay_state(32)[0] == LOOKBEHIND + 11  # nothing moved


def test_a_forgery_under_a_retired_pseudonym_and_a_stranger_stay_unknown() -> None:
    w = World()
    sent = _heartbeats(w, 33, range(1, LOOKBEHIND + 12))
    w.state.recent.clear()
    w.state.by_pseudonym.clear()
    forged = bytearray(sent[1])
    forged[-1] ^= 1
    assert _send(w, bytes(forged)) == Outcome.UNKNOWN_DEVICE
    alien, _ = World().frame(1, EVENT_HEARTBEAT, flags=0, aux=60)
    assert _send(w, alien) == Outcome.UNKNOWN_DEVICE
    assert len(w.state.unresolved) == 2


def test_a_ring_that_jumps_far_ahead_retires_its_whole_old_window() -> None:
    w = World()
    sent = _heartbeats(w, 34, range(1, 4))
    far, _ = w.frame(34, EVENT_HEARTBEAT, counter=1000, flags=0, aux=60)
    assert _send(w, far) == Outcome.UNKNOWN_DEVICE
    (found,) = w.pipeline.sweep(LATER)  # the ring found again far ahead: its window jumps there
    assert found.outcome == Outcome.ACCEPTED
    w.state.recent.clear()
    w.state.by_pseudonym.clear()
    assert _send(w, sent[3]) == Outcome.REPLAY


def test_a_removed_ring_is_unknown_again() -> None:
    w = World()
    sent = _heartbeats(w, 35, range(1, LOOKBEHIND + 12))
    w.state.recent.clear()
    w.state.by_pseudonym.clear()
    w.state.resolver.remove(35)
    assert _send(w, sent[1]) == Outcome.UNKNOWN_DEVICE


def test_the_memory_of_retired_pseudonyms_is_bounded_and_forgets_the_oldest() -> None:
    r = Resolver(retired=16)
    w = World()
    w.state.resolver = r
    sent = _heartbeats(w, 36, range(1, 40))
    w.state.recent.clear()
    w.state.by_pseudonym.clear()
    assert len(r._old_pids) == 16 and len(r._old) == 16
    assert r.behind(sent[1]) is None  # forgotten: written over
    assert r.behind(sent[39 - LOOKBEHIND - 4]) is not None  # among the last sixteen to retire


def test_frames_given_up_after_a_sweep_make_one_log_line_per_sweep(caplog: pytest.LogCaptureFixture) -> None:
    w = World()
    stranger = World()
    for i in range(50):
        alien, _ = stranger.frame(1, EVENT_HEARTBEAT, flags=0, aux=60)
        _send(w, alien, LATER + i)
    with caplog.at_level(logging.WARNING, logger="nightwatch.dispatch.pipeline"):
        assert w.pipeline.sweep(LATER + 100) == []
    assert w.state.unresolved_given_up == 50
    (line,) = caplog.records
    assert "50 frame(s) from 1 gateway(s)" in line.getMessage()


def test_frames_given_up_and_dropped_are_in_health_and_metrics(tmp_path: Path) -> None:
    d = Dispatcher(DispatchSettings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'd.db'}"))
    d.state.unresolved_given_up, d.state.unresolved_dropped = 7, 2
    health = d.health()
    assert (health["unresolved_given_up"], health["unresolved_dropped"]) == (7, 2)
    text = metrics.text(metrics.registry(d)).decode()
    assert "nightwatch_unresolved_given_up_total 7.0\n" in text
    assert "nightwatch_unresolved_dropped_total 2.0\n" in text
