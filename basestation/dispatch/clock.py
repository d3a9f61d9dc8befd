"""The service's deadline clock: one timer for the earliest deadline on the heap, and the passes it starts.

Offer timeouts, broadcasts and escalations are met by a pass over the deadlines that have fallen due
(``actions.deadline_slices``), started by the timer or, when a deadline falls while an uplink is being handled,
right after that uplink (``after_uplink``). One process only: replicas plan under the database's locks by the
walk alone (cluster.py).
"""

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from basestation.dispatch.core import actions
from basestation.dispatch.core.effects import Effects
from basestation.dispatch.core.pipeline import UplinkPipeline
from basestation.dispatch.core.state import DispatchState

log = logging.getLogger("nightwatch.dispatch")


# Compared and shown as the one object it is: its state is the service's, far too much to print or compare. With
# slots the generated __init__ sets the fields it takes no argument for, which the class compiled by mypyc needs: it
# keeps no class attribute for an instance to read their defaults from.
@dataclass(eq=False, repr=False, slots=True)
class DeadlineClock:
    """``carry_out`` is the service's (``Dispatcher.carry_out``): each slice's effects go to it as they are made;
    ``now`` gives the wall clock's milliseconds."""

    state: DispatchState
    pipeline: UplinkPipeline
    carry_out: Callable[[Effects], None]
    gap_ms: int
    now: Callable[[], int]
    # The timer set for the earliest deadline, when it fires, the pass running, and when the last one started.
    timer: asyncio.TimerHandle | None = field(default=None, init=False)
    timer_ms: int = field(default=0, init=False)
    running: asyncio.Task[None] | None = field(default=None, init=False)
    last_pass_ms: int = field(default=0, init=False)

    def start(self) -> None:
        """Set the timer whenever the earliest deadline changes, and now for the one there is."""
        self.state.on_earliest = self.set
        if self.state.deadlines:
            self.set(self.state.deadlines[0][0])

    def stop(self) -> asyncio.Task[None] | None:
        """Stop setting the timer; the pass still running, if one is, for the caller to cancel."""
        self.state.on_earliest = None
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        return self.running

    def set(self, at_ms: int) -> None:
        """The earliest deadline on the heap is now ``at_ms``: a pass (``_pass``) runs when it falls, and not sooner
        than ``gap_ms`` (the ``deadline_gap_ms`` setting) after the last one began, so that deadlines falling close
        together are met in one pass.

        A timer for the earliest deadline, not a look every few milliseconds: on this machine every wake-up of an
        idle process cost ~0.17 ms of CPU, and a look every 10 ms was 17 ms of CPU a second with nothing due
        (bench/common.py's ``sched_stats``), a hundred wake-ups a second taking turns with the alarms for the two
        cores. The heap calls this itself (``DispatchState.push_deadline``), whichever path put a deadline on it."""
        if self.running is not None:
            return  # the pass sets the timer again when it ends
        at_ms = max(at_ms, self.last_pass_ms + self.gap_ms)
        timer = self.timer
        if timer is not None:
            if self.timer_ms <= at_ms:
                return
            timer.cancel()
        self.timer_ms = at_ms
        delay_s = max(0.0, (at_ms - self.now()) / 1000)
        self.timer = asyncio.get_running_loop().call_later(delay_s, self._fall)

    def _fall(self) -> None:
        self.timer = None
        if actions.deadlines_due(self.state, self.now()):
            self._start_pass()
        elif self.state.deadlines:  # the timer's clock ran ahead of the wall clock's milliseconds
            self.set(self.state.deadlines[0][0])

    def after_uplink(self, now: int) -> None:
        """A deadline fell while an uplink was being handled: the pass runs in this wake-up of the event loop,
        right after it, not in one of its own a moment later (at a thousand uplinks a second, with offers timing
        out hundreds of times a second, nearly every pass rides along with an alarm)."""
        if self.running is not None or not actions.deadlines_due(self.state, now):
            return
        if now - self.last_pass_ms < self.gap_ms:
            return  # the timer is set for the end of the gap
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self._start_pass()

    def _start_pass(self) -> None:
        self.running = asyncio.get_running_loop().create_task(self._pass(), name="dispatch-deadlines")

    async def _pass(self) -> None:
        """Offer timeouts, broadcasts and escalations that have fallen due (actions.deadline_slices)."""
        now = self.now()
        self.last_pass_ms = now
        try:
            for eff in actions.deadline_slices(self.state, self.pipeline, now, carry_out=self.carry_out):
                self.carry_out(eff)
                await asyncio.sleep(0)  # alarms that came in meanwhile go first
        except Exception:
            log.exception("deadline pass failed")
        finally:
            self.running = None
            if self.state.deadlines and self.state.on_earliest is not None:
                self.set(self.state.deadlines[0][0])
