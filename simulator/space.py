"""Positions in metres around the scenario centre, and a grid index from places to the gateways near them.

A local equirectangular projection is exact enough over a city (the error over 10 km is under 0.1 %), and lets
the radio model work on plain x/y arrays.
"""

import math

import numpy as np

from simulator.radio import FloatArray, IntArray

EARTH_RADIUS_M = 6_371_000.0


class Projection:
    def __init__(self, lat0: float, lon0: float) -> None:
        self.lat0, self.lon0 = lat0, lon0
        self._kx = math.radians(1.0) * EARTH_RADIUS_M * math.cos(math.radians(lat0))
        self._ky = math.radians(1.0) * EARTH_RADIUS_M

    def to_xy(self, lat: float | FloatArray, lon: float | FloatArray) -> tuple[FloatArray, FloatArray]:
        x = (np.asarray(lon, dtype=np.float64) - self.lon0) * self._kx
        y = (np.asarray(lat, dtype=np.float64) - self.lat0) * self._ky
        return x, y

    def to_latlon(self, x: float | FloatArray, y: float | FloatArray) -> tuple[FloatArray, FloatArray]:
        lat = np.asarray(y, dtype=np.float64) / self._ky + self.lat0
        lon = np.asarray(x, dtype=np.float64) / self._kx + self.lon0
        return lat, lon


class GridIndex:
    """Gateways bucketed into square cells of ``cell_m`` (the longest range that matters).

    ``near(x, y)`` gives, for every query point at once, the indices of the gateways in its cell and the eight
    around it, padded with -1 to a fixed width: every gateway within ``cell_m`` is among them, and the radio model
    then works on a dense (points x K) array instead of points x all gateways.
    """

    def __init__(self, gx: FloatArray, gy: FloatArray, cell_m: float) -> None:
        self.gx, self.gy, self.cell = gx, gy, cell_m
        self.x0, self.y0 = float(np.min(gx)) - cell_m, float(np.min(gy)) - cell_m
        cx, cy = self._cell(gx, gy)
        self.nx = int(np.max(cx)) + 2
        self.ny = int(np.max(cy)) + 2
        buckets: dict[tuple[int, int], list[int]] = {}
        for i, (a, b) in enumerate(zip(cx.tolist(), cy.tolist(), strict=True)):
            buckets.setdefault((a, b), []).append(i)
        # Per cell: the gateways in its 3x3 neighbourhood.
        neigh: dict[tuple[int, int], list[int]] = {}
        for (a, b), members in buckets.items():
            for da in (-1, 0, 1):
                for db in (-1, 0, 1):
                    neigh.setdefault((a + da, b + db), []).extend(members)
        self.width = max((len(v) for v in neigh.values()), default=1)
        self._table = np.full((self.nx + 1, self.ny + 1, self.width), -1, dtype=np.int64)
        for (a, b), members in neigh.items():
            if 0 <= a <= self.nx and 0 <= b <= self.ny:
                self._table[a, b, : len(members)] = members

    def _cell(self, x: FloatArray, y: FloatArray) -> tuple[IntArray, IntArray]:
        cx = np.floor((np.asarray(x) - self.x0) / self.cell).astype(np.int64)
        cy = np.floor((np.asarray(y) - self.y0) / self.cell).astype(np.int64)
        return cx, cy

    def near(self, x: FloatArray, y: FloatArray) -> IntArray:
        cx, cy = self._cell(x, y)
        inside = (cx >= 0) & (cx <= self.nx) & (cy >= 0) & (cy <= self.ny)
        out = np.full((len(cx), self.width), -1, dtype=np.int64)
        out[inside] = self._table[cx[inside], cy[inside]]
        return out
