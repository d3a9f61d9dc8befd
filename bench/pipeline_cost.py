"""The dispatch service's CPU per uplink in its own process: heartbeats of many key rings, each frame heard by three
gateways, through the uplink pipeline (basestation/dispatch/core/pipeline.py: envelope, pseudonym and MIC, replay
window, decryption, rate limit, the incident and supervision steps), as ``python -m bench dispatch`` floods the
service with them, but with no broker, no commit and no other process sharing the measured stretch.

    python -P bench/pipeline_cost.py [--devices 3000]     prints one JSON document

bench/ab.py runs it from its own checkout against another tree's code: ``-P`` keeps this file's directory off
``sys.path``, so that everything measured is imported from ``PYTHONPATH``. It imports only what it measures, and
the protocol and the gateway's envelope encoder it builds the frames with; nothing of bench/, which another tree
may not have.
"""

import argparse
import gc
import importlib
import json
import os
import random
import sys
import time
from collections import Counter
from typing import Any

from basestation.gateway.core import encode_envelope
from basestation.gateway.record import ReceivedFrame
from protocol import uplink
from protocol.constants import EVENT_HEARTBEAT
from protocol.keys import DeviceKeys


def _dispatch_module(name: str) -> Any:
    """The pipeline and its state from the tree on ``PYTHONPATH``: in core/ since dispatch was laid out in core/
    and io/, directly under basestation/dispatch/ before, so that the old layout can be measured against the new."""
    for package in ("basestation.dispatch.core", "basestation.dispatch"):
        try:
            return importlib.import_module(f"{package}.{name}")
        except ModuleNotFoundError:
            continue
    raise ModuleNotFoundError(f"no dispatch module {name} on the path")


pipeline_module = _dispatch_module("pipeline")
_state = _dispatch_module("state")
DispatchState, Gateway = _state.DispatchState, _state.Gateway

# As in the dispatch benchmark's flood (bench/uplinks.py): three gateways, each frame heard by all of them.
GATEWAYS = {"gw-a": (52.1589, 4.4894, -92.0), "gw-b": (52.1664, 4.4817, -101.0), "gw-c": (52.1550, 4.4990, -108.0)}
FORWARDER = "0016c001ff10a235"  # the packet forwarder's EUI
HEARTBEATS_PER_DEVICE = 3  # within the rate limiter's burst of 6: every frame is accepted
DEVICES = 3000
# The first devices' frames are sent before the measured ones: the first pass through every step (imports done
# lazily, caches filled, the interpreter's specialisation) is not the steady cost.
WARMUP_SHARE = 0.1


def _envelope(gateway: str, frame: bytes, rx_time_ms: int, tmst: int) -> bytes:
    """A packet forwarder's copy of ``frame``, encoded by the gateway's own encoder, as bench/uplinks.py's."""
    rssi = GATEWAYS[gateway][2]
    heard = ReceivedFrame(frame, "lora", rx_time_ms / 1000, rssi, 7.5, 868.1, "SF9BW125", tmst & 0xFFFFFFFF, FORWARDER)
    return encode_envelope(heard, gateway)


def uplinks(devices: range, now_ms: int, seed: int) -> tuple[dict[int, bytes], list[tuple[str, bytes]]]:
    """Key rings' roots, and their heartbeats as (topic, envelope) in send order: counter by counter, devices
    interleaved, each frame's three gateway copies one after the other."""
    rng = random.Random(seed)
    roots = {d: rng.randbytes(16) for d in devices}
    keys = {d: DeviceKeys(root) for d, root in roots.items()}
    out: list[tuple[str, bytes]] = []
    for counter in range(1, HEARTBEATS_PER_DEVICE + 1):
        for device, k in keys.items():
            frame = uplink.encode(k, uplink.Uplink(counter, device, EVENT_HEARTBEAT, 80, 60, 0, 0))
            for gw in GATEWAYS:
                out.append((f"nightwatch/v1/up/{gw}", _envelope(gw, frame, now_ms, len(out) * 1000)))
    return roots, out


def measure(devices: int, seed: int = 11) -> dict[str, Any]:
    now_ms = time.time_ns() // 1_000_000
    warm = max(1, int(devices * WARMUP_SHARE))
    state = DispatchState()
    for gw, (lat, lon, _) in GATEWAYS.items():
        state.gateways[gw] = Gateway(gw, lat, lon, online=True)
    warm_roots, warm_up = uplinks(range(1, warm + 1), now_ms, seed)
    roots, measured = uplinks(range(warm + 1, warm + 1 + devices), now_ms, seed + 1)
    for device, root in {**warm_roots, **roots}.items():
        state.resolver.add(device, root)
    pipe = pipeline_module.UplinkPipeline(state)
    for topic, payload in warm_up:
        pipe.handle(topic, payload, now_ms)
    before = Counter(state.counts)
    # The workload lives through the whole pass: the collector should not walk it again and again, as the
    # service's does not walk its long-lived state (gc_policy.py).
    gc.collect()
    gc.freeze()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for topic, payload in measured:
        pipe.handle(topic, payload, now_ms)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    gc.unfreeze()
    outcomes = {str(getattr(k, "value", k)): v - before.get(k, 0) for k, v in state.counts.items()}
    n = len(measured)
    return {
        "uplinks": n,
        "cpu_us_per_uplink": round(cpu / n * 1e6, 3),
        "wall_us_per_uplink": round(wall / n * 1e6, 3),
        "outcomes": {k: v for k, v in outcomes.items() if v},
        # Which tree's code ran, and whether compiled: a measurement of the wrong one says nothing.
        "pipeline_source": os.path.realpath(pipeline_module.__file__ or ""),
        "compiled": not (pipeline_module.__file__ or "").endswith(".py"),
        "python": sys.version.split()[0],
    }


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--devices", type=int, default=DEVICES, help="key rings measured, 3 heartbeats x 3 copies each")
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args(argv)
    print(json.dumps(measure(args.devices, args.seed)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
