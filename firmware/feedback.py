"""What the wearer feels, sees and hears (docs/keyring.md, "Feedback patterns").

Vibration carries the meaning, because the wearer may not be looking: each state has its own count and
length of pulses (1 long = sending, 3 short = not reached yet, 2 long = received, 3 long = help on the way,
1 short = cancelled, 5 short = nobody can come: call 112, 1 very long = it is over). The LED repeats it for
those who look; the buzzer is used only for the opt-in locator chirp and the low-battery warning, since a sound
can provoke an attacker.

A pattern is an intro played once and a loop repeated until another pattern replaces it. Each step is
``(ms, led, vibrate, buzzer_hz)``. The player writes an output only when it changes, and ``poll(now)`` is
driven by deadlines, so between steps the CPU can sleep.
"""

from firmware.const import const
from firmware.ticks import ticks_add, ticks_diff

# LED colours; the board maps them onto its LED pins.
OFF = const(0)
RED = const(1)
GREEN = const(2)
AMBER = const(3)
BLUE = const(4)
COLOUR_NAMES = ("off", "red", "green", "amber", "blue")

_CHIRP_HZ = const(2700)  # a typical piezo resonance: loudest for the least current
_SEPARATOR_MS = const(250)  # motor-off gap between two patterns, so their pulses stay countable

# Pattern ids (indices into PATTERNS).
IDLE = const(0)
ARMING = const(1)
SENDING = const(2)
NOT_REACHED = const(3)
RECEIVED = const(4)
HELP = const(5)
HELP_LOCATOR = const(6)
CANCELLED = const(7)
LOW_BATTERY = const(8)
TEST_OK = const(9)
TEST_FAILED = const(10)
ESCORT_SENDING = const(11)
UNAVAILABLE = const(12)
CLOSED = const(13)
PATTERN_NAMES = (
    "idle",
    "arming",
    "sending",
    "not_reached",
    "received",
    "help",
    "help_locator",
    "cancelled",
    "low_battery",
    "test_ok",
    "test_failed",
    "escort_sending",
    "unavailable",
    "closed",
)

_LONG_PULSE = ((500, GREEN, 1, 0), (300, OFF, 0, 0))
_SHORT_RED = ((120, RED, 1, 0), (120, OFF, 0, 0))

PATTERNS = (
    ((), ()),  # IDLE
    (((60, OFF, 1, 0),), ()),  # ARMING: one tick, nothing to see (the hand may be in a pocket)
    (((800, RED, 1, 0),), ((100, RED, 0, 0), (400, OFF, 0, 0))),  # SENDING
    (_SHORT_RED * 3, ((100, RED, 0, 0), (1900, OFF, 0, 0))),  # NOT_REACHED: replayed at every retry
    (_LONG_PULSE * 2, ((100, GREEN, 0, 0), (2900, OFF, 0, 0))),  # RECEIVED
    (_LONG_PULSE * 3, ((1000, GREEN, 0, 0), (1000, OFF, 0, 0))),  # HELP
    (_LONG_PULSE * 3, ((150, GREEN, 0, _CHIRP_HZ), (1850, OFF, 0, 0))),  # HELP_LOCATOR
    (((200, AMBER, 1, 0), (100, OFF, 0, 0)), ()),  # CANCELLED (and DURESS: the same on purpose)
    (((60, AMBER, 1, 440), (240, AMBER, 0, 0), (300, OFF, 0, 0)) * 3, ()),  # LOW_BATTERY
    (_LONG_PULSE * 2, ()),  # TEST_OK
    (_SHORT_RED * 3, ()),  # TEST_FAILED
    (((800, BLUE, 1, 0),), ((100, BLUE, 0, 0), (400, OFF, 0, 0))),  # ESCORT_SENDING
    # UNAVAILABLE: five short, as no other state; then a red double blink that lasts until help is assigned or
    # the alarm ends. No sound: it may provoke an attacker.
    (_SHORT_RED * 5, ((150, RED, 0, 0), (150, OFF, 0, 0), (150, RED, 0, 0), (1550, OFF, 0, 0))),
    (((1500, GREEN, 1, 0),), ()),  # CLOSED: one very long pulse, then quiet
)


class Player:
    """Plays one pattern at a time on ``led.set(colour)``, ``vibe.set(on)`` and ``buzzer.set(hz)``."""

    def __init__(self, led, vibe, buzzer) -> None:
        self._led = led
        self._vibe = vibe
        self._buzzer = buzzer
        self._out_led = -1
        self._out_vibe = -1
        self._out_buzz = -1
        self.pattern = IDLE
        self._then = IDLE  # a one-shot queued behind the current intro
        self._resume = IDLE  # the looping pattern to return to after a one-shot
        self._steps = ()
        self._in_loop = False
        self._i = 0
        self._step_end = 0
        self._write(OFF, 0, 0)

    def _write(self, led: int, vibe: int, buzz: int) -> None:
        if led != self._out_led:
            self._out_led = led
            self._led.set(led)
        if vibe != self._out_vibe:
            self._out_vibe = vibe
            self._vibe.set(vibe)
        if buzz != self._out_buzz:
            self._out_buzz = buzz
            self._buzzer.set(buzz)

    def busy(self) -> bool:
        return self.pattern != IDLE

    def play(self, pattern: int, now: int, intro: bool = True) -> None:
        """Start ``pattern`` now (from its loop when not ``intro``), replacing whatever played."""
        self.pattern = pattern
        self._then = IDLE
        self._resume = IDLE
        first, loop = PATTERNS[pattern]
        if intro and first and self._out_vibe == 1 and first[0][2]:
            # The motor is still on from the last pattern: a pause first, or the two pulses merge into one
            # and the wearer counts wrong.
            first = ((_SEPARATOR_MS, OFF, 0, 0),) + first  # noqa: RUF005 - MicroPython lacks (a, *b)
        self._in_loop = not (intro and first)
        self._steps = loop if self._in_loop else first
        self._i = 0
        self._start_step(now)

    def then(self, pattern: int, now: int) -> None:
        """Play a one-shot after the current intro, then go back to the current loop (if it has one)."""
        if self.pattern == IDLE or self._in_loop:
            resume = self.pattern
            self.play(pattern, now)
            self._resume = resume
        else:
            self._then = pattern

    def stop(self, now: int) -> None:
        self.play(IDLE, now)

    def _start_step(self, now: int) -> None:
        if not self._steps:
            self.pattern = IDLE
            self._write(OFF, 0, 0)
            return
        ms, led, vibe, buzz = self._steps[self._i]
        self._step_end = ticks_add(now, ms)
        self._write(led, vibe, buzz)

    def poll(self, now: int) -> None:
        while self.pattern != IDLE and ticks_diff(now, self._step_end) >= 0:
            at = self._step_end  # steps chain from their deadlines, so a late poll does not stretch them
            self._i += 1
            if self._i < len(self._steps):
                self._start_step(at)
                continue
            if not self._in_loop and self._then != IDLE:
                queued = self._then
                resume = self.pattern if PATTERNS[self.pattern][1] else IDLE
                self.play(queued, at)
                self._resume = resume
            elif not self._in_loop:
                resume = self._resume
                if resume != IDLE and not self._in_loop and not PATTERNS[self.pattern][1]:
                    self.play(resume, at, False)  # back to the loop that the one-shot interrupted
                else:
                    self._in_loop = True
                    self._steps = PATTERNS[self.pattern][1]
                    self._i = 0
                    self._start_step(at)
            else:
                self._i = 0
                self._start_step(at)

    def next_deadline(self):  # -> int | None
        return self._step_end if self.pattern != IDLE else None
