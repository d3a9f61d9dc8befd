"""Lives the model's soak found broken, replayed step by step: each stays fixed (docs/lifecycle.md, "The model")."""

from typing import Any

from tests.lifecycle.model import AlarmLife

Step = tuple[str, dict[str, Any]]


def _live(setup: dict[str, Any], steps: list[Step]) -> None:
    life = AlarmLife()

    def invariants() -> None:
        life.a_quiet_ring_stays_quiet()
        life.every_press_reaches_a_person()
        life.help_on_the_way_is_true()
        life.nobody_can_come_is_told()

    life.setup(**setup)
    invariants()
    try:
        for name, args in steps:
            getattr(life, name)(**args)
            invariants()
    finally:
        life.teardown()


def test_a_copy_whose_bytes_were_heard_long_before_is_a_recording_even_when_its_press_time_fits() -> None:
    # The first copy of counter 1359 dispatch heard was itself delivered 30 s late, so the press time taken from
    # it was 30 s late too. A retry of it, delivered 16 s late over BLE and then the same bytes 25 s late over
    # LoRa, put the press within 5 s of that: answered, a recording spent airtime and ACK number 0 (invariant h).
    # Bytes heard again long after they were first heard are a recording, whatever the press time says.
    gw = "gw-breestraat"
    _live(
        dict(start=1_774_741_200_000, counter_start=1357, shifts=[None, None, None], on_duty=[False, False, False]),
        [
            ("ask_to_be_walked_home", {}),
            ("uplink_lost", dict(i=0)),
            ("press_sos", {}),
            ("wait", dict(ms=31000)),
            ("uplink_heard", dict(gw=gw, i=1, keep=True, rssi=-60)),
            ("downlink_heard", dict(i=0, keep=False)),
            ("cancel", dict(duress=False)),
            ("ask_to_be_walked_home", {}),
            ("responder", dict(act="accept", eta=0, i=0, rid="r-pieters")),
            ("uplink_lost", dict(i=0)),
            ("uplink_heard", dict(gw=gw, i=26, keep=False, rssi=-60)),
            ("press_sos", {}),
            ("uplink_heard", dict(gw=gw, i=45, keep=True, rssi=-60)),
            ("press_sos", {}),
            ("uplink_lost", dict(i=0)),
            ("press_sos", {}),
            ("press_sos", {}),
            ("press_sos", {}),
            ("uplink_heard", dict(gw=gw, i=6, keep=False, rssi=-60)),
        ],
    )


def test_a_restart_keeps_the_earliest_press_time_and_when_each_copy_was_first_heard() -> None:
    # The first copy of the SOS dispatch heard was a retry delivered late, so the press time taken from it was late
    # too. A restart then forgot which bytes had been heard when, and the recording of that first copy, played back
    # 31 s later, put the press within 5 s of that late time: answered, a recording spent airtime (invariant h).
    # The earliest press time any authentic copy gives and the first receive time of each copy survive a restart.
    gw = "gw-breestraat"
    _live(
        dict(start=1_774_741_200_000, counter_start=1, shifts=[None, None, None], on_duty=[False, False, False]),
        [
            ("ask_to_be_walked_home", {}),
            ("uplink_lost", dict(i=0)),
            ("wait", dict(ms=185000)),
            ("press_sos", {}),
            ("uplink_heard", dict(gw=gw, i=8, keep=True, rssi=-60)),
            ("uplink_heard", dict(gw=gw, i=10, keep=False, rssi=-60)),
            ("restart", {}),
            ("uplink_lost", dict(i=0)),
            ("uplink_lost", dict(i=0)),
            ("wait", dict(ms=31000)),
            ("uplink_heard", dict(gw=gw, i=48, keep=False, rssi=-60)),
        ],
    )
