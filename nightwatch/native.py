"""The uplink hot path compiled to C by mypyc, and the check that what is compiled matches its source.

Every uplink passes through these modules: MQTT framing, the envelope, pseudonym and MIC, the replay window,
decryption, the pipeline steps and the service's hand-off to the writer. Compiled, the service spends about a
sixth less CPU per uplink (docs/dispatch.md, "Compiled hot path"). The source stays the truth: the same ``.py``
files run interpreted when nothing is compiled, and the key ring runs the protocol modules under MicroPython.

``make native`` (a step of ``make test``, ``make demo`` and ``make bench``) builds an extension beside each
module's source, which Python then imports first. An extension older than its source would run old code, so
``stale()`` names any such module: the tests refuse to start and the service logs it.

What a compiled module must not hold: a msgspec Struct that is decoded into (mypyc keeps no usable annotations,
and msgspec reads its schema from them; hence ``envelope_schema``), or one whose fields default to
``msgspec.field`` with a type mypyc checks (what ``effects.Effects`` was).
"""

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
    "basestation.dispatch.bulk_sql",
    "basestation.dispatch.writer",
    "basestation.dispatch.effects",
)


def source(module: str) -> Path:
    return ROOT.joinpath(*module.split(".")).with_suffix(".py")


def extensions(module: str) -> list[Path]:
    """The built extensions of one module (one per Python version built for)."""
    src = source(module)
    return sorted(src.parent.glob(src.stem + ".*.so"))


def stale() -> list[str]:
    """Modules whose extension is older than their source: importing them would run code that is gone."""
    out = []
    for module in MODULES:
        mtime = source(module).stat().st_mtime
        if any(ext.stat().st_mtime < mtime for ext in extensions(module)):
            out.append(module)
    return out


def loaded() -> list[str]:
    """Those of ``MODULES`` imported in this process from an extension."""
    found = []
    for module in MODULES:
        mod = sys.modules.get(module)
        if mod is not None and str(getattr(mod, "__file__", "")).endswith(".so"):
            found.append(module)
    return found
