"""The replay attacker: records every frame within its range and sends each again after each delay."""

import numpy as np

from firmware.airtime import UPLINK_CHANNELS
from simulator.bulk import TOA_BY_SF
from simulator.engine_api import EngineAPI
from simulator.on_air import ATTACKER_RING, Tx


class Attacker:
    def __init__(self, engine: EngineAPI) -> None:
        self.e = engine
        self.recorded: list[tuple[float, int, bytes]] = []  # (time, ring or -1, frame)
        self._recorded_set: set[bytes] = set()
        self._sf: dict[bytes, int] = {}  # a frame is replayed at the SF it was heard at

    def record_sf(self, frame: bytes, sf: int) -> None:
        if frame in self._recorded_set:
            self._sf.setdefault(frame, sf)

    def record(self, t: float, x: float, y: float, frame: bytes) -> None:
        e = self.e
        at = e.sc.attacker
        if at is None or frame in self._recorded_set:
            return
        ax, ay = e.world.proj.to_xy(at.lat, at.lon)
        if float(np.hypot(x - ax, y - ay)) > at.listen_range_m:
            return
        self._recorded_set.add(frame)
        self.recorded.append((t, e.exact.frame_ring.get(frame, -1), frame))
        for delay in at.replay_after_s:
            e.push(t + delay * 1000, "replay", (frame,))

    def replay(self, frame: bytes) -> None:
        e = self.e
        at = e.sc.attacker
        assert at is not None
        ax, ay = e.world.proj.to_xy(at.lat, at.lon)
        chan = int(e.rng.integers(0, len(UPLINK_CHANNELS)))
        e.counters.replays_sent += 1
        sf = self._sf.get(frame, e.link.sf)
        tx = Tx(
            e.now,
            e.now + float(TOA_BY_SF[sf]),
            chan,
            float(ax),
            float(ay),
            ATTACKER_RING,
            0.0,
            frame,
            UPLINK_CHANNELS[chan],
            at.tx_dbm,
            "replay",
            sf,
        )
        e.lora.on_air(tx)
