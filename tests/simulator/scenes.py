"""Small scenarios for the tests, written as TOML like the shipped ones."""

SMALL = """
name = "test-small"
seed = 11
start = "2026-11-20T23:00:00+01:00"
duration_h = {hours}

[area]
centre = [52.1601, 4.4970]
radius_m = 1500

[[area.districts]]
name = "Binnenstad"
centre = [52.1590, 4.4900]
radius_m = 600
share = 1.0

[[area.destinations]]
name = "Breestraat"
centre = [52.1595, 4.4905]
radius_m = 150

[[gateways]]
id = "gw-centraal"
position = [52.1664, 4.4817]
radios = ["lora", "ble"]

[[gateways]]
id = "gw-stadhuis"
position = [52.1585, 4.4906]
radios = ["lora", "ble"]

[[gateways]]
id = "ble-nieuwe-rijn"
position = [52.1597, 4.4915]
radios = ["ble"]

[rings]
count = {rings}
exact = "{exact}"

[rings.out]
share = 0.8
start_h = [22.0, 23.0]
hours = [3.0, 4.0]

[alarms]
sos_per_hour = {sos}
escort_per_hour = 1
false_share = 0.3
cancel_after_s = [5, 20]

[[responders]]
id = "ehbo-centrum"
position = [52.1600, 4.4950]
skills = ["first_aid", "patrol"]

[[responders]]
id = "patrol-noord"
position = [52.1640, 4.4850]
skills = ["patrol", "first_aid"]

[behaviour]
accept_s = [5, 20]
accept_share = 1.0
on_scene_min = 10
{extra}
"""


def small(rings: int = 200, hours: float = 1.0, sos: float = 4.0, exact: str = "all", extra: str = "") -> str:
    return SMALL.format(rings=rings, hours=hours, sos=sos, exact=exact, extra=extra)
