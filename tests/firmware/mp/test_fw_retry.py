"""The retry schedule, table-driven."""

from firmware import retry

# attempt -> base delay before the next one
TABLE = ((1, 2000), (2, 3000), (3, 5000), (4, 10000), (5, 20000), (6, 30000), (7, 60000), (8, 60000), (50, 60000))


def test_delays_back_off_to_a_cap_with_bounded_jitter():
    for counter in (1, 2, 77, 0xFFFFFFFF):
        for attempt, base in TABLE:
            d = retry.delay_ms(retry.ALARM_DELAYS_MS, attempt, counter)
            assert base <= d < base + base * retry.JITTER_PCT // 100 + 1, (counter, attempt, d)


def test_jitter_differs_between_rings():
    ds = set()
    for counter in range(1, 50):
        ds.add(retry.delay_ms(retry.ALARM_DELAYS_MS, 1, counter))
    assert len(ds) > 30


def test_first_minute_has_at_least_six_copies():
    t = 0
    n = 1
    while True:
        t += retry.delay_ms(retry.ALARM_DELAYS_MS, n, 12345)
        if t > 60000:
            break
        n += 1
    assert n >= 6, n


# (max attempts, attempt just made, another follows)
MORE = ((retry.FOREVER, 1, True), (retry.FOREVER, 10000, True), (3, 2, True), (3, 3, False), (1, 1, False))


def test_more():
    for max_attempts, attempt, expected in MORE:
        assert retry.more(max_attempts, attempt) == expected
