"""The uplink hot path compiled to C by mypyc, and the check that what is compiled matches its source.

Every uplink passes through these modules: MQTT framing, the envelope, pseudonym and MIC, the replay window,
decryption, the pipeline steps and the service's hand-off to the writer. Compiled, the service spends about a
sixth less CPU per uplink (docs/dispatch.md, "Compiled hot path"). The source stays the truth: the same ``.py``
files run interpreted when nothing is compiled, and the key ring runs the protocol modules under MicroPython.

``make native`` (a step of ``make test``, ``make demo``, ``make bench`` and ``make soak``) builds an extension
beside each module's source, which Python then imports first. An extension older than its source, or left from a
module no longer listed, would run old code, so ``stale()`` names it: the tests refuse to start and the service
logs it.

What a compiled module must not hold: a msgspec Struct that is decoded into (mypyc keeps no usable annotations,
and msgspec reads its schema from them; hence ``envelope_schema``), or one whose fields default to
``msgspec.field`` with a type mypyc checks (what ``effects.Effects`` was).
"""

import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

MODULES = (
    "protocol.crypto",
    "protocol.keys",
    "protocol.table",
    "protocol.resolver",
    "protocol.replay",
    "protocol.uplink",
    "protocol.ack",
    "basestation.dispatch.mqtt_wire",
    "basestation.dispatch.envelope",
    "basestation.dispatch.ratelimit",
    "basestation.dispatch.state",
    "basestation.dispatch.pipeline",
    "basestation.dispatch.mqtt_link",
    "basestation.dispatch.service",
    "basestation.dispatch.incidents",
    "basestation.dispatch.assignment",
    "basestation.dispatch.geo",
    "basestation.dispatch.zones",
    "basestation.dispatch.bulk_sql",
    "basestation.dispatch.writer",
    "basestation.dispatch.effects",
)


# Written in C, not compiled from Python: AES on the CPU's AES instructions (protocol/_aesni.c), for x86-64 only.
# Without it crypto.py uses OpenSSL through ``cryptography``.
C_MODULES = ("protocol._aesni",)


def c_modules() -> tuple[str, ...]:
    """The C modules this machine builds."""
    return C_MODULES if platform.machine().lower() in ("x86_64", "amd64") else ()


def source(module: str) -> Path:
    return ROOT.joinpath(*module.split(".")).with_suffix(".c" if module in C_MODULES else ".py")


def extensions(module: str) -> list[Path]:
    """The built extensions of one module (one per Python version built for)."""
    src = source(module)
    return sorted(src.parent.glob(src.stem + ".*.so"))


PACKAGES = ("protocol", "basestation", "nightwatch", "simulator", "firmware")
GROUP = "nightwatch_native"  # the shared library at the root that every compiled module links against


def all_extensions() -> list[Path]:
    """Every module extension in the source tree, listed or not (the group's shared library aside)."""
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.so"))


def orphans() -> list[Path]:
    """Extensions of modules no longer listed: they would go on shadowing their source."""
    listed = {ext for m in (*MODULES, *C_MODULES) for ext in extensions(m)}
    return [p for p in all_extensions() if p not in listed]


def stale() -> list[str]:
    """What would run code that is gone: modules whose extension is older than their source, and extensions of
    modules no longer listed (after checking out an older commit, say)."""
    out = []
    for module in (*MODULES, *C_MODULES):
        exts = extensions(module)
        if exts and any(ext.stat().st_mtime < source(module).stat().st_mtime for ext in exts):
            out.append(module)
    return out + [str(p.relative_to(ROOT)) for p in orphans()]


def loaded() -> list[str]:
    """Those of ``MODULES`` imported in this process from an extension."""
    found = []
    for module in MODULES:
        mod = sys.modules.get(module)
        if mod is not None and str(getattr(mod, "__file__", "")).endswith(".so"):
            found.append(module)
    return found
