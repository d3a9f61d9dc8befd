"""The MQTT benchmark's smallest run: every client receives every queued message and acknowledges each after
handling it, so that its session reconnecting right after gets nothing again."""

import pytest

from bench import mqtt_bench
from harness.mosquitto import mosquitto_binary

pytestmark = pytest.mark.skipif(mosquitto_binary() is None, reason="the MQTT benchmark needs Mosquitto")

N = 300


def test_each_client_takes_and_acknowledges_every_message() -> None:
    figures, raw = mqtt_bench.measure(N, rounds=1)
    runs = raw["runs"]
    assert isinstance(runs, dict)
    for kind in mqtt_bench.KINDS:
        (run,) = runs[kind]
        assert run["received"] == N
        assert run["left_in_session"] == 0
        assert 0 < figures[f"{kind}_cpu_us_per_msg"] < 10_000
        assert figures[f"{kind}_msg_per_s"] > 0
    # Ratios to the link measured in the same run, and the link's own compiled code measured, not an old build.
    assert figures["paho_cpu_x_link"] > 0 and figures["gmqtt_cpu_x_link"] > 0
    assert runs["link"][0]["stale"] == []
