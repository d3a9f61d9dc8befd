"""The uplink channel walk (firmware/channels.py) and the ledger's pick along it, on both runtimes."""

from firmware import channels
from firmware.airtime import UPLINK_CHANNELS, AirtimeLedger, sub_band, time_on_air_ms

TOA = time_on_air_ms(24, 9)
F868_1 = 868100000  # sub-band 2 (868.0-868.6 MHz)
F867_1 = 867100000  # sub-band 1 (865-868 MHz)

# (device id, round) -> the order. Pinned: the simulator's bulk path computes the same walk in numpy
# (simulator/idle_rings.py), so a change to the rule must be a deliberate change in both places.
ORDERS = (
    (1, 0, (1, 0, 3, 2, 7, 4, 6, 5)),
    (2, 0, (6, 5, 0, 2, 1, 7, 4, 3)),
    (1, 1, (1, 2, 7, 0, 6, 3, 5, 4)),
    (4242, 0, (5, 1, 0, 2, 7, 6, 4, 3)),
    (0xFFFFFFFF, 0x1FFFFFFF, (0, 1, 7, 3, 6, 4, 2, 5)),  # the last counter's round
    (123456, 4660, (4, 1, 5, 7, 3, 0, 6, 2)),
)


def test_orders_are_pinned():
    buf = bytearray(channels.N_CHANNELS)
    for device_id, rnd, want in ORDERS:
        channels.order(device_id, rnd, buf)
        assert tuple(buf) == want, (device_id, rnd, tuple(buf))


def test_every_round_is_a_permutation_and_rounds_differ():
    buf = bytearray(channels.N_CHANNELS)
    seen = set()
    for device_id in (0, 1, 2, 3, 1000, 65535, 65536, 0xFFFFFFFF):
        for rnd in (0, 1, 2, 3, 0xFFFF, 0x10000, 0x1FFFFFFF):
            channels.order(device_id, rnd, buf)
            assert sorted(buf) == list(range(channels.N_CHANNELS)), (device_id, rnd)
            seen.add(bytes(buf))
    assert len(seen) > 40  # 56 rounds: a shuffle that ignored its seed would give one order


def test_mix16_is_a_bijection_within_small_ints():
    # A bijection on 16 bits keeps the walk's seeds distinct; the multipliers keep every product below 2**30,
    # the small-int limit of a 32-bit MicroPython port, so the walk never allocates.
    seen = bytearray(1 << 13)
    for x in range(1 << 16):
        y = channels.mix16(x)
        assert 0 <= y <= 0xFFFF
        assert not seen[y >> 3] & (1 << (y & 7)), x
        seen[y >> 3] |= 1 << (y & 7)
    assert channels.MIX_MUL_A * 0xFFFF < 1 << 30 and channels.MIX_MUL_B * 0xFFFF < 1 << 30


def test_position_is_counter_plus_copy():
    for counter, attempt, want in ((1, 1, 1), (1, 2, 2), (8, 1, 8), (41, 7, 47)):
        assert channels.position(counter, attempt) == want


def _ledger(closed_band=-1, closed_ms=0, other_ms=0):
    """A ledger at t=0 with ``closed_band`` closed for ``closed_ms`` and the other 1 % band for ``other_ms``."""
    led = AirtimeLedger(0)
    rem = [0] * 6
    if closed_band >= 0:
        rem[closed_band] = closed_ms
        rem[3 - closed_band] = other_ms  # bands 1 and 2 hold the uplink channels
    led.restore(rem, 0)
    return led


# (closed band, its ms, the other band's ms, order, start) -> (channel index, wait). Index = UPLINK_CHANNELS.
ORDER = (3, 0, 6, 2, 7, 1, 4, 5)  # 867.3, 868.1, 867.7, 868.3, 867.9, 867.1, 868.5, 867.5 MHz
PICKS = (
    (-1, 0, 0, ORDER, 0, 3, 0),  # all open: the order's channel at the start
    (-1, 0, 0, ORDER, 1, 0, 0),
    (-1, 0, 0, ORDER, 9, 0, 0),  # the start is taken modulo the round
    (-1, 0, 0, None, 0, 0, 0),  # no order: the table as listed
    (2, 5000, 0, ORDER, 1, 6, 0),  # 868.1's band closed: on along the order to the next open, 867.7
    (2, 5000, 0, ORDER, 3, 7, 0),  # 868.3 closed: 867.9
    (2, 5000, 0, ORDER, 6, 5, 0),  # 868.5 closed: 867.5
    (1, 5000, 0, ORDER, 7, 0, 0),  # 867.5 closed, the order's last: round to its first (867.3, closed), then 868.1
    (1, 5000, 0, ORDER, 0, 0, 0),  # 867.3 closed: 868.1
    (1, 9000, 4000, ORDER, 0, 0, 4000),  # both closed: the band that opens first, its first channel in the order
    (2, 4000, 9000, ORDER, 2, 2, 4000),  # 867.7's band opens later: 868.3, next in the order
    (2, 4000, 4000, ORDER, 4, 7, 4000),  # a tie: the first in the order from the start
)


def test_pick_walks_the_order_past_closed_bands():
    for closed, ms, other, order, start, want, wait in PICKS:
        led = _ledger(closed, ms, other)
        freq, w = led.pick(UPLINK_CHANNELS, 0, start, order)
        got = UPLINK_CHANNELS.index(freq)
        assert (got, w) == (want, wait), (closed, ms, other, start, got, w)
        if w == 0:
            assert closed < 0 or sub_band(freq) != closed


def test_a_closed_band_is_never_picked_while_the_other_is_open():
    buf = bytearray(channels.N_CHANNELS)
    for band in (1, 2):
        for device_id in range(1, 40):
            channels.order(device_id, 0, buf)
            for start in range(channels.N_CHANNELS):
                led = _ledger(band, 20000, 0)
                freq, w = led.pick(UPLINK_CHANNELS, 0, start, buf)
                assert w == 0 and sub_band(freq) == 3 - band


def test_an_alarms_copies_alternate_bands_within_the_duty_cycle():
    # An SOS's copies 2-3 s apart: each 1 % band is closed 20.6 s after a copy, so the walk passes to the other.
    led = AirtimeLedger(0)
    buf = bytearray(channels.N_CHANNELS)
    t = 0
    last = {}
    for attempt in range(1, 9):
        pos = channels.position(17, attempt)
        channels.order(4242, pos // channels.N_CHANNELS, buf)
        freq, wait = led.pick(UPLINK_CHANNELS, t, pos % channels.N_CHANNELS, buf)
        t += wait
        band = sub_band(freq)
        if band in last:
            assert t - last[band] >= 100 * TOA - 1
        led.record(freq, TOA, t)
        last[band] = t
        t += 2500
