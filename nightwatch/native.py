"""The uplink hot path compiled to C by mypyc, and whether this process runs it.

Every uplink passes through these modules: MQTT framing, the envelope, pseudonym and MIC, the replay window,
decryption, the pipeline steps and the service's hand-off to the writer. Compiled, the service spends about a
sixth less CPU per uplink (docs/dispatch.md, "Compiled hot path"). The source stays the truth: the same ``.py``
files run interpreted when nothing is compiled, and the key ring runs the protocol modules under MicroPython.

``make native`` (a step of ``make test``, ``make demo``, ``make bench`` and ``make soak``) compiles them into
``build/native/``, never beside a source, and ``nightwatch.native_hook`` loads them from there in every process,
only while each was built from the source now on disk.

What a compiled module must not hold: a msgspec Struct that is decoded into (mypyc keeps no usable annotations,
and msgspec reads its schema from them; hence ``envelope_schema``), or one whose fields default to
``msgspec.field`` with a type mypyc checks (what ``effects.Effects`` was).
"""

import sys
import sysconfig
from pathlib import Path

from nightwatch import native_hook as hook
from nightwatch.native_hook import GROUP, GROUP_MODULE, MODULES

__all__ = ["GROUP", "GROUP_MODULE", "MODULES", "hook"]

ROOT = Path(hook.ROOT)
BUILD = Path(hook.BUILD)
PACKAGES = ("protocol", "basestation", "nightwatch", "simulator", "firmware")
PTH = "nightwatch_native.pth"


def source(module: str) -> Path:
    return ROOT.joinpath(*module.split(".")).with_suffix(".py")


def in_tree(root: Path | None = None) -> list[Path]:
    """Compiled files in the source tree, where nothing compiled belongs: left by an older layout, they would
    shadow their source with no check at all."""
    root = ROOT if root is None else root
    found = [p for pkg in PACKAGES if (root / pkg).is_dir() for p in (root / pkg).rglob("*.so")]
    return sorted(found + list(root.glob(GROUP_MODULE + ".*.so")))


def status() -> tuple[str, list[str]]:
    """Whether compiled modules run in this process (``hook.CURRENT``), and if not why: off by
    ``NIGHTWATCH_NATIVE=0``, no build, or a stale one (with what differs)."""
    if not hook.enabled():
        return hook.OFF, []
    why = hook.check(hook.read_manifest())
    if why == ["no build"]:
        return hook.MISSING, []
    return (hook.STALE, why) if why else (hook.CURRENT, [])


def stale() -> list[str]:
    """What differs from the build, when there is one and it is in use; the finder loads none of it then."""
    state, why = status()
    return why if state == hook.STALE else []


def loaded() -> list[str]:
    """Those of ``MODULES`` imported in this process from a compiled file."""
    found = []
    for module in MODULES:
        mod = sys.modules.get(module)
        if mod is not None and str(getattr(mod, "__file__", "")).endswith(".so"):
            found.append(module)
    return found


def pth_path() -> Path:
    """Where the ``.pth`` file goes: this interpreter's site-packages (the project's virtualenv under make)."""
    return Path(sysconfig.get_paths()["purelib"]) / PTH


def pth_line() -> str:
    """The ``.pth`` line: the hook loaded by path as a module of its own, so that importing it does not import the
    ``nightwatch`` package from this checkout into a process working on another copy."""
    path = str(ROOT / "nightwatch" / "native_hook.py")
    return (
        "import os, sys, importlib.util as u; "
        f"p = {path!r}; "
        "s = os.path.isfile(p) and u.spec_from_file_location('nightwatch_native_hook', p); "
        "m = s and u.module_from_spec(s); "
        "s and (sys.modules.setdefault(s.name, m), s.loader.exec_module(m), m.install())\n"
    )
