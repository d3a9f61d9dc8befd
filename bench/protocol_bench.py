"""Resolver at city-and-beyond scale: 100k devices, the cost to resolve and verify one frame, and memory.

Every time is also stated as a ratio to the irreducible cost measured in the same run: one AES-CMAC check of a
frame with a pre-keyed context (what a server that already knew device and counter would still pay).
"""

import os
import random
import time
from pathlib import Path

from basestation.pseudonyms.resolver import Resolver, search_key
from bench.common import per_call_us, settle
from protocol import uplink
from protocol.constants import EVENT_HEARTBEAT, EVENT_SOS, LOOKAHEAD, RECOVERY_HORIZON
from protocol.keys import DeviceKeys

DEVICES = 100_000


def run(results_dir: Path, devices: int = DEVICES) -> tuple[dict[str, float], dict[str, object]]:
    rng = random.Random(7)
    roots = [rng.randbytes(16) for _ in range(devices)]

    before = settle()
    t = time.perf_counter()
    resolver = Resolver(expected_devices=devices)
    for device_id, root in enumerate(roots):
        resolver.add(device_id, root)
    build_s = time.perf_counter() - t
    memory = settle() - before

    # Frames from random devices at random counters inside their lookahead.
    picks = [rng.randrange(devices) for _ in range(20_000)]
    frames = [
        uplink.encode(DeviceKeys(roots[d]), uplink.Uplink(rng.randint(1, LOOKAHEAD), d, EVENT_SOS)) for d in picks
    ]
    it = iter(frames)
    t = time.perf_counter()
    for f in frames:
        resolver.resolve(f)
    cold_us = (time.perf_counter() - t) / len(frames) * 1e6  # first sight: builds the device's CMAC context

    hot = frames[:2000]  # within the hot-key cache: the copies of alarms in flight
    for f in hot:
        resolver.resolve(f)
    it = iter(hot * 1000)
    hot_us = per_call_us(lambda: resolver.resolve(next(it)), 2000)

    keys = DeviceKeys(roots[0])
    base_frame = uplink.encode(keys, uplink.Uplink(3, 0, EVENT_SOS))
    uplink.verify(keys, base_frame, 3)
    cmac_us = per_call_us(lambda: uplink.verify(keys, base_frame, 3), 20_000)

    # The whole protocol step of the dispatch pipeline: resolve, verify, replay-check, slide, decrypt. Each device
    # sends counter 1 then counter 2: the second is the steady state, where the window slides by one.
    def full(frame: bytes) -> None:
        res = resolver.resolve(frame)
        resolver.accept(res.device_id, res.counter)
        uplink.decode(res.keys, frame, res.counter)

    distinct = list(dict.fromkeys(picks))[:2000]
    timings = {}
    for counter in (1, 2):
        batch = [uplink.encode(DeviceKeys(roots[d]), uplink.Uplink(counter, d, EVENT_HEARTBEAT)) for d in distinct]
        t = time.perf_counter()
        for f in batch:
            full(f)
        timings[counter] = (time.perf_counter() - t) / len(batch) * 1e6
    full_us = timings[2]

    # Recovery: one device far beyond its lookahead, found by a sweep over every device.
    lost = devices - 1
    far_counter = LOOKAHEAD + RECOVERY_HORIZON // 2
    lost_frame = uplink.encode(DeviceKeys(roots[lost]), uplink.Uplink(far_counter, lost, EVENT_SOS))
    t = time.perf_counter()
    got = resolver.recover([lost_frame])
    sweep_s = time.perf_counter() - t
    assert [(r.device_id, r.counter) for r in got.values()] == [(lost, far_counter)]

    t = time.perf_counter()
    search_key(keys, uplink.encode(keys, uplink.Uplink((1 << 20) - 1, 0, EVENT_SOS)))
    key_search_s = time.perf_counter() - t

    figures = {
        "devices": float(devices),
        "resolve_verify_hot_us": round(hot_us, 3),
        "resolve_verify_cold_us": round(cold_us, 3),
        "resolve_verify_hot_x_cmac": round(hot_us / cmac_us, 2),
        "resolve_verify_cold_x_cmac": round(cold_us / cmac_us, 2),
        "full_decode_us": round(full_us, 3),
        "full_decode_first_frame_us": round(timings[1], 3),
        "full_decode_x_cmac": round(full_us / cmac_us, 2),
        "cmac_verify_us": round(cmac_us, 3),
        "memory_mb": round(memory / 1e6, 1),
        "memory_bytes_per_device": round(memory / devices, 1),
        "build_s": round(build_s, 2),
        "recovery_sweep_s": round(sweep_s, 2),
        "recovery_us_per_device": round(sweep_s / devices * 1e6, 2),
        "key_search_2_20_s": round(key_search_s, 3),
    }
    raw: dict[str, object] = {
        "table_entries": resolver.table_size,
        "table_bytes": resolver.table_bytes,
        "recovery_horizon": RECOVERY_HORIZON,
        "lookahead": LOOKAHEAD,
        "frames_resolved_cold": len(frames),
        "cpu": os.cpu_count(),
    }
    return figures, raw
