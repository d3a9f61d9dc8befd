"""Timelines for the host runner: what happens to one key ring, and when.

Inline form: comma-separated ``EVENT@MS``, e.g. ``down@1000,up@3500,ack-received@5200,end@120000``.
A file holds the same items separated by commas, spaces or new lines, with ``#`` comments. Events:

- ``down``, ``up``: the button; ``press-D``: down now and up D ms later (file or inline).
- ``ack-received``, ``ack-help``, ``ack-cancelled``, ``ack-closed``, ``ack-unavailable``: a real ACK for the
  ring's current uplink, encoded with its key and put on air for the fake LoRa modem; ``ack-forged``: the same
  with a broken MIC.
- ``battery-N``: the cell now reads N percent (0..100).
- ``powercut``: all power lost and back at once (RAM and RTC memory gone, flash kept).
- ``end``: stop here (default: 60 s after the last event).
"""

KINDS = (
    "down",
    "up",
    "press",
    "ack-received",
    "ack-help",
    "ack-cancelled",
    "ack-closed",
    "ack-unavailable",
    "ack-forged",
    "battery",
    "powercut",
    "end",
)


class TimelineError(ValueError):
    pass


def parse(spec: str) -> list:
    """Events as ``(ms, name, arg)``, in time order (input order within one ms)."""
    out = []
    n = 0
    for raw in spec.replace("\r", "").split("\n"):
        line = raw.split("#", 1)[0]
        for item in line.replace(",", " ").split():
            if "@" not in item:
                raise TimelineError("expected EVENT@MS, got " + repr(item))
            name, _, ms_text = item.partition("@")
            try:
                ms = int(ms_text)
            except ValueError:
                raise TimelineError("bad time in " + repr(item)) from None
            if ms < 0:
                raise TimelineError("negative time in " + repr(item))
            arg = 0
            if name.startswith("battery-") or name.startswith("press-"):
                name, _, arg_text = name.partition("-")
                try:
                    arg = int(arg_text)
                except ValueError:
                    raise TimelineError("bad number in " + repr(item)) from None
                if name == "battery" and not 0 <= arg <= 100:
                    raise TimelineError("battery is 0..100 percent: " + repr(item))
            if name not in KINDS:
                raise TimelineError("unknown event " + repr(name))
            if name == "press":
                out.append((ms, n, "down", 0))
                out.append((ms + arg, n + 1, "up", 0))
                n += 2
            else:
                out.append((ms, n, name, arg))
                n += 1
    out.sort()
    events = [(ms, name, arg) for ms, _n, name, arg in out]
    if not events or events[-1][1] != "end":
        last = events[-1][0] if events else 0
        events.append((last + 60000, "end", 0))
    # Nothing after the first end.
    for i in range(len(events)):
        if events[i][1] == "end":
            return events[: i + 1]
    return events


def load(spec: str) -> list:
    """``spec`` is a file path when such a file exists, else the inline form."""
    try:
        with open(spec) as f:
            text = f.read()
    except OSError:
        text = spec
    return parse(text)
