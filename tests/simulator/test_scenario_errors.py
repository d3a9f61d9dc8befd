"""Bad scenarios caught by the pydantic models of simulator/scenario_file.py: each error names the file and the
field, in the words of the checks written by hand before them, and every mistake of a file is listed."""

import pytest

from simulator.scenario import ScenarioError, parse
from tests.simulator.scenes import small

GATEWAY = 'id = "gw-centraal"'


@pytest.mark.parametrize(
    ("change", "message"),
    [
        # out of range, not one of the choices, missing, unknown, not TOML
        (("count = 200", "count = -5"), "rings.count: -5 is outside"),
        (("count = 200", "count = 2.5"), "rings.count: expected an integer"),
        (('radios = ["lora", "ble"]', 'radios = ["wifi"]'), "gateways[0].radios: 'wifi' is not one of"),
        (("position = [52.1664, 4.4817]", "position = [152.0, 4.4817]"), "gateways[0].position"),
        (('exact = "all"', 'exact = "some"'), "rings.exact: 'some' is not one of"),
        (("sos_per_hour = 4", "sos_per_hour = 4\nsos_per_hr = 3"), "alarms: unknown key(s) sos_per_hr"),
        (('start = "2026-11-20T23:00:00+01:00"', 'start = "2026-11-20T23:00:00"'), "start: give the UTC offset"),
        (("[rings]", "[rings]\n[rings]"), "not valid TOML"),
        (('name = "test-small"', ""), "name: missing"),
        (('exact = "all"', 'exact = "all"\nsf = 13'), "rings.sf: expected a spreading factor 7..12"),
        (('exact = "all"', 'exact = "all"\nsf = [7, 7]'), "rings.sf: each spreading factor once"),
        (('exact = "all"', 'exact = "all"\nsf = [7, 9]\nsf_share = [1]'), "rings.sf_share: expected 2"),
        (('exact = "all"', 'exact = "alarm"\nheartbeat_min = 30'), 'rings.heartbeat_min: below 60 needs exact = "all"'),
        (("[rings.out]", "[rings.battery]\npercent = [50, 20]\n[rings.out]"), "rings.battery.percent: expected"),
        # strict: no bool for a number, no text for a number, no rounding, no infinity
        (("count = 200", "count = true"), "rings.count: expected an integer, got True"),
        (("seed = 11", 'seed = "eleven"'), "seed: expected an integer, got 'eleven'"),
        (("radius_m = 1500", 'radius_m = "big"'), "area.radius_m: expected a number, got 'big'"),
        (("accept_share = 1.0", "accept_share = inf"), "behaviour.accept_share: expected a number, got inf"),
        (("on_scene_min = 10", "on_scene_min = 601"), "behaviour.on_scene_min: 601 is outside 0..600"),
        (("accept_s = [5, 20]", "accept_s = [5, 20, 30]"), "behaviour.accept_s: expected at most 2 item(s)"),
        (("accept_s = [5, 20]", "accept_s = 5"), "behaviour.accept_s: expected a list ([...]), got 5"),
        (('skills = ["first_aid", "patrol"]', 'skills = ["medic"]'), "responders[0].skills: 'medic' is not one of"),
        (("[rings.out]", "[rings.out]\nshare = 1.5\n[rings.battery]"), "rings.out.share: 1.5 is outside 0..1"),
        ((GATEWAY, f'{GATEWAY}\ncolour = "red"'), "gateways[0]: unknown key(s) colour"),
        (('name = "test-small"', 'name = "test-small"\nnmae = "x"'), "top level: unknown key(s) nmae"),
        (('id = "gw-stadhuis"', 'id = "gw-centraal"'), "gateways: ids must be unique"),
        (("[rings]\ncount = 200", "[ring]\ncount = 200"), "top level: unknown key(s) ring"),
        (("[rings]", "[rings]\nsf_share = [1]\nsf = [7, 9]"), "rings.sf_share: expected 2 non-negative numbers"),
    ],
)
def test_bad_values_name_the_file_and_field(change: tuple[str, str], message: str) -> None:
    text = small(sos=4).replace(*change, 1)
    assert text != small(sos=4)
    with pytest.raises(ScenarioError) as err:
        parse(text, "bad.toml")
    assert message in str(err.value)
    assert all(line.startswith("bad.toml: ") for line in str(err.value).splitlines())


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            "[broker]\noutages = [{ start_h = 0.5, end_h = 9 }]",
            "broker.outages[0].end_h: 9 is outside 0..1 (duration_h)",
        ),
        ("[attacker]\nposition = [52.16, 4.49]\nreplay_after_s = []", "attacker.replay_after_s: expected a list of"),
        ("[attacker]\nreplay_after_s = [30]", "attacker.position: missing"),
        ("[latency]\npush = [100, 50]", "latency.push: p95 must be at least the median"),
        ("[latency]\npsuh = [100, 150]", "latency: unknown key(s) psuh"),
        ("[radio]\nscan_window_ms = 90", "radio.scan_window_ms: longer than scan_interval_ms"),
        ('[gateway_grid]\nradios = ["lora"]', "gateway_grid.spacing_m: missing"),
        ("[[alarms.bursts]]\nstart_h = 0.5\ncentre = [52.16, 4.49]\nsos = 0", "alarms.bursts[0].sos: 0 is outside"),
        ("[[alarms.bursts]]\nstart_h = 2\ncentre = [52.16, 4.49]\nsos = 5", "alarms.bursts[0].start_h: 2 is outside"),
    ],
)
def test_bad_tables_name_the_file_and_field(extra: str, message: str) -> None:
    with pytest.raises(ScenarioError) as err:
        parse(small(sos=4, extra=extra), "bad.toml")
    assert message in str(err.value)


def test_every_mistake_of_a_file_is_listed() -> None:
    text = small(sos=4).replace("count = 200", "count = -5").replace('exact = "all"', 'exact = "some"')
    text = text.replace("accept_share = 1.0", "accept_share = 2")
    with pytest.raises(ScenarioError) as err:
        parse(text, "bad.toml")
    lines = str(err.value).splitlines()
    assert lines == [
        "bad.toml: rings.count: -5 is outside 1..10000000",
        "bad.toml: rings.exact: 'some' is not one of 'alarm' or 'all'",
        "bad.toml: behaviour.accept_share: 2 is outside 0..1",
    ]


def test_a_start_written_as_a_toml_date_time_is_read_as_one() -> None:
    quoted = parse(small(), "s.toml")
    bare = parse(small().replace('start = "2026-11-20T23:00:00+01:00"', "start = 2026-11-20T23:00:00+01:00"), "s.toml")
    assert bare.start == quoted.start and bare.utc_offset_min == 60
