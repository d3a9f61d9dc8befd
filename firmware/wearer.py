"""What the wearer is told: each turn an alarm takes, as the pattern they feel (docs/keyring.md, "Feedback
patterns"). The patterns and their player are feedback.py's; this module decides which one plays when.
"""

from firmware import feedback
from protocol.constants import ACK_CANCELLED, ACK_HELP_ON_THE_WAY, ACK_UNAVAILABLE, EVENT_ESCORT


class Wearer:
    def __init__(self, hw, locator: bool) -> None:
        self._hw = hw
        self._locator = locator  # the opt-in chirp with "help on the way", so a responder can find the ring
        self.player = feedback.Player(hw.led, hw.vibe, hw.buzzer)

    def busy(self) -> bool:
        return self.player.busy()

    def next_deadline(self):  # -> int | None
        return self.player.next_deadline()

    def poll(self, now: int) -> None:
        self.player.poll(now)

    def _play(self, pattern: int, now: int, after: bool = False) -> None:
        """Start a pattern (``after``: once the current intro ends, then back to its loop)."""
        self._hw.tell(now, "feedback", feedback.PATTERN_NAMES[pattern])
        if after:
            self.player.then(pattern, now)
        else:
            self.player.play(pattern, now)

    def arming(self, now: int) -> None:
        # A pattern already playing is news the wearer is waiting for: the tick would only blur it.
        if not self.player.busy():
            self._play(feedback.ARMING, now)

    def sending(self, event: int, now: int) -> None:
        self._play(feedback.ESCORT_SENDING if event == EVENT_ESCORT else feedback.SENDING, now)

    def not_reached(self, now: int) -> None:
        self._play(feedback.NOT_REACHED, now)  # replayed at each retry: "still trying"

    def cancelled(self, now: int) -> None:
        # The same for CANCEL and DURESS, before anything goes on air: an observer must not tell them apart.
        self._play(feedback.CANCELLED, now)

    def answered(self, state: int, now: int) -> None:
        """An ACK state the alarm had not reached before."""
        if state == ACK_HELP_ON_THE_WAY:
            self._play(feedback.HELP_LOCATOR if self._locator else feedback.HELP, now)
        elif state == ACK_UNAVAILABLE:
            self._play(feedback.UNAVAILABLE, now)
        else:
            self._play(feedback.RECEIVED, now)

    def over(self, state: int, now: int) -> None:
        """The alarm ended on the network: cancelled, or closed by a responder or operator."""
        self._play(feedback.CANCELLED if state == ACK_CANCELLED else feedback.CLOSED, now)

    def quiet(self, now: int) -> None:
        """The cancel window of an answered alarm ran out: nothing more to feel."""
        self._play(feedback.IDLE, now)

    def test_result(self, ok: bool, now: int) -> None:
        self._play(feedback.TEST_OK if ok else feedback.TEST_FAILED, now)

    def low_battery(self, now: int) -> None:
        self._play(feedback.LOW_BATTERY, now, True)  # after the intro playing, so it does not cut an alarm's news
