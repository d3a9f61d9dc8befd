"""When each copy of an uplink goes out (docs/keyring.md, "Alarm transmission").

Every attempt is a BLE burst plus a LoRa uplink (when the duty-cycle ledger lets one out), all carrying the
same counter. Alarms retry until a verified ACK arrives or the wearer cancels: fast at first, when a gateway
or a responder's phone is most likely to be in range and seconds matter, then backing off to a steady cap so
a ring out of coverage still calls for hours without flattening its cell in minutes.

Each delay is stretched by up to ``JITTER_PCT`` percent, drawn from the counter, so rings set off by one event
(a fight, a crowd) do not retry in lockstep and collide on air.
"""

from firmware.const import const

# Delay before attempt n+1, in ms, for n = 1, 2, ...; the last entry repeats.
ALARM_DELAYS_MS = (2000, 3000, 5000, 10000, 20000, 30000, 60000)
# A CANCEL/DURESS/TEST matters less than the alarm but must still arrive: same shape, fewer attempts.
CANCEL_DELAYS_MS = ALARM_DELAYS_MS
JITTER_PCT = const(10)

FOREVER = const(0)
ALARM_ATTEMPTS = FOREVER
CANCEL_ATTEMPTS = const(20)  # about 15 minutes of trying
TEST_ATTEMPTS = const(3)
HEARTBEAT_ATTEMPTS = const(1)


def jitter(counter: int, attempt: int, delay_ms: int) -> int:
    # A small integer hash (Knuth's multiplicative constant): cheap, no allocation, differs per ring and try.
    h = ((counter * 2654435761) ^ (attempt * 40503)) & 0xFFFF
    return delay_ms * JITTER_PCT * h // (100 * 0x10000)


def delay_ms(delays, attempt: int, counter: int) -> int:
    """ms from attempt ``attempt`` (1 = the first copy) to the next."""
    base = delays[min(attempt, len(delays)) - 1]
    return base + jitter(counter, attempt, base)


def more(max_attempts: int, attempt: int) -> bool:
    """Whether another attempt follows attempt ``attempt``."""
    return max_attempts == FOREVER or attempt < max_attempts
