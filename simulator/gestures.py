"""The wearer's hand as button edges: an SOS hold, or a word of short presses (escort, cancel).

Shared by the virtual-time engine and the real-time mode, so both press the same way.
"""

SOS_HOLD_MS = 2600  # the wearer holds past the firmware's 2 s hold_ms
CLICK_MS, CLICK_GAP_MS = 150, 300  # one short press of a word, and the pause before the next
WORD_PRESSES = 3  # escort and cancel are both three short presses (firmware DEFAULTS)


def presses(hold: bool, t: float) -> list[tuple[float, float]]:
    """(down, up) times of one gesture starting at ``t``: a hold, or a word."""
    if hold:
        return [(t, t + SOS_HOLD_MS)]
    step = CLICK_MS + CLICK_GAP_MS
    return [(t + k * step, t + k * step + CLICK_MS) for k in range(WORD_PRESSES)]
