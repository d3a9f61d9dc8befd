"""The alarm and its cancel: from the press that raises it to the ACK that ends it (docs/keyring.md, "Alarm
transmission"; docs/lifecycle.md).

At most one of each is open:
- ``alarm``: SOS, ESCORT or TEST, retried until a verified ACK (TEST: three copies). Acknowledged, it stays open for
  ``cancel_window_ms`` after its last ACK with the receiver on, so "help on the way" or "it is over" can still arrive
  and the wearer can still cancel. Every SOS hold is a new alarm with a new counter, even while one is open: the
  ring may never hear that the last one ended, and a press must never fold into an alarm that is over.
- ``cancel``: CANCEL or DURESS, sent silently after the same local feedback (SPEC 4: aux names the alarm).
"""

from firmware import retry
from firmware.const import const
from firmware.ticks import ticks_add, ticks_diff
from firmware.uplinks import Outgoing
from protocol.constants import ACK_CANCELLED, ACK_CLOSED, ACK_RECEIVED, EVENT_TEST

_AUX_MAX = const(0xFFFF)


class Alarms:
    def __init__(self, hw, cfg, uplinks, wearer) -> None:
        self._hw = hw
        self._cfg = cfg
        self._uplinks = uplinks
        self._wearer = wearer
        self.alarm = None
        self.cancel = None
        self.until = None  # when an acknowledged alarm closes

    def open_event(self) -> int:
        """The open alarm's event, 0 with none."""
        return 0 if self.alarm is None else self.alarm.event

    def idle(self) -> bool:
        return self.alarm is None and self.cancel is None

    def raise_alarm(self, event: int, now: int) -> None:
        # Every press is a new alarm with a new counter, also when one is open (held again, the wearer is
        # saying the danger is not over): dispatch folds it into the incident still open, or opens a new one if
        # that one ended while the ring did not hear it. A repeated counter would be a copy of the old alarm, and
        # an alarm that is over answers its copies with "over", not with help (docs/lifecycle.md).
        up = self._uplinks
        attempts = retry.TEST_ATTEMPTS if event == EVENT_TEST else retry.ALARM_ATTEMPTS
        counter = up.take(now)
        if not counter:
            return
        alarm = Outgoing(counter, event, 0, up.flags(True), now, attempts, retry.ALARM_DELAYS_MS)
        self.alarm = alarm  # an alarm in flight is superseded: the ring listens for its newest press only
        self.until = None
        self._hw.tell(now, "uplink", counter)
        self._wearer.sending(event, now)
        self._send(alarm, now)  # the first copy leaves in this same step

    def cancel_alarm(self, event: int, now: int) -> None:
        """CANCEL or DURESS of the open alarm: the wearer is told at once, the network as soon as it can hear."""
        alarm = self.alarm
        if alarm is None:
            return
        self.alarm = None
        self.until = None
        up = self._uplinks
        counter = up.take(now)
        delta = counter - alarm.counter
        self._wearer.cancelled(now)
        if not counter or delta > _AUX_MAX:
            return  # cannot name the alarm any more (65535 frames later); the server has long closed it
        cancel = Outgoing(counter, event, delta, up.flags(True), now, retry.CANCEL_ATTEMPTS, retry.CANCEL_DELAYS_MS)
        self.cancel = cancel
        self._hw.tell(now, "uplink", counter)
        self._send(cancel, now)

    def service(self, now: int) -> None:
        if self.alarm is not None:
            self._send(self.alarm, now)
        if self.cancel is not None:
            self._send(self.cancel, now)

    def _send(self, out, now: int) -> None:
        up = self._uplinks
        if (
            up.attempt(out, now)
            and out is self.alarm
            and out.state == 0
            and out.event != EVENT_TEST
            and out.attempt > self._cfg.not_reached_after
        ):
            self._wearer.not_reached(now)
        up.send_lora(out, now)

    def retire(self, now: int) -> None:
        """Give up on an uplink whose last copy went out and whose wait for an ACK is over; close an answered
        alarm whose cancel window ran out."""
        alarm = self.alarm
        if alarm is not None and alarm.give_up_at is not None and ticks_diff(now, alarm.give_up_at) >= 0:
            self.alarm = None
            if alarm.event == EVENT_TEST:
                self._wearer.test_result(False, now)
        cancel = self.cancel
        if cancel is not None and cancel.give_up_at is not None and ticks_diff(now, cancel.give_up_at) >= 0:
            self.cancel = None
        if self.until is not None and ticks_diff(now, self.until) >= 0:
            self.alarm = None
            self.until = None
            self._wearer.quiet(now)

    def acked(self, out, state: int, now: int) -> None:
        """A verified ACK with ``state`` for ``out``, which has stopped sending."""
        if out is self.cancel:
            self.cancel = None  # silent: the wearer saw "cancelled" when pressing
            return
        if out is not self.alarm:
            return
        wearer = self._wearer
        if out.event == EVENT_TEST:
            self.alarm = None
            wearer.test_result(True, now)
            return
        if state in (ACK_CANCELLED, ACK_CLOSED):
            # Over: a cancel reached the network, or a responder or operator closed the alarm. DURESS answers go
            # to self.cancel above and never reach here.
            self.alarm = None
            self.until = None
            wearer.over(state, now)
            return
        if state != out.state and (state != ACK_RECEIVED or out.state == 0):
            # Each state the wearer feels once, when it starts; "received" after help or after "nobody can come"
            # is never sent (docs/lifecycle.md), and would not downgrade them.
            out.state = state
            wearer.answered(state, now)
        self.until = ticks_add(now, self._cfg.cancel_window_ms)
