"""The wearer's hand as button edges: an SOS hold, or a word of short and long presses (escort, cancel, duress).

The words are the ring's own (``cfg.escort_word``, ``cfg.cancel_word``, ``cfg.duress_word``): the firmware's press
recogniser decides what a word means in the state the ring is in, so a cancel word pressed after the alarm ended
is an escort request, as it would be on a real ring. Shared by the virtual-time engine and the real-time mode, so
both press the same way.
"""

from typing import Any

SOS_HOLD_MS = 2600  # the wearer holds past the firmware's 2 s hold_ms
CLICK_MS, CLICK_GAP_MS = 150, 300  # one short press of a word, and the pause before the next
# A long press: past the recogniser's click_max_ms (600 ms), short of arm_ms (1000 ms), so it never ticks "arming".
LONG_MS = 900
WORD_PRESSES = 3  # escort and cancel are both three short presses (firmware DEFAULTS)
WORD_OF = {"escort": "escort_word", "cancel": "cancel_word", "duress": "duress_word"}


def word_presses(word: str, t: float) -> list[tuple[float, float]]:
    """(down, up) times of the presses of ``word`` ("SSS", "SSL") starting at ``t``."""
    out = []
    for c in word:
        up = t + (LONG_MS if c == "L" else CLICK_MS)
        out.append((t, up))
        t = up + CLICK_GAP_MS
    return out


def presses(hold: bool, t: float) -> list[tuple[float, float]]:
    """(down, up) times of one gesture starting at ``t``: a hold, or three short presses."""
    return [(t, t + SOS_HOLD_MS)] if hold else word_presses("S" * WORD_PRESSES, t)


def gesture(kind: str, cfg: Any, t: float) -> list[tuple[float, float]]:
    """(down, up) times of ``kind`` (sos, escort, cancel, duress) as the ring configured by ``cfg`` reads it."""
    if kind == "sos":
        return [(t, t + SOS_HOLD_MS)]
    return word_presses(str(getattr(cfg, WORD_OF[kind])), t)
