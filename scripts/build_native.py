"""Compile the uplink hot path (nightwatch/native_hook.py, MODULES) with mypyc into build/native/.

    python scripts/build_native.py           build unless the build is current; install the import hook
    python scripts/build_native.py --clean   remove the build and the hook: everything runs interpreted

Nothing is built when the manifest matches every source, so ``make test`` runs this each time at no cost. Each
build goes to a directory of its own, and the manifest naming it replaces the old one in one rename: a process
starting meanwhile loads the whole old build or the whole new one, never half of each. Compiled files that an
older layout left beside their sources, or at the repository's root, are removed.
"""

import argparse
import ast
import json
import os
import shutil
import sys
import time
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nightwatch import native  # noqa: E402  (the repository root is on the path only from here on)
from nightwatch import native_hook as hook  # noqa: E402

BUILD = native.BUILD


def _file_of(module: str) -> Path | None:
    base = ROOT.joinpath(*module.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def sources() -> list[Path]:
    """Each compiled module's source, and the project's modules it imports: mypyc builds their constants in
    (``Final``) and checks their types, so a change there makes the compiled code stale too."""
    out: set[Path] = set()
    for module in native.MODULES:
        path = _file_of(module)
        assert path is not None, module
        out.add(path)
        for node in ast.walk(ast.parse(path.read_bytes())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            for name in names:
                dep = _file_of(name) if name.split(".")[0] in native.PACKAGES else None
                if dep is not None:
                    out.add(dep)
    return sorted(out)


def install_hook() -> None:
    if sys.prefix == sys.base_prefix:
        print("native: not in a virtualenv, so no import hook installed: run through make")
        return
    pth = native.pth_path()
    if not pth.exists() or pth.read_text() != native.pth_line():
        pth.write_text(native.pth_line())


def remove_in_tree() -> None:
    for path in native.in_tree():
        path.unlink()


def clean() -> None:
    remove_in_tree()
    shutil.rmtree(BUILD, ignore_errors=True)
    native.pth_path().unlink(missing_ok=True)


def build() -> None:
    from mypyc.build import mypycify  # the compiler comes with mypy, a development dependency
    from setuptools import Distribution

    # Hashed before compiling: a source saved during the build then differs from the manifest, and is rebuilt.
    digests = {str(p.relative_to(ROOT)): hook.digest(str(p)) for p in sources()}
    lib_name = f"lib-{time.time_ns()}"
    lib = BUILD / lib_name
    os.chdir(ROOT)
    paths = [str(native.source(m).relative_to(ROOT)) for m in native.MODULES]
    extensions = mypycify(paths, opt_level="3", debug_level="0", group_name=native.GROUP, target_dir=str(BUILD / "c"))
    # A Distribution built by hand reads no pyproject.toml: hatchling, not setuptools, packages the project.
    dist = Distribution({"name": native.GROUP, "ext_modules": extensions})
    cmd = dist.get_command_obj("build_ext")
    cmd.build_lib = str(lib)  # type: ignore[attr-defined]
    cmd.build_temp = str(BUILD / "obj")  # type: ignore[attr-defined]
    cmd.parallel = os.cpu_count() or 1  # type: ignore[attr-defined]
    dist.run_command("build_ext")

    suffix = EXTENSION_SUFFIXES[0]
    files = {m: f"{lib_name}/{m.replace('.', '/')}{suffix}" for m in native.MODULES}
    files[native.GROUP_MODULE] = f"{lib_name}/{native.GROUP_MODULE}{suffix}"
    missing = [f for f in files.values() if not (BUILD / f).is_file()]
    if missing:
        raise SystemExit(f"native: the build did not make {missing}")
    manifest = {"ext_suffix": suffix, "modules": files, "sources": digests}
    tmp = BUILD / "manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    tmp.replace(hook.MANIFEST)
    # The build before stays: a process that read the old manifest may import a compiled module later (imports
    # inside functions), and would not find its file. Older ones go; a process keeps the files it has loaded.
    for old in sorted(p for p in BUILD.glob("lib-*") if p.name != lib_name)[:-1]:
        shutil.rmtree(old, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clean", action="store_true", help="remove the build and the import hook")
    args = ap.parse_args()
    if args.clean:
        clean()
        return
    if hook.check(hook.read_manifest()):
        t = time.monotonic()
        build()
        print(f"native: {len(native.MODULES)} modules compiled in {time.monotonic() - t:.0f} s into {BUILD}")
    else:
        print("native: compiled modules are current")
    # Only now, so that processes starting during a first build run the old layout or the sources, not a notice.
    remove_in_tree()
    install_hook()


if __name__ == "__main__":
    main()
