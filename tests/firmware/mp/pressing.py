"""A press recogniser driven through a timeline of button edges, for the press tests on both runtimes
(test_fw_press.py) and the property tests (test_properties.py)."""

from firmware import press
from firmware.press import PressRecogniser


def drive(cfg, edges, until: int, by_deadline: bool = False) -> list:
    """Feed ``edges`` ((t, pressed) in time order) to a recogniser on ``cfg`` and poll it up to ``until``: every
    ms, or (``by_deadline``) only at each edge and each next_deadline, as the device does between its sleeps.
    The gestures as (t, gesture, word), the word "" but for press.WORD."""
    r = PressRecogniser(cfg)
    out = []
    i = 0
    t = 0
    while t <= until:
        while i < len(edges) and edges[i][0] <= t:
            r.feed(edges[i][1], edges[i][0])
            i += 1
        while True:
            g = r.poll(t)
            if g == press.NONE:
                break
            out.append((t, g, r.word if g == press.WORD else ""))
        if not by_deadline:
            t += 1
            continue
        d = r.next_deadline(t)
        nxt = edges[i][0] if i < len(edges) else until + 1
        if d is not None and d < nxt:
            nxt = max(d, t + 1)
        t = nxt
    return out
