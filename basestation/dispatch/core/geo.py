"""Where a frame came from, estimated from the gateways that heard it (pure).

Each gateway's RSSI gives a rough distance through the log-distance path-loss model; the estimate is the centroid
of the gateway positions weighted by 1/d^2, and its uncertainty radius grows with the distances and with how
far apart the gateways are. One gateway can only say "within this range of me". The constants are conservative
urban values (path-loss exponent 2.7 for LoRa, 2.5 for BLE at body height); the simulator's radio model uses the
same equation, so docs/simulator.md cites their sources.
"""

import math
from dataclasses import dataclass

EARTH_RADIUS_M = 6_371_000.0

# Received power at 1 m and path-loss exponent, per radio: d = 10 ** ((P1m - rssi) / (10 * n)).
PATH_LOSS = {"ble": (-59.0, 2.5), "lora": (-30.0, 2.7)}
DEFAULT_RANGE_M = {"ble": 60.0, "lora": 1500.0}
MIN_RADIUS_M = 15.0
MAX_RANGE_M = {"ble": 150.0, "lora": 5000.0}


@dataclass(frozen=True, slots=True)
class Estimate:
    lat: float
    lon: float
    radius_m: float
    gateways: int


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def range_from_rssi(radio: str, rssi: float | None) -> float:
    if rssi is None:
        return DEFAULT_RANGE_M.get(radio, 1500.0)
    p1m, n = PATH_LOSS.get(radio, PATH_LOSS["lora"])
    return min(MAX_RANGE_M.get(radio, 5000.0), max(1.0, 10 ** ((p1m - rssi) / (10 * n))))


def locate(heard: list[tuple[float, float, str, float | None]]) -> Estimate | None:
    """``heard`` holds (lat, lon, radio, rssi) per gateway; None when no gateway has a position."""
    if not heard:
        return None
    # Plain loops, two passes: it runs for every copy of every alarm, and the sums over generator expressions it
    # was written with took 8 us for three gateways, compiled.
    ranges: list[float] = []
    total = lat = lon = 0.0
    for g_lat, g_lon, radio, rssi in heard:
        d = range_from_rssi(radio, rssi)
        w = 1.0 / (d * d)
        ranges.append(d)
        total += w
        lat += w * g_lat
        lon += w * g_lon
    lat /= total
    lon /= total
    if len(heard) == 1:
        radius = ranges[0]
    else:
        # The wearer is within each gateway's range of it; the weighted spread of those circles around the
        # centroid bounds where they overlap.
        spread = 0.0
        nearest = shortest = math.inf
        for i, (g_lat, g_lon, _, _) in enumerate(heard):
            d = ranges[i]
            away = distance_m(lat, lon, g_lat, g_lon)
            spread += 1.0 / (d * d) * (away + d)
            nearest = min(nearest, away)
            shortest = min(shortest, d)
        radius = min(spread / total, shortest + nearest)
    return Estimate(lat, lon, max(MIN_RADIUS_M, radius), len(heard))
