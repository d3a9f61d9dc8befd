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


def clean() -> None:
    for ext in [*native.all_extensions(), *ROOT.glob(native.GROUP + "__mypyc.*.so")]:
        ext.unlink()


def current() -> bool:
    return all(native.extensions(m) for m in (*native.MODULES, *native.c_modules())) and not native.stale()


def build() -> None:
    from mypyc.build import mypycify  # the compiler comes with mypy, a development dependency
    from setuptools import Distribution, Extension

    for orphan in native.orphans():
        orphan.unlink()
    os.chdir(ROOT)
    # Stamped with the time the build began: a C file that came out the same is not recompiled, and its
    # extension keeps an older time; a source saved during the build stays newer, so it is rebuilt next time.
    began = time.time()
    paths = [str(native.source(m).relative_to(ROOT)) for m in native.MODULES]
    extensions = mypycify(paths, opt_level="3", debug_level="0", group_name=native.GROUP, target_dir=str(BUILD / "c"))
    for m in native.c_modules():
        # -maes: the AES instructions, used only after the module checked at import that the CPU has them.
        src = str(native.source(m).relative_to(ROOT))
        extensions.append(Extension(m, [src], extra_compile_args=["-O2", "-maes", "-msse2"]))
    # A Distribution built by hand reads no pyproject.toml: hatchling, not setuptools, packages the project.
    dist = Distribution({"name": native.GROUP, "ext_modules": extensions})
    cmd = dist.get_command_obj("build_ext")
    cmd.inplace = True  # type: ignore[attr-defined]
    cmd.build_temp = str(BUILD / "obj")  # type: ignore[attr-defined]
    cmd.parallel = os.cpu_count() or 1  # type: ignore[attr-defined]
    dist.run_command("build_ext")
    for m in (*native.MODULES, *native.c_modules()):
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
    n = len(native.MODULES) + len(native.c_modules())
    print(f"native: {n} modules compiled in {time.monotonic() - t:.0f} s")


if __name__ == "__main__":
    main()
