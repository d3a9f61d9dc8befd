"""Key rings on the wall clock: simulator/ring.py's SimRing (the real firmware logic on firmware/fakes.py), woken
by asyncio timers at the instants its power policy asks for, by the wearer's button and by ACKs on air.

What a ring does is reported through its board's recorder (``on_record``): frames on air, patterns recognised,
ACKs verified. The wearer's hand is a timeline of button edges, as in the virtual-time engine (simulator/gestures.py):
an SOS is held 2.6 s, a word (escort, cancel, duress) is the ring's own word of short and long presses.
"""

import asyncio
from collections.abc import Callable
from typing import Any

from simulator.gestures import gesture
from simulator.realtime.clock import WallClock
from simulator.ring import Record, SimRing

OnRecord = Callable[[SimRing, Record], None]


class LiveRings:
    def __init__(self, clock: WallClock, on_record: OnRecord) -> None:
        self.clock = clock
        self.on_record = on_record
        self.rings: dict[int, SimRing] = {}
        self._timers: dict[int, asyncio.TimerHandle] = {}
        self._loop = asyncio.get_running_loop()

    def now(self) -> int:
        return int(self.clock.ms())

    def add(self, index: int, device_id: int, root_key: bytes, settings: dict[str, Any] | None = None) -> SimRing:
        ring = SimRing(index, device_id, root_key, self.on_record, settings)
        self.rings[index] = ring
        return ring

    def boot(self, index: int) -> None:
        ring = self.rings[index]
        ring.boot(self.now())
        self._schedule(ring)

    def _schedule(self, ring: SimRing) -> None:
        old = self._timers.pop(ring.index, None)
        if old is not None:
            old.cancel()
        if ring.wake_at is not None:
            self._timers[ring.index] = self._loop.call_at(
                self.clock.loop_time(ring.wake_at), self._wake, ring.index, ring.wake_at
            )

    def _wake(self, index: int, due: int) -> None:
        ring = self.rings[index]
        self._timers.pop(index, None)
        if ring.wake_at != due:
            return  # superseded: the ring stepped since and asked for another time
        ring.wake(max(due, self.now()))
        self._schedule(ring)

    def _button(self, index: int, pressed: bool) -> None:
        ring = self.rings[index]
        if ring.app is None and not ring.deep:
            return  # not booted
        ring.button(self.now(), pressed)
        self._schedule(ring)

    def gesture(self, index: int, kind: str) -> None:
        """The wearer starts ``kind`` now: ``sos`` (a hold), or the ring's word for escort, cancel or duress."""
        for down, up in gesture(kind, self.rings[index].cfg, 0.0):
            self._loop.call_later(down / 1000, self._button, index, True)
            self._loop.call_later(up / 1000, self._button, index, False)

    def downlink(self, index: int, frame: bytes) -> bool:
        """An ACK ends on air at this ring now: heard only if its SX1262 listens (DIO1 then wakes the ring)."""
        ring = self.rings[index]
        heard = ring.downlink(self.now(), frame)
        if heard:
            self._schedule(ring)
        return heard

    def listening(self) -> list[int]:
        return [i for i, r in self.rings.items() if not r.deep and r.board.lora.mode == "rx"]

    def close(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
