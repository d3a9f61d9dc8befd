"""Whose AES the resolver runs on: ``protocol.crypto`` as built, against OpenSSL (``cryptography``) alone.

Each variant runs in a fresh interpreter, since ``protocol.crypto`` picks its AES when it is imported: "default"
is what the service runs, "openssl" the same with any C module of ours made unimportable. In each, the resolver
of ``protocol_bench`` at 20,000 devices (its hot and first-sight frames, and the whole protocol step: resolve,
verify, replay check, slide, decrypt), one AES block and one CMAC of a frame with a ring's keys already built.

Three rounds, the variants' order alternating, each figure the median of its rounds. Ratios are to the same run's
OpenSSL variant, and each variant's figures to its own pre-keyed CMAC check
(``cmac_verify_us``, as in ``protocol_bench``). Since ``protocol/_aesni.c`` was removed (docs/dispatch.md,
"Compiled hot path", has the figures that decided it), the default is OpenSSL too: both columns measure the same
code, and their ratio is the run's noise, the yardstick any other AES would have to clear.
"""

import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import per_call_us

DEVICES = 20_000
ROUNDS = 3
VARIANTS = ("default", "openssl")
KEPT = (
    "resolve_verify_hot_us",
    "resolve_verify_cold_us",
    "full_decode_us",
    "full_decode_first_frame_us",
    "cmac_verify_us",
)


def one(variant: str) -> dict[str, object]:
    """The figures of one variant, in this process."""
    if variant == "openssl":
        sys.modules["protocol._aesni"] = None  # type: ignore[assignment]  # its import fails, as where unbuilt
    from bench import protocol_bench
    from protocol import crypto

    figures, _ = protocol_bench.run(Path(tempfile.mkdtemp()), devices=DEVICES)
    out: dict[str, object] = {k: figures[k] for k in KEPT}
    key, block, frame = bytes(range(16)), bytes(16), bytes(18)
    aes, cmac = crypto.Aes(key), crypto.Cmac(key)
    out["aes_block_us"] = round(per_call_us(lambda: aes.encrypt(block), 50_000), 3)
    out["cmac_tag_us"] = round(per_call_us(lambda: cmac.tag(frame), 50_000), 3)
    out["full_decode_frames_per_s"] = round(1e6 / float(figures["full_decode_us"]))
    out["cmac"] = type(cmac).__name__
    return out


def run(results_dir: Path) -> tuple[dict[str, float], dict[str, object]]:
    rounds: dict[str, list[dict[str, object]]] = {v: [] for v in VARIANTS}
    for i in range(ROUNDS):
        for variant in VARIANTS[:: 1 if i % 2 == 0 else -1]:
            proc = subprocess.run(
                [sys.executable, "-m", "bench.aes_bench", variant], check=True, capture_output=True, text=True
            )
            rounds[variant].append(json.loads(proc.stdout.splitlines()[-1]))
    raw: dict[str, object] = {"rounds": rounds}
    for variant, runs in rounds.items():
        raw[variant] = {
            k: (statistics.median(float(r[k]) for r in runs) if isinstance(v, float | int) else v)  # type: ignore[arg-type]
            for k, v in runs[0].items()
        }
    base = raw["openssl"]
    figures: dict[str, float] = {}
    for variant in VARIANTS:
        got = raw[variant]
        assert isinstance(got, dict) and isinstance(base, dict)
        for k in (*KEPT, "aes_block_us", "cmac_tag_us", "full_decode_frames_per_s"):
            figures[f"{variant}_{k}"] = float(got[k])
            if variant != "openssl":
                figures[f"{variant}_{k}_x_openssl"] = round(float(got[k]) / float(base[k]), 2)
        figures[f"{variant}_full_decode_x_cmac"] = round(float(got["full_decode_us"]) / float(got["cmac_verify_us"]), 2)
    raw["devices"] = DEVICES
    return figures, raw


if __name__ == "__main__":
    print(json.dumps(one(sys.argv[1])))
