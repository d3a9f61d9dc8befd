"""The key ring application: gestures to uplinks, ACKs to feedback, heartbeats, sleep (docs/keyring.md).

Everything that happens is driven by ``poll(now)``; ``next_deadline(now)`` says when to call it again and
``can_deep_sleep()`` whether RAM may be lost until then (state that must survive goes into ``snapshot()``,
which the board keeps in RTC memory). The hardware arrives in a :class:`firmware.hardware.Hardware`.

Uplinks in flight, at most one of each kind:
- ``alarm``: SOS, ESCORT or TEST. Acknowledged alarms stay open for ``cancel_window_ms`` after their last ACK
  with the receiver on, so "help on the way" or "it is over" can still arrive and the wearer can still cancel.
  Every SOS hold is a new alarm with a new counter, even while one is open: the ring may never hear that the
  last one ended, and a press must never fold into an alarm that is over (docs/lifecycle.md).
- ``cancel``: CANCEL or DURESS, sent silently after the same local feedback (SPEC 4: aux names the alarm).
- ``beat``: HEARTBEAT or LOW_BATTERY.
"""

try:
    from micropython import const  # pyright: ignore[reportAssignmentType]
except ImportError:

    def const(x):  # CPython: the same, except that the stub's argument is positional-only
        return x


import struct

from firmware import channels, feedback, press, retry
from firmware.airtime import UPLINK_CHANNELS, AirtimeLedger, time_on_air_ms
from firmware.counter_store import CounterExhaustedError, CounterStore
from firmware.ticks import ticks_add, ticks_diff
from protocol import ack, uplink
from protocol.constants import (
    ACK_CANCELLED,
    ACK_CLOSED,
    ACK_HELP_ON_THE_WAY,
    ACK_RECEIVED,
    ACK_REQUEST_GAP,
    ACK_UNAVAILABLE,
    BATTERY_UNKNOWN,
    EVENT_CANCEL,
    EVENT_DURESS,
    EVENT_ESCORT,
    EVENT_HEARTBEAT,
    EVENT_LOW_BATTERY,
    EVENT_SOS,
    EVENT_TEST,
    FLAG_ACK_REQUESTED,
    FLAG_BOOT,
    UPLINK_SIZE,
)
from protocol.errors import FrameError

_AGE_MAX = const(0xFFFF)
_AUX_MAX = const(0xFFFF)
_BATTERY_SAMPLE_MS = const(10000)
# magic, last acked counter, ms to next heartbeat, heartbeat period (min), low-battery latch, ledger,
# next counter and the end of its flash reservation (so a wake does not skip the rest of the block)
_RETAINED = ">4sIIHB6III"
_RETAINED_MAGIC = b"NWR3"
_BEAT_MAX_MIN = const(1440)  # SPEC 7.5: out of coverage, the period doubles up to a day


class Outgoing:
    """One counter being sent: its copies, its retry state and the ACK it got."""

    __slots__ = (
        "aged",
        "attempt",
        "aux",
        "counter",
        "delays",
        "event",
        "flags",
        "give_up_at",
        "lora_pending",
        "max_attempts",
        "next_at",
        "raised",
        "seq",
        "state",
    )

    def __init__(self, counter: int, event: int, aux: int, flags: int, now: int, max_attempts: int, delays):
        self.counter = counter
        self.event = event
        self.aux = aux
        self.flags = flags
        self.raised = now
        self.aged = False  # its age reached the field's top: it stays there (see Keyring._frame)
        self.max_attempts = max_attempts
        self.delays = delays
        self.attempt = 0
        self.next_at = now  # first copy at once
        self.give_up_at = None
        self.lora_pending = False
        self.state = 0  # the last verified ACK state
        self.seq = -1  # the highest ACK seq applied: an older or repeated ACK changes nothing (SPEC 6)


