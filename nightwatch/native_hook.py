"""Loads the compiled hot path from build/native/, and only what was compiled from the sources now on disk.

``make native`` compiles the modules below with mypyc into ``build/native/`` and writes a manifest there: each
compiled module's file, and the SHA-256 of every source it was built from (the module's own and those it
imports from the project, whose constants and types mypyc builds in). It also puts a ``.pth`` file in the
virtualenv that runs :func:`install` at every interpreter's start, so the CLI, the simulator, the bench, the
gateway, pytest and every subprocess they start import the same way without remembering to.

The finder it installs answers only for these modules, and only inside this checkout. At the first such import
it checks the whole manifest against the disk; if anything differs, or a file is missing, it loads nothing
compiled, says so once on stderr, and every module imports from its source. All or nothing, because mypyc
compiles the modules as one group that calls across modules in C: a compiled module beside the source of one
changed since would call the old compiled code of that one.

``NIGHTWATCH_NATIVE=0`` runs everything interpreted. This module imports only the standard library: it runs in
every process, before anything else of the project, loaded by path (not as part of the ``nightwatch`` package,
which a copy of the tree, as mutation testing makes, must be free to import from itself).
"""

import os
import sys
from importlib.machinery import EXTENSION_SUFFIXES, ExtensionFileLoader, ModuleSpec
from importlib.util import spec_from_file_location
from types import ModuleType
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, "build", "native")
MANIFEST = os.path.join(BUILD, "manifest.json")
ENV = "NIGHTWATCH_NATIVE"
GROUP = "nightwatch_native"
# The shared library that every compiled module links against, imported by them under this top-level name.
GROUP_MODULE = GROUP + "__mypyc"

MODULES = (
    "protocol.crypto",
    "protocol.keys",
    "basestation.pseudonyms.table",
    "basestation.pseudonyms.resolver",
    "protocol.replay",
    "protocol.uplink",
    "protocol.ack",
    "basestation.dispatch.io.mqtt_wire",
    "basestation.dispatch.core.envelope",
    "basestation.dispatch.core.ratelimit",
    "basestation.dispatch.core.state",
    "basestation.dispatch.core.context",
    "basestation.dispatch.core.pipeline",
    "basestation.dispatch.core.decisions",
    "basestation.dispatch.core.offers",
    "basestation.dispatch.io.mqtt_connection",
    "basestation.dispatch.io.mqtt_downlinks",
    "basestation.dispatch.io.mqtt_inbound",
    "basestation.dispatch.io.mqtt_link",
    "basestation.dispatch.service",
    "basestation.dispatch.clock",
    "basestation.dispatch.core.incidents",
    "basestation.dispatch.core.assignment",
    "basestation.dispatch.core.geo",
    "basestation.dispatch.core.zones",
    "basestation.dispatch.io.bulk_sql",
    "basestation.dispatch.io.writer",
    "basestation.dispatch.core.effects",
)

CURRENT, MISSING, STALE, OFF = "current", "missing", "stale", "off"


def enabled() -> bool:
    return os.environ.get(ENV, "1") != "0"


def digest(path: str) -> str:
    import hashlib  # here, not at the top: every interpreter of the virtualenv imports this module at its start

    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def read_manifest(path: str = MANIFEST) -> dict[str, Any] | None:
    import json  # as hashlib in digest()

    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def check(
    manifest: dict[str, Any] | None, root: str = ROOT, build: str = BUILD, modules: tuple[str, ...] = MODULES
) -> list[str]:
    """What keeps a build from being loaded, empty when nothing does: a changed or missing source (its path), a
    compiled file missing, a module listed but not built or built but no longer listed, another interpreter."""
    if manifest is None:
        return ["no build"]
    if manifest.get("ext_suffix") != EXTENSION_SUFFIXES[0]:
        return [f"built for {manifest.get('ext_suffix')}"]
    files: dict[str, str] = manifest.get("modules", {})
    why = [m for m in modules if m not in files]
    why += [m for m in files if m not in modules and m != GROUP_MODULE]
    why += [f for f in files.values() if not os.path.isfile(os.path.join(build, f))]
    for rel, sha in manifest.get("sources", {}).items():
        try:
            if digest(os.path.join(root, rel)) != sha:
                why.append(rel)
        except OSError:
            why.append(rel)
    return why


class NativeFinder:
    """Finds the compiled modules of one checkout's build, if it is current (the module's docstring)."""

    def __init__(self, root: str = ROOT, manifest: str = MANIFEST, modules: tuple[str, ...] = MODULES) -> None:
        self.root = root
        self.manifest = manifest
        self.modules = modules
        self.names = frozenset((*modules, GROUP_MODULE))
        self.status: str | None = None  # decided at the first import of a compiled module
        self.reasons: list[str] = []
        self._files: dict[str, str] = {}

    def find_spec(self, fullname: str, path: Any = None, target: ModuleType | None = None) -> ModuleSpec | None:
        if fullname not in self.names:
            return None
        if fullname != GROUP_MODULE:
            # Only this checkout's packages: a copy of the tree elsewhere imports its own sources.
            package = os.path.join(self.root, *fullname.split(".")[:-1])
            if path is None or not any(os.path.realpath(p) == os.path.realpath(package) for p in path):
                return None
        if self.status is None:
            self._decide()
        file = self._files.get(fullname)
        if file is None:
            return None
        return spec_from_file_location(fullname, file, loader=ExtensionFileLoader(fullname, file))

    def _decide(self) -> None:
        doc = read_manifest(self.manifest)
        build = os.path.dirname(self.manifest)
        self.reasons = check(doc, self.root, build, self.modules)
        if doc is not None and not self.reasons:
            self._files = {m: os.path.join(build, f) for m, f in doc["modules"].items()}
            self.status = CURRENT
            return
        self.status = MISSING if doc is None else STALE
        shown = ", ".join(self.reasons[:5]) + (f" and {len(self.reasons) - 5} more" if len(self.reasons) > 5 else "")
        what = "no compiled build" if doc is None else f"the compiled build is stale ({shown})"
        sys.stderr.write(
            f"nightwatch: {what}; running interpreted. `make native` builds it; {ENV}=0 runs "
            "interpreted without this notice.\n"
        )


def installed() -> NativeFinder | None:
    """This process's finder, if one is installed (by the ``.pth`` file at start-up, normally)."""
    for finder in sys.meta_path:
        if type(finder).__name__ == NativeFinder.__name__ and getattr(finder, "root", None) == ROOT:
            return finder  # type: ignore[return-value]
    return None


def install() -> None:
    """Put the finder first on ``sys.meta_path``, unless turned off or already there."""
    if enabled() and installed() is None:
        sys.meta_path.insert(0, NativeFinder())
