"""The server's replay window: each counter of a device is accepted once (SPEC 8)."""

from protocol.constants import REASON_REPLAY, REASON_TOO_OLD, REPLAY_WINDOW

ACCEPT = "accept"


class ReplayWindow:
    """Highest accepted counter plus a bitmap of the ``size`` counters at and below it.

    Counters above the highest are always new. Inside the window, the bitmap says whether a counter was
    already accepted, which lets a late copy heard through a slow gateway still count once. Below the window
    the server cannot know, so the frame is refused as too old: accepting it could accept it twice.
    """

    __slots__ = ("bitmap", "highest", "size")

    def __init__(self, highest: int = 0, bitmap: int = 0, size: int = REPLAY_WINDOW) -> None:
        self.highest = highest
        # Bit i (value 2**i) set: counter highest - i was accepted, so bit 0 is ``highest`` itself and a new highest
        # shifts the map left. highest 50, bitmap 0b1011: 50, 49 and 47 were accepted, 48 not yet (SPEC 8).
        self.bitmap = bitmap
        self.size = size

    def check(self, counter: int) -> str:
        """What ``accept`` would answer, without changing anything."""
        if counter > self.highest:
            return ACCEPT
        offset = self.highest - counter
        if offset >= self.size:
            return REASON_TOO_OLD
        if (self.bitmap >> offset) & 1:
            return REASON_REPLAY
        return ACCEPT

    def accept(self, counter: int) -> str:
        verdict = self.check(counter)
        if verdict != ACCEPT:
            return verdict
        if counter > self.highest:
            shift = counter - self.highest
            mask = (1 << self.size) - 1
            self.bitmap = ((self.bitmap << shift) | 1) & mask if shift < self.size else 1
            self.highest = counter
        else:
            self.bitmap |= 1 << (self.highest - counter)
        return ACCEPT
