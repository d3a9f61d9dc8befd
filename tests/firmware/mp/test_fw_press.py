"""Press patterns, table-driven. Runs under pytest (CPython) and under MicroPython through mprun."""

from firmware import press
from firmware.press import PressConfig, PressRecogniser
from tests.firmware.mp.pressing import drive

CFG = PressConfig()  # debounce 30, click_max 600, gap 700, arm 1000, hold 2000


def gestures(edges, until: int, by_deadline: bool = False) -> list:
    """The gestures of ``edges`` (t, pressed) polled up to ``until`` (see pressing.drive), with their times."""
    out = []
    for t, g, w in drive(CFG, edges, until, by_deadline):
        out.append((t, "word " + w if g == press.WORD else ("hold" if g == press.HOLD else "arming")))
    return out


def presses(*spans) -> list:
    edges = []
    for down, up in spans:
        edges.append((down, True))
        edges.append((up, False))
    return edges


# (name, edges, until, expected gestures with times)
TABLE = (
    ("hold fires while held", presses((100, 5000)), 6000, [(1100, "arming"), (2100, "hold")]),
    ("hold fires once", presses((0, 9000)), 10000, [(1000, "arming"), (2000, "hold")]),
    ("just short of hold is a long word", presses((0, 1999)), 4000, [(1000, "arming"), (2029, "word L")]),
    ("single click", presses((0, 150)), 2000, [(180 + 670, "word S")]),
    ("triple click", presses((0, 100), (300, 400), (600, 700)), 3000, [(1400, "word SSS")]),
    (
        "short short long ends at the long release",
        presses((0, 100), (300, 400), (600, 1500)),
        4000,
        [(1530, "word SSL")],
    ),
    (
        "a gap longer than gap_ms splits words",
        presses((0, 100), (1000, 1100)),
        3000,
        [(800, "word S"), (1800, "word S")],
    ),
    ("knock shorter than debounce is ignored", presses((0, 10)), 2000, []),
    (
        "bounce on release does not split a press",
        [(0, True), (100, False), (110, True), (200, False)],
        2000,
        [(900, "word S")],
    ),
    (
        "bounce during a hold does not restart it",
        [(0, True), (1500, False), (1510, True), (2500, False)],
        3000,
        [(1000, "arming"), (2000, "hold")],
    ),
    (
        "clicks before a hold are dropped for the hold",
        presses((0, 100), (300, 400), (600, 3000)),
        4000,
        [(1600, "arming"), (2600, "hold")],
    ),
    ("more than max_presses is fumbling", presses(*[(i * 200, i * 200 + 100) for i in range(9)]), 4000, []),
    (
        "eight presses is still a word",
        presses(*[(i * 200, i * 200 + 100) for i in range(8)]),
        4000,
        [(2200, "word SSSSSSSS")],
    ),
)


def test_table():
    for name, edges, until, expected in TABLE:
        got = gestures(edges, until)
        assert got == expected, name + ": " + repr(got)


def test_next_deadline_is_when_poll_reports():
    # Sleeping until next_deadline and polling then gives the same gestures as polling every ms.
    for name, edges, until, expected in TABLE:
        got = gestures(edges, until, by_deadline=True)
        assert got == expected, name + " (deadline-driven): " + repr(got)


def test_idle_only_when_nothing_pending():
    r = PressRecogniser(CFG)
    assert r.idle()
    r.feed(True, 0)
    assert not r.idle()
    r.feed(False, 100)
    r.poll(200)
    assert not r.idle()  # a word may continue
    r.poll(900)
    assert r.idle()


def test_wraps_with_ticks():
    # Times just below the ESP32 ticks wrap (2**30) and past it behave as anywhere else.
    from firmware.ticks import ticks_add

    base = (1 << 30) - 1500
    r = PressRecogniser(CFG)
    r.feed(True, base)
    assert r.poll(ticks_add(base, 999)) == press.NONE
    assert r.poll(ticks_add(base, 1000)) == press.ARMING
    assert r.poll(ticks_add(base, 1999)) == press.NONE
    assert r.poll(ticks_add(base, 2000)) == press.HOLD


def test_config_rejects_impossible_timings():
    for kwargs in ({"debounce_ms": 700}, {"arm_ms": 2500}, {"click_max_ms": 2500}, {"gap_ms": 10}):
        try:
            PressConfig(**kwargs)
        except ValueError:
            continue
        raise AssertionError("accepted " + repr(kwargs))
