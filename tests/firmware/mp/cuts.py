"""A power cut in the middle of a counter write, for the counter tests on both runtimes (test_fw_counter.py) and
the property tests (test_properties.py)."""

from firmware.fakes import PowerCut
from protocol.constants import COUNTER_BLOCK


def take_through_cut(storage, store, cut: int, issued: list) -> None:
    """Take counters from ``store`` into ``issued`` up to its next write to ``storage``, the power cut at byte
    ``cut`` of that write (a whole block's worth without one); the power is back after."""
    storage.cut_after(cut)
    try:
        for _ in range(COUNTER_BLOCK + 1):
            issued.append(store.take())
    except PowerCut:
        pass
    storage.cut_after(-1)
