"""Compile the key ring firmware for the ESP32: ``mpy-cross -march=xtensawin`` into ``firmware/build/``.

    python scripts/build_firmware.py [--out DIR]

Layout of the output, which mirrors the device's filesystem (docs/flashing.md copies it as is):

    firmware/build/main.py                 two lines: run the firmware (main.py must be source)
    firmware/build/lib/firmware/*.mpy      the key ring, without the host-only parts (fakes, host/)
    firmware/build/lib/protocol/*.mpy      the codec modules the device imports

The mpy-cross minor version must match the MicroPython flashed on the boards (FACTS: device tooling); the
version used is printed and written to ``firmware/build/VERSION``.
"""

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Host-only: the fakes and the runner never go to the device.
FIRMWARE_SKIP = {"fakes.py"}
# The codec modules the key ring needs; the server-only ones (resolver, search, replay) stay behind.
PROTOCOL_MODULES = ("__init__.py", "constants.py", "errors.py", "crypto.py", "keys.py", "uplink.py", "ack.py")
MAIN_PY = '"""Key ring entry point (built by scripts/build_firmware.py)."""\nfrom firmware.main import run\n\nrun()\n'


def mpy_cross() -> str:
    found = shutil.which("mpy-cross", path=str(Path(sys.executable).parent)) or shutil.which("mpy-cross")
    if found is None:
        raise SystemExit("mpy-cross is missing: `make venv` installs it")
    return found


def sources() -> list[tuple[Path, str]]:
    """(source file, path under lib/) for everything the device needs."""
    out = []
    for src in sorted((ROOT / "firmware").glob("*.py")):
        if src.name not in FIRMWARE_SKIP:
            out.append((src, "firmware/" + src.name))
    for name in PROTOCOL_MODULES:
        out.append((ROOT / "protocol" / name, "protocol/" + name))
    return out


def build(out_dir: Path) -> list[Path]:
    tool = mpy_cross()
    version = subprocess.run([tool, "--version"], capture_output=True, text=True, check=True).stdout.strip()
    print(version)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    lib = out_dir / "lib"
    built = []
    for src, rel in sources():
        target = (lib / rel).with_suffix(".mpy")
        target.parent.mkdir(parents=True, exist_ok=True)
        # -s names the source in tracebacks as it is named on the device.
        cmd = [tool, "-march=xtensawin", "-s", rel, "-o", str(target), str(src)]
        r = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if r.returncode != 0:
            raise SystemExit(f"mpy-cross failed on {rel}:\n{r.stdout}{r.stderr}")
        built.append(target)
    (out_dir / "main.py").write_text(MAIN_PY)
    (out_dir / "VERSION").write_text(version + "\n")
    total = sum(p.stat().st_size for p in built)
    print(f"{len(built)} modules, {total} bytes of .mpy in {out_dir}")
    return built


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "firmware" / "build")
    args = parser.parse_args()
    build(args.out.resolve())


if __name__ == "__main__":
    main()
