"""Which uplink channel each LoRa transmission uses (docs/keyring.md, "Alarm transmission").

LoRaWAN's rule for dynamic-plan regions such as EU868 (Regional Parameters RP002-1.0.5 section 3.3, and the
LoRa Alliance's TR007 "Developing LoRaWAN Devices" section 4.7, "Avoiding synchronous behavior"): choose transmit
channels pseudo-randomly, so that every enabled channel whose sub-band is not duty-cycle restricted is used once
before any is used again, and so that devices do not share one sequence.

The ring walks a pseudo-random order of the eight channels. The position in the walk is the frame counter plus
the copy number (``counter + attempt - 1``): the counter is in flash and survives deep sleep, a power cut and a
reboot, so no RTC state is needed, and consecutive heartbeats (one new counter each) use each of the eight channels
once in every aligned run of eight counters. The order is shuffled afresh for each run of eight and seeded by the
device id, so two rings whose counters run side by side do not hop in step. (An alarm's copies walk on from its
counter, so a cancel right after it may repeat a channel of the alarm's within eight transmissions.) A channel
whose sub-band is closed is passed over for the next one in the order that is open (the ledger's ``pick``).
Before this, each wake from deep sleep restarted the search at the first channel, and every idle ring's heartbeat
went out on 868.1 MHz (docs/simulator.md, finding 9).

The simulator's bulk path computes the same order in numpy (simulator/idle_rings.py); a test holds them equal, so a
change here must be made there too.

All arithmetic stays on 16-bit values with multipliers below 2**14, so every intermediate is a small int on a 32-bit
MicroPython port (below 2**30): nothing here allocates, and ``order`` fills a buffer the caller owns.
"""

from firmware.const import const

N_CHANNELS = const(8)  # len(airtime.UPLINK_CHANNELS); the walk is in rounds of this many positions
_MASK = const(0xFFFF)
# Odd multipliers below 2**14: a 16-bit value times one stays a small int on a 32-bit port.
MIX_MUL_A = const(0x3A5B)
MIX_MUL_B = const(0x2E6D)


def mix16(x: int) -> int:
    """A bijection on 16 bits that spreads every input bit over the output (xorshift-multiply rounds)."""
    x &= _MASK
    x = ((x ^ (x >> 7)) * MIX_MUL_A) & _MASK
    x = ((x ^ (x >> 9)) * MIX_MUL_B) & _MASK
    return x ^ (x >> 8)


def round_seed(device_id: int, rnd: int) -> int:
    """The 16-bit seed of round ``rnd`` (positions ``8 * rnd`` to ``8 * rnd + 7``) of device ``device_id``."""
    s = mix16(device_id & _MASK)
    s = mix16(s ^ ((device_id >> 16) & _MASK))
    s = mix16(s ^ (rnd & _MASK))
    return mix16(s ^ ((rnd >> 16) & _MASK))


def order(device_id: int, rnd: int, out) -> None:
    """Fill ``out`` (8 bytes) with round ``rnd``'s order of channel indices: a Fisher-Yates shuffle of 0..7."""
    for i in range(N_CHANNELS):
        out[i] = i
    s = round_seed(device_id, rnd)
    i = N_CHANNELS - 1
    while i > 0:
        s = mix16(s + i)
        j = (s >> 4) % (i + 1)  # the high bits: a multiply leaves the low ones weakly mixed
        out[i], out[j] = out[j], out[i]
        i -= 1


def position(counter: int, attempt: int) -> int:
    """Where copy ``attempt`` (1 = the first) of ``counter`` stands in the walk."""
    return counter + attempt - 1
