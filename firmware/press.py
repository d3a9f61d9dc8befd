"""Press patterns: button edges in, gestures out (docs/keyring.md, "Press patterns").

A gesture is either a HOLD (the button kept down for ``hold_ms``, reported while it is still down so an SOS
leaves without waiting for the release) or a WORD: a run of presses, each Short (< ``click_max_ms``) or Long
(up to ``hold_ms``), written as a string such as "SSS" or "SSL". A word ends after ``gap_ms`` of
release, or at once when a Long press ends (nothing may follow a Long, which keeps DURESS as quick as CANCEL).

Pocket safety, in order of weight: a HOLD needs ``hold_ms`` (2 s) of continuous contact; at ``arm_ms`` an
ARMING tick on the vibration motor tells the wearer (or the person whose pocket it is in) that an SOS is
coming, so an accidental squeeze can be released in time; contact bounce and knocks shorter than
``debounce_ms`` are ignored; a word longer than ``max_presses`` is fumbling and is dropped; one HOLD fires once,
however long the button stays down.

Pure logic: edges come with their tick time from the interrupt handler, and ``poll(now)`` reports what is due.
"""

from firmware.const import const
from firmware.ticks import ticks_add, ticks_diff

NONE = const(0)
HOLD = const(1)  # the SOS hold reached hold_ms; the button is still down
ARMING = const(2)  # the hold passed arm_ms: a tactile warning before HOLD
WORD = const(3)  # a word ended; read it from .word

SHORT = "S"
LONG = "L"


class PressConfig:
    """Timings in ms; the defaults are justified in docs/keyring.md."""

    def __init__(
        self,
        debounce_ms: int = 30,
        click_max_ms: int = 600,
        gap_ms: int = 700,
        arm_ms: int = 1000,
        hold_ms: int = 2000,
        max_presses: int = 8,
    ) -> None:
        if not 0 < debounce_ms < click_max_ms < hold_ms or not 0 < arm_ms < hold_ms or gap_ms <= debounce_ms:
            raise ValueError("press timings must satisfy debounce < click_max < hold and arm < hold")
        self.debounce_ms = debounce_ms
        self.click_max_ms = click_max_ms
        self.gap_ms = gap_ms
        self.arm_ms = arm_ms
        self.hold_ms = hold_ms
        self.max_presses = max_presses


class PressRecogniser:
    def __init__(self, cfg: PressConfig) -> None:
        self.cfg = cfg
        self.word = ""  # the last WORD reported
        self._down = False  # the debounced level
        self._t_down = 0
        self._up_pending = False  # a release seen, not yet confirmed by debounce_ms of quiet
        self._t_up = 0
        self._armed = False
        self._held = False  # this press already fired HOLD
        self._presses = 0
        self._long = False
        self._in_word = False
        self._t_last_up = 0

    def idle(self) -> bool:
        """Nothing pending: the device may deep-sleep, a new press will wake it."""
        return not self._down and not self._in_word

    def feed(self, pressed: bool, t: int) -> None:
        """One edge at tick ``t`` (button down when ``pressed``). Repeated levels are ignored."""
        if pressed:
            if self._up_pending:
                if ticks_diff(t, self._t_up) < self.cfg.debounce_ms:
                    self._up_pending = False  # contact bounce: the press goes on
                    return
                self._release(self._t_up)
            if self._down:
                return
            self._down = True
            self._t_down = t
            self._armed = False
            self._held = False
        elif self._down and not self._up_pending:
            self._up_pending = True
            self._t_up = t

    def _reset_word(self) -> None:
        self._presses = 0
        self._long = False
        self._in_word = False

    def _release(self, t_up: int) -> int:
        # A confirmed release; returns WORD when it closes one.
        self._down = False
        self._up_pending = False
        if self._held:
            self._reset_word()  # the HOLD consumed this press
            return NONE
        length = ticks_diff(t_up, self._t_down)
        if length < self.cfg.debounce_ms:
            return NONE  # a knock, not a press
        self._presses += 1
        self._t_last_up = t_up
        self._in_word = True
        if self._presses > self.cfg.max_presses:
            # Checked before a long press closes the word: eight clicks and a long one are fumbling too.
            self._reset_word()
            return NONE
        if length >= self.cfg.click_max_ms:
            self._long = True
            return self._close_word()
        return NONE

    def _close_word(self) -> int:
        n = self._presses - 1 if self._long else self._presses
        self.word = SHORT * n + (LONG if self._long else "")
        self._reset_word()
        return WORD

    def poll(self, now: int) -> int:
        """The next gesture due at ``now``, or NONE. Call until it returns NONE."""
        cfg = self.cfg
        if self._up_pending and ticks_diff(now, self._t_up) >= cfg.debounce_ms:
            return self._release(self._t_up)
        # While a release is pending it may still prove a bounce: the HOLD waits (at most debounce_ms) to know.
        if self._down and not self._up_pending and not self._held:
            held = ticks_diff(now, self._t_down)
            if held >= cfg.hold_ms:
                self._held = True
                self._reset_word()  # clicks just before a panic hold are fumbling, not a word
                return HOLD
            if held >= cfg.arm_ms and not self._armed:
                self._armed = True
                return ARMING
        if self._in_word and not self._down and ticks_diff(now, self._t_last_up) >= cfg.gap_ms:
            return self._close_word()
        return NONE

    def next_deadline(self, now: int):  # -> int | None
        """The tick at which ``poll`` next has something to say, or None when only an edge can change that."""
        cfg = self.cfg
        if self._up_pending:
            return ticks_add(self._t_up, cfg.debounce_ms)
        if self._down:
            if self._held:
                return None
            return ticks_add(self._t_down, cfg.hold_ms if self._armed else cfg.arm_ms)
        if self._in_word:
            return ticks_add(self._t_last_up, cfg.gap_ms)
        return None
