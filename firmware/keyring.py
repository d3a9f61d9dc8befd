"""The key ring application: its parts put together and stepped in order (docs/keyring.md).

Everything that happens is driven by ``poll(now)``; ``next_deadline(now)`` says when to call it again and
``can_deep_sleep()`` whether RAM may be lost until then (state that must survive goes into ``snapshot()``,
which the board keeps in RTC memory). The hardware arrives in a :class:`firmware.hardware.Hardware`.

The parts, each on its own concern:
- ``presses`` (intents.py): button edges to intents: SOS, ESCORT, TEST, CANCEL, DURESS.
- ``alarms`` (alarm.py): the alarm and its cancel, from the press to the ACK that ends them.
- ``supervisor`` (supervision.py): heartbeats and the battery.
- ``uplinks`` (uplinks.py): the copies of every open uplink on BLE and LoRa, the receiver, ACK matching.
- ``wearer`` (wearer.py): what the wearer feels of all this.
"""

import struct

from firmware import intents
from firmware.airtime import AirtimeLedger
from firmware.alarm import Alarms
from firmware.counter_store import CounterStore
from firmware.supervision import Battery, Supervisor
from firmware.ticks import earlier, ticks_diff
from firmware.uplinks import Uplinks
from firmware.wearer import Wearer
from protocol.constants import EVENT_CANCEL, EVENT_DURESS

# magic, last acked counter, ms to next heartbeat, heartbeat period (min), low-battery latch, ledger,
# next counter and the end of its flash reservation (so a wake does not skip the rest of the block)
_RETAINED = ">4sIIHB6III"
_RETAINED_MAGIC = b"NWR3"


class Keyring:
    def __init__(self, hw, cfg, keys, now: int, retained=None, slept_ms: int = 0) -> None:
        self.hw = hw
        self.cfg = cfg
        self.store = CounterStore(hw.storage, cfg.counter_start)
        self.presses = intents.IntentReader(hw, cfg)
        self.wearer = Wearer(hw, cfg.locator)
        self.ledger = AirtimeLedger(now)
        battery = Battery(hw.battery, cfg.low_battery_pct, cfg.low_battery_clear_pct, now)
        self.uplinks = Uplinks(hw, cfg, keys, self.store, self.ledger, battery, retained is None)
        self.alarms = Alarms(hw, cfg, self.uplinks, self.wearer)
        self.supervisor = Supervisor(hw, cfg, self.uplinks, battery, self.wearer, now)
        if retained is not None and len(retained) == struct.calcsize(_RETAINED):
            fields = struct.unpack(_RETAINED, retained)
            if fields[0] == _RETAINED_MAGIC:
                self.supervisor.restore(fields[1], fields[2], fields[3], now, slept_ms)
                battery.low = bool(fields[4])
                self.ledger.restore([max(0, r - slept_ms) for r in fields[5:11]], now)
                self.store.resume(fields[11], fields[12])
        self.supervisor.read_battery(now)  # after the restore, so a crossing while asleep is reported now

    # ---- what the runner, the simulator and the tests read -----------------------------------------

    @property
    def alarm(self):  # -> Outgoing | None: the open SOS, ESCORT or TEST
        return self.alarms.alarm

    @property
    def cancel(self):  # -> Outgoing | None: the CANCEL or DURESS in flight
        return self.alarms.cancel

    @property
    def beat(self):  # -> Outgoing | None: the heartbeat in flight
        return self.supervisor.beat

    @property
    def player(self):
        return self.wearer.player

    @property
    def last_acked(self) -> int:
        return self.supervisor.last_acked

    @property
    def heartbeat_at(self) -> int:
        return self.supervisor.heartbeat_at

    @property
    def beat_min(self) -> int:
        return self.supervisor.beat_min

    @property
    def low_battery(self) -> bool:
        return self.supervisor.battery.low

    # ---- state kept across deep sleep -------------------------------------------------------------

    def snapshot(self, now: int) -> bytes:
        """What must survive deep sleep (RTC memory). The counter's high-water mark stays in flash; RTC memory
        only lets a wake continue inside the block already reserved there."""
        sup = self.supervisor
        nxt, reserved = self.store.retained()
        return struct.pack(
            _RETAINED,
            _RETAINED_MAGIC,
            sup.last_acked,
            max(0, ticks_diff(sup.heartbeat_at, now)),
            sup.beat_min,
            1 if sup.battery.low else 0,
            *self.ledger.remaining(now),
            nxt,
            reserved,
        )

    def can_deep_sleep(self) -> bool:
        return (
            not len(self.hw.edges)  # an edge that came after the last poll: a press may be starting
            and self.presses.idle()
            and not self.wearer.busy()
            and self.alarms.idle()
            and self.supervisor.beat is None
            and self.uplinks.idle()
        )

    def next_deadline(self, now: int):  # -> int | None
        alarms = self.alarms
        best = self.supervisor.heartbeat_at
        best = earlier(best, self.presses.next_deadline(now))
        best = earlier(best, self.wearer.next_deadline())
        best = earlier(best, alarms.until)
        up = self.uplinks
        best = up.next_copy(now, alarms.alarm, best)
        best = up.next_copy(now, alarms.cancel, best)
        best = up.next_copy(now, self.supervisor.beat, best)
        return up.next_deadline(best)

    # ---- the main step ----------------------------------------------------------------------------

    def poll(self, now: int) -> None:
        # Few locals per function on this path, which runs at every step: MicroPython keeps a call's frame
        # (locals and value stack) on the C stack up to 11 words and allocates a larger one on the heap.
        self._presses(now)
        self._downlinks(now)
        self.supervisor.poll_battery(now)
        # Alarms before the heartbeat: when the modem is free for one LoRa copy only, the alarm's goes.
        self.alarms.service(now)
        self.supervisor.service(now)
        self.alarms.retire(now)
        self.supervisor.retire(now)
        self.supervisor.poll_heartbeat(now, self.alarms.alarm is not None)
        self.uplinks.end_burst(now)
        self.uplinks.set_receiver(not self.alarms.idle())
        self.wearer.poll(now)

    def _presses(self, now: int) -> None:
        presses = self.presses
        presses.feed()
        while True:
            intent = presses.next(now, self.alarms.open_event())
            if intent == intents.NONE:
                return
            self._act(intent, now)

    def _downlinks(self, now: int) -> None:
        up = self.uplinks
        up.expire(now)
        while True:
            frame = up.recv()
            if frame is None:
                return
            self._downlink(frame, now)

    def _act(self, intent: int, now: int) -> None:
        if intent == intents.ARMING:
            self.wearer.arming(now)
        elif intent in (EVENT_CANCEL, EVENT_DURESS):
            self.alarms.cancel_alarm(intent, now)
        elif intent != intents.IGNORED:
            self.alarms.raise_alarm(intent, now)

    def _downlink(self, frame: bytes, now: int) -> None:
        alarms = self.alarms
        heard = self.uplinks.match(frame, (alarms.alarm, alarms.cancel, self.supervisor.beat))
        if heard is None:
            self.hw.tell(now, "downlink", "ignored")
            return
        out, state = heard
        self.supervisor.acked(out, now)
        self.hw.tell(now, "ack", state)
        alarms.acked(out, state, now)
