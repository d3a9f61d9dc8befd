"""What a press means now: the button's gestures (press.py) read as intents (docs/keyring.md, "Press patterns").

An intent is the event it sends (EVENT_SOS, EVENT_ESCORT, EVENT_TEST, EVENT_CANCEL, EVENT_DURESS), ARMING (a hold
half-way: the wearer is to feel that an SOS is coming) or IGNORED (a word that means nothing now). A word means
what the open alarm makes it mean: with none open, ESCORT or TEST; during an SOS or ESCORT, CANCEL or DURESS (the
default ESCORT and CANCEL words are the same ``SSS``). A TEST is not cancelled: it ends by itself. A HOLD is an SOS
whatever is open (docs/lifecycle.md).
"""

from firmware import press
from firmware.const import const
from protocol.constants import EVENT_CANCEL, EVENT_DURESS, EVENT_ESCORT, EVENT_SOS, EVENT_TEST

NONE = const(0)
# Above the one-byte event codes, so an intent is either an event or one of these.
ARMING = const(0x101)
IGNORED = const(0x102)

# What a word can mean, by what is open, tried in this order: (its setting in the config, the event, its name in
# the log). The config keeps the words of one state apart, so at most one matches.
_WITH_NONE_OPEN = (("escort_word", EVENT_ESCORT, "escort"), ("test_word", EVENT_TEST, "test"))
_WITH_ALARM_OPEN = (("duress_word", EVENT_DURESS, "duress"), ("cancel_word", EVENT_CANCEL, "cancel"))


class IntentReader:
    """Button edges in (from the interrupt handler's queue), intents out."""

    def __init__(self, hw, cfg) -> None:
        self._hw = hw
        self._cfg = cfg
        self.press = press.PressRecogniser(cfg.press)

    def idle(self) -> bool:
        return self.press.idle()

    def next_deadline(self, now: int):  # -> int | None
        return self.press.next_deadline(now)

    def feed(self) -> None:
        """Take the edges queued since the last step."""
        edges = self._hw.edges
        while True:
            level = edges.pop()
            if level < 0:
                break
            self.press.feed(level == 1, edges.t)

    def next(self, now: int, open_event: int) -> int:
        """The next intent due at ``now``, or NONE; ``open_event`` is the open alarm's event (0: none). Call until
        it returns NONE, acting on each intent before asking for the next: an intent may open or end the alarm."""
        g = self.press.poll(now)
        if g == press.NONE:
            return NONE
        if g == press.ARMING:
            return ARMING
        hw = self._hw
        if g == press.HOLD:
            hw.tell(now, "pattern", "sos")
            return EVENT_SOS
        word = self.press.word
        if not open_event:
            meanings = _WITH_NONE_OPEN
        elif open_event != EVENT_TEST:
            meanings = _WITH_ALARM_OPEN
        else:
            meanings = ()  # a TEST is not cancelled: it ends by itself
        for setting, event, name in meanings:
            if word == getattr(self._cfg, setting):
                hw.tell(now, "pattern", name)
                return event
        hw.tell(now, "pattern", "ignored " + word)
        return IGNORED
