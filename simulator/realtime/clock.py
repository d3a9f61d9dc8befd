"""One clock for every timestamp of a real-time run: ms since the run started, on the monotonic clock.

The services stamp Unix ms (a gateway's ``rx_time_ms``, an incident's ``opened_ms``); they run on the same machine,
so their stamps convert with the offset read once at the start. A ring's FakeClock counts the same ms.
"""

import time


class WallClock:
    def __init__(self) -> None:
        self.mono0 = time.monotonic()
        self.unix0_ms = time.time() * 1000.0

    def ms(self) -> float:
        """ms since the run started."""
        return (time.monotonic() - self.mono0) * 1000.0

    def from_unix_ms(self, unix_ms: float) -> float:
        return unix_ms - self.unix0_ms

    def loop_time(self, at_ms: float) -> float:
        """The asyncio loop time of ``at_ms`` (the default loop runs on time.monotonic)."""
        return self.mono0 + at_ms / 1000.0
