"""Compile the uplink hot path (nightwatch/native.py, MODULES) with mypyc, an extension beside each source.

    python scripts/build_native.py           build when an extension is missing or older than its source
    python scripts/build_native.py --clean   remove every extension: everything runs interpreted

Nothing is built when everything is current, so ``make test`` runs this each time at no cost. An extension whose
module is no longer listed is removed, or it would go on shadowing its source.
"""

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nightwatch import native  # noqa: E402  (the repository root is on the path only from here on)

BUILD = ROOT / "build" / "native"
PACKAGES = ("protocol", "basestation", "nightwatch", "simulator", "firmware")
GROUP = "nightwatch_native"  # the shared library at the root that every compiled module links against


def _all_extensions() -> list[Path]:
    found = [p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.so")]
    return found + sorted(ROOT.glob(GROUP + "__mypyc.*.so"))


def clean() -> None:
    for ext in _all_extensions():
        ext.unlink()


def _orphans() -> list[Path]:
    listed = {e for m in native.MODULES for e in native.extensions(m)}
    return [p for p in _all_extensions() if p not in listed and not p.name.startswith(GROUP + "__mypyc.")]


def current() -> bool:
    return all(native.extensions(m) for m in native.MODULES) and not native.stale() and not _orphans()


def build() -> None:
    from mypyc.build import mypycify  # the compiler comes with mypy, a development dependency
    from setuptools import Distribution

    for orphan in _orphans():
        orphan.unlink()
    os.chdir(ROOT)
    # Stamped with the time the build began: a C file that came out the same is not recompiled, and its
    # extension keeps an older time; a source saved during the build stays newer, so it is rebuilt next time.
    began = time.time()
    paths = [str(native.source(m).relative_to(ROOT)) for m in native.MODULES]
    extensions = mypycify(paths, opt_level="3", debug_level="0", group_name=GROUP, target_dir=str(BUILD / "c"))
    # A Distribution built by hand reads no pyproject.toml: hatchling, not setuptools, packages the project.
    dist = Distribution({"name": GROUP, "ext_modules": extensions})
    cmd = dist.get_command_obj("build_ext")
    cmd.inplace = True  # type: ignore[attr-defined]
    cmd.build_temp = str(BUILD / "obj")  # type: ignore[attr-defined]
    cmd.parallel = os.cpu_count() or 1  # type: ignore[attr-defined]
    dist.run_command("build_ext")
    for m in native.MODULES:
        for ext in native.extensions(m):
            os.utime(ext, (began, began))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clean", action="store_true", help="remove every compiled extension")
    args = ap.parse_args()
    if args.clean:
        clean()
        return
    if current():
        print("native: compiled modules are current")
        return
    t = time.monotonic()
    build()
    print(f"native: {len(native.MODULES)} modules compiled in {time.monotonic() - t:.0f} s")


if __name__ == "__main__":
    main()