class Keyring:
    def __init__(self, hw, cfg, keys, now: int, retained=None, slept_ms: int = 0) -> None:
        self.hw = hw
        self.cfg = cfg
        self.keys = keys
        self.store = CounterStore(hw.storage, cfg.counter_start)
        self.press = press.PressRecogniser(cfg.press)
        self.player = feedback.Player(hw.led, hw.vibe, hw.buzzer)
        self.ledger = AirtimeLedger(now)
        self.toa_ms = time_on_air_ms(UPLINK_SIZE, cfg.lora_sf)
        self.alarm = None
        self.cancel = None
        self.beat = None
        self.alarm_until = None  # when an acknowledged alarm closes
        self.last_acked = 0
        self.low_battery = False
        self.battery = BATTERY_UNKNOWN
        self._battery_at = now
        # The channel order of the walk's current round (firmware/channels.py), kept so that next_deadline,
        # called at every step, does not shuffle again; nothing of it needs to survive deep sleep.
        self._order = bytearray(channels.N_CHANNELS)
        self._order_round = -1
        self._ble_until = None
        self._tx_end = None
        self._rx_until = None  # a receive window after an uplink that asked for an ACK
        self._rx_on = False
        self._boot = retained is None
        self.beat_min = cfg.heartbeat_min  # the current period: longer while heartbeats go unanswered
        self.heartbeat_at = now  # a cold boot announces itself at once, with FLAG_BOOT
        if retained is not None and len(retained) == struct.calcsize(_RETAINED):
            fields = struct.unpack(_RETAINED, retained)
            if fields[0] == _RETAINED_MAGIC:
                self.last_acked = fields[1]
                self.beat_min = max(cfg.heartbeat_min, min(fields[3], _BEAT_MAX_MIN))
                self.heartbeat_at = ticks_add(now, max(0, min(fields[2], self.beat_min * 60000) - slept_ms))
                self.low_battery = bool(fields[4])
                self.ledger.restore([max(0, r - slept_ms) for r in fields[5:11]], now)
                self.store.resume(fields[11], fields[12])
        self._sample_battery(now)  # after the restore, so a crossing while asleep is reported now

    # ---- state kept across deep sleep -------------------------------------------------------------

    def snapshot(self, now: int) -> bytes:
        """What must survive deep sleep (RTC memory). The counter's high-water mark stays in flash; RTC memory
        only lets a wake continue inside the block already reserved there."""
        to_beat = max(0, ticks_diff(self.heartbeat_at, now))
        rem = self.ledger.remaining(now)
        low = 1 if self.low_battery else 0
        return struct.pack(
            _RETAINED,
            _RETAINED_MAGIC,
            self.last_acked,
            to_beat,
            self.beat_min,
            low,
            *rem,
            self.store.peek(),
            self.store.reserved,
        )

    def can_deep_sleep(self) -> bool:
        return (
            not len(self.hw.edges)  # an edge that came after the last poll: a press may be starting
            and self.press.idle()
            and not self.player.busy()
            and self.alarm is None
            and self.cancel is None
            and self.beat is None
            and self._ble_until is None
            and self._tx_end is None
            and not self._rx_on
        )

    def next_deadline(self, now: int):  # -> int | None
        best = self.heartbeat_at
        for t in (
            self.press.next_deadline(now),
            self.player.next_deadline(),
            self._ble_until,
            self._tx_end,
            self._rx_until,
            self.alarm_until,
        ):
            if t is not None and ticks_diff(t, best) < 0:
                best = t
        for out in (self.alarm, self.cancel, self.beat):
            if out is None:
                continue
            for t in (out.next_at, out.give_up_at, self._lora_at(out, now)):
                if t is not None and ticks_diff(t, best) < 0:
                    best = t
        return best

    def _lora_at(self, out, now: int):
        if not out.lora_pending or self._tx_end is not None:
            return None
        return ticks_add(now, self._pick(out, now)[1])

    def _pick(self, out, now: int):  # -> (freq_hz, wait_ms)
        # RP002 3.3: a pseudo-random channel among those whose sub-band is open, drawn from the counter (in flash)
        # rather than from state in RTC memory, so a wake from deep sleep does not restart at one channel.
        pos = channels.position(out.counter, out.attempt)
        rnd = pos // channels.N_CHANNELS
        if rnd != self._order_round:
            channels.order(self.cfg.device_id, rnd, self._order)
            self._order_round = rnd
        return self.ledger.pick(UPLINK_CHANNELS, now, pos % channels.N_CHANNELS, self._order)

    # ---- the main step ----------------------------------------------------------------------------

    def poll(self, now: int) -> None:
        edges = self.hw.edges
        while True:
            level = edges.pop()
            if level < 0:
                break
            self.press.feed(level == 1, edges.t)
        while True:
            g = self.press.poll(now)
            if g == press.NONE:
                break
            self._gesture(g, now)
        self._radio(now)
        if ticks_diff(now, self._battery_at) >= _BATTERY_SAMPLE_MS:
            self._sample_battery(now)
        for out in (self.alarm, self.cancel, self.beat):
            if out is not None:
                self._service(out, now)
        self._retire(now)
        if ticks_diff(now, self.heartbeat_at) >= 0:
            self._heartbeat(now)
        if self._ble_until is not None and ticks_diff(now, self._ble_until) >= 0:
            self._ble_until = None
            self.hw.ble.stop()
        self._set_receiver(now)
        self.player.poll(now)

    def _play(self, pattern: int, now: int, after: bool = False) -> None:
        """Start a feedback pattern (``after``: once the current intro ends, then back to its loop)."""
        self._note(now, "feedback", feedback.PATTERN_NAMES[pattern])
        if after:
            self.player.then(pattern, now)
        else:
            self.player.play(pattern, now)

    def _note(self, now: int, kind: str, value) -> None:
        if self.hw.note is not None:
            self.hw.note(now, kind, value)

    # ---- gestures -----------------------------------------------------------------------------------

    def _gesture(self, g: int, now: int) -> None:
        cfg = self.cfg
        if g == press.ARMING:
            if not self.player.busy():
                self._play(feedback.ARMING, now)
            return
        if g == press.HOLD:
            self._note(now, "pattern", "sos")
            self._raise(EVENT_SOS, now)
            return
        word = self.press.word
        alarm = self.alarm
        if alarm is not None and alarm.event != EVENT_TEST:
            if word in (cfg.cancel_word, cfg.duress_word):
                duress = word == cfg.duress_word
                self._note(now, "pattern", "duress" if duress else "cancel")
                self._cancel(EVENT_DURESS if duress else EVENT_CANCEL, now)
                return
        elif alarm is None:
            if word == cfg.escort_word:
                self._note(now, "pattern", "escort")
                self._raise(EVENT_ESCORT, now)
                return
            if word == cfg.test_word:
                self._note(now, "pattern", "test")
                self._raise(EVENT_TEST, now)
                return
        self._note(now, "pattern", "ignored " + word)

    def _take(self, now: int) -> int:
        """A new counter, or 0 when they are used up (SPEC 7.2: stop sending; re-provision with a new key)."""
        try:
            return self.store.take()
        except CounterExhaustedError:
            self._note(now, "counter", "exhausted")
            return 0

    def _flags(self, ack_requested: bool) -> int:
        flags = FLAG_ACK_REQUESTED if ack_requested else 0
        if self._boot:
            self._boot = False
            flags |= FLAG_BOOT
        return flags

    def _raise(self, event: int, now: int) -> None:
        # Every press is a new alarm with a new counter, also when one is open (held again, the wearer is
        # saying the danger is not over): dispatch folds it into the incident still open, or opens a new one if
        # that one ended while the ring did not hear it. A repeated counter would be a copy of the old alarm, and
        # an alarm that is over answers its copies with "over", not with help (docs/lifecycle.md).
        attempts = retry.TEST_ATTEMPTS if event == EVENT_TEST else retry.ALARM_ATTEMPTS
        counter = self._take(now)
        if not counter:
            return
        alarm = Outgoing(counter, event, 0, self._flags(True), now, attempts, retry.ALARM_DELAYS_MS)
        self.alarm = alarm  # an alarm in flight is superseded: the ring listens for its newest press only
        self.alarm_until = None
        self._note(now, "uplink", alarm.counter)
        self._play(feedback.ESCORT_SENDING if event == EVENT_ESCORT else feedback.SENDING, now)
        self._service(alarm, now)  # the first copy leaves in this same step

    def _cancel(self, event: int, now: int) -> None:
        alarm = self.alarm
        if alarm is None:
            return
        self.alarm = None
        self.alarm_until = None
        counter = self._take(now)
        delta = counter - alarm.counter
        # The feedback is the same for CANCEL and DURESS, and it comes before anything goes on air.
        self._play(feedback.CANCELLED, now)
        if not counter or delta > _AUX_MAX:
            return  # cannot name the alarm any more (65535 frames later); the server has long closed it
        self.cancel = Outgoing(
            counter, event, delta, self._flags(True), now, retry.CANCEL_ATTEMPTS, retry.CANCEL_DELAYS_MS
        )
        self._note(now, "uplink", counter)
        self._service(self.cancel, now)

    # ---- heartbeat and battery ---------------------------------------------------------------------

    def _sample_battery(self, now: int) -> None:
        self._battery_at = now
        pct = self.hw.battery.percent()
        self.battery = pct
        if pct == BATTERY_UNKNOWN:
            return
        if not self.low_battery and pct < self.cfg.low_battery_pct:
            self.low_battery = True
            self.heartbeat_at = now  # report the crossing now, not at the next period
            self._play(feedback.LOW_BATTERY, now, True)
        elif self.low_battery and pct >= self.cfg.low_battery_clear_pct:
            self.low_battery = False

    def _heartbeat(self, now: int) -> None:
        self.heartbeat_at = ticks_add(now, self.beat_min * 60000)
        if self.alarm is not None or self.beat is not None:
            return  # an open alarm already tells the server the ring is alive
        self._sample_battery(now)
        counter = self._take(now)
        if not counter:
            return
        # SPEC 7.4: ask for an ACK before the server's lookahead could lose track of this device.
        want_ack = self._boot or counter - self.last_acked >= ACK_REQUEST_GAP
        event = EVENT_LOW_BATTERY if self.low_battery else EVENT_HEARTBEAT
        self.beat = Outgoing(counter, event, self.beat_min, self._flags(want_ack), now, retry.HEARTBEAT_ATTEMPTS, ())
        self._note(now, "uplink", counter)
        self._service(self.beat, now)

    # ---- sending ------------------------------------------------------------------------------------

    def _frame(self, out, now: int) -> bytes:
        age = ticks_diff(now, out.raised) // 1000
        # Ticks wrap: 2^29 ms (6.2 days) on, a difference turns negative, and after twice that small again. An
        # alarm still unanswered by then is as old as the field can say, and stays so.
        if out.aged or age < 0 or age >= _AGE_MAX:
            out.aged, age = True, _AGE_MAX
        up = uplink.Uplink(out.counter, self.cfg.device_id, out.event, self.battery, out.aux, age, out.flags)
        return uplink.encode(self.keys, up)

    def _service(self, out, now: int) -> None:
        if out.next_at is not None and ticks_diff(now, out.next_at) >= 0:
            self._attempt(out, now)
        if out.lora_pending:
            self._send_lora(out, now)

    def _attempt(self, out, now: int) -> None:
        cfg = self.cfg
        out.attempt += 1
        beat = out.event in (EVENT_HEARTBEAT, EVENT_LOW_BATTERY)
        burst = cfg.heartbeat_ble_ms if beat else cfg.ble_burst_ms
        if burst > 0:
            # One burst per attempt; a later attempt's frame replaces the advert in flight.
            self.hw.ble.advertise(self._frame(out, now))
            until = ticks_add(now, burst)
            if self._ble_until is None or ticks_diff(until, self._ble_until) > 0:
                self._ble_until = until
        out.lora_pending = True
        if retry.more(out.max_attempts, out.attempt):
            out.next_at = ticks_add(now, retry.delay_ms(out.delays, out.attempt, out.counter))
        else:
            out.next_at = None
        if out is self.alarm and out.state == 0 and out.event != EVENT_TEST and out.attempt > cfg.not_reached_after:
            self._play(feedback.NOT_REACHED, now)  # replayed at each retry: "still trying"

    def _send_lora(self, out, now: int) -> None:
        if self._tx_end is not None:
            return  # the modem is busy; the next step tries again
        freq, wait = self._pick(out, now)
        if wait > 0:
            return
        frame = self._frame(out, now)  # age is fresh for this copy
        self.ledger.record(freq, self.toa_ms, now)
        self._rx_on = False
        self.hw.lora.send(frame, freq, self.cfg.lora_sf)
        self._tx_end = ticks_add(now, int(self.toa_ms + 0.999))
        out.lora_pending = False
        if out.next_at is None and out.state == 0:
            # Last copy: give the ACK a receive window after it, then give up.
            out.give_up_at = ticks_add(self._tx_end, self.cfg.rx_window_ms if out.flags & FLAG_ACK_REQUESTED else 0)
        if out.flags & FLAG_ACK_REQUESTED:
            self._rx_until = ticks_add(self._tx_end, self.cfg.rx_window_ms)

    def _retire(self, now: int) -> None:
        # Uplinks whose last copy went out and whose wait for an ACK is over.
        for out in (self.alarm, self.cancel, self.beat):
            if out is None or out.give_up_at is None or ticks_diff(now, out.give_up_at) < 0:
                continue
            if out is self.alarm:
                self.alarm = None
                if out.event == EVENT_TEST:
                    self._play(feedback.TEST_FAILED, now)
            elif out is self.cancel:
                self.cancel = None
            else:
                self.beat = None
                if out.flags & FLAG_ACK_REQUESTED:
                    # SPEC 7.5: unanswered, so probably out of coverage; call less often to save the cell.
                    self.beat_min = min(self.beat_min * 2, _BEAT_MAX_MIN)
                    self.heartbeat_at = ticks_add(out.raised, self.beat_min * 60000)
        if self.alarm_until is not None and ticks_diff(now, self.alarm_until) >= 0:
            self.alarm = None
            self.alarm_until = None
            self._play(feedback.IDLE, now)

    # ---- radio --------------------------------------------------------------------------------------

    def _radio(self, now: int) -> None:
        if self._tx_end is not None and ticks_diff(now, self._tx_end) >= 0:
            self._tx_end = None
        if self._rx_until is not None and ticks_diff(now, self._rx_until) >= 0:
            self._rx_until = None
        if not self._rx_on:
            return
        while True:
            frame = self.hw.lora.recv()
            if frame is None:
                break
            self._downlink(bytes(frame), now)

    def _set_receiver(self, now: int) -> None:
        if self._tx_end is not None:
            return
        want = self.alarm is not None or self.cancel is not None or self._rx_until is not None
        if want and not self._rx_on:
            self.hw.lora.listen(self.cfg.rx_freq_hz, self.cfg.rx_sf)
        elif not want and self._rx_on:
            self.hw.lora.sleep()
        self._rx_on = want

    def _downlink(self, frame: bytes, now: int) -> None:
        for out in (self.alarm, self.cancel, self.beat):
            if out is None:
                continue
            try:
                a = ack.decode(self.keys, frame, out.counter)
            except FrameError:
                continue  # not for this uplink, or forged: only a verified ACK may change anything
            if a.seq <= out.seq:
                break  # SPEC 6: an older or repeated ACK (a replay, a late copy) changes nothing
            out.seq = a.seq
            self._acked(out, a.state, now)
            return
        self._note(now, "downlink", "ignored")

    def _acked(self, out, state: int, now: int) -> None:
        self.last_acked = max(self.last_acked, out.counter)
        if self.beat_min != self.cfg.heartbeat_min:
            # Back in coverage: the configured period again, from now.
            self.beat_min = self.cfg.heartbeat_min
            period_end = ticks_add(now, self.beat_min * 60000)
            if ticks_diff(self.heartbeat_at, period_end) > 0:
                self.heartbeat_at = period_end
        self._note(now, "ack", state)
        first = out.state == 0
        out.next_at = None  # heard: no more copies
        out.lora_pending = False
        out.give_up_at = None
        if out is self.beat:
            self.beat = None
            return
        if out is self.cancel:
            self.cancel = None  # silent: the wearer saw "cancelled" when pressing
            return
        if out.event == EVENT_TEST:
            self.alarm = None
            self._play(feedback.TEST_OK, now)
            return
        if state in (ACK_CANCELLED, ACK_CLOSED):
            # Over: a cancel reached the network, or a responder or operator closed the alarm. DURESS answers go
            # to self.cancel above and never reach here.
            self.alarm = None
            self.alarm_until = None
            self._play(feedback.CANCELLED if state == ACK_CANCELLED else feedback.CLOSED, now)
            return
        if state != out.state and (state != ACK_RECEIVED or first):
            # Each state the wearer feels once, when it starts; "received" after help or after "nobody can come"
            # is never sent (docs/lifecycle.md), and would not downgrade them.
            out.state = state
            if state == ACK_HELP_ON_THE_WAY:
                self._play(feedback.HELP_LOCATOR if self.cfg.locator else feedback.HELP, now)
            elif state == ACK_UNAVAILABLE:
                self._play(feedback.UNAVAILABLE, now)
            else:
                self._play(feedback.RECEIVED, now)
        self.alarm_until = ticks_add(now, self.cfg.cancel_window_ms)
