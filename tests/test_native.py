"""The compiled hot path: loaded from build/native/ only while built from the sources on disk
(nightwatch/native_hook.py), never lying beside a source, and off with NIGHTWATCH_NATIVE=0."""

import json
import os
import subprocess
import sys
import textwrap
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

import pytest

from nightwatch import native
from nightwatch import native_hook as hook

SUFFIX = EXTENSION_SUFFIXES[0]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A checkout with one compiled module, ``pkg.mod``, and its build: the compiled file is a stand-in, since
    these tests look only at what the finder would load."""
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "mod.py").write_text("X = 1\n")
    (tmp_path / "pkg" / "dep.py").write_text("Y = 2\n")
    build = tmp_path / "build" / "native"
    (build / "lib-1" / "pkg").mkdir(parents=True)
    files = {"pkg.mod": f"lib-1/pkg/mod{SUFFIX}", hook.GROUP_MODULE: f"lib-1/{hook.GROUP_MODULE}{SUFFIX}"}
    for rel in files.values():
        (build / rel).write_bytes(b"")
    sources = {rel: hook.digest(str(tmp_path / rel)) for rel in ("pkg/mod.py", "pkg/dep.py")}
    (build / "manifest.json").write_text(json.dumps({"ext_suffix": SUFFIX, "modules": files, "sources": sources}))
    return tmp_path


def _finder(tree: Path) -> hook.NativeFinder:
    return hook.NativeFinder(str(tree), str(tree / "build" / "native" / "manifest.json"), ("pkg.mod",))


def _check(tree: Path) -> list[str]:
    build = tree / "build" / "native"
    return hook.check(hook.read_manifest(str(build / "manifest.json")), str(tree), str(build), ("pkg.mod",))


def test_a_current_build_is_loaded_from_the_build_directory(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    finder = _finder(tree)
    spec = finder.find_spec("pkg.mod", [str(tree / "pkg")])
    assert spec is not None and spec.origin == str(tree / "build" / "native" / "lib-1" / "pkg" / f"mod{SUFFIX}")
    assert finder.find_spec(hook.GROUP_MODULE) is not None
    assert finder.status == hook.CURRENT
    assert capsys.readouterr().err == ""


def test_an_edited_source_makes_the_whole_build_stale_and_it_says_so_once(
    tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The module imports it: its constants may be built into the compiled code.
    (tree / "pkg" / "dep.py").write_text("Y = 3\n")
    assert _check(tree) == ["pkg/dep.py"]
    finder = _finder(tree)
    assert finder.find_spec("pkg.mod", [str(tree / "pkg")]) is None
    assert finder.find_spec(hook.GROUP_MODULE) is None
    assert finder.find_spec("pkg.mod", [str(tree / "pkg")]) is None
    assert finder.status == hook.STALE
    err = capsys.readouterr().err
    assert err.count("nightwatch: the compiled build is stale (pkg/dep.py); running interpreted") == 1


def test_a_missing_build_a_missing_file_and_a_changed_list_are_never_loaded(tree: Path) -> None:
    build = tree / "build" / "native"
    (build / "lib-1" / "pkg" / f"mod{SUFFIX}").unlink()
    assert _check(tree) == [f"lib-1/pkg/mod{SUFFIX}"]
    (build / "lib-1" / "pkg" / f"mod{SUFFIX}").write_bytes(b"")
    assert hook.check(hook.read_manifest(str(build / "manifest.json")), str(tree), str(build), ("pkg.mod", "pkg.new"))
    assert hook.check(hook.read_manifest(str(build / "manifest.json")), str(tree), str(build), ()) == ["pkg.mod"]
    (build / "manifest.json").unlink()
    assert _check(tree) == ["no build"]
    finder = _finder(tree)
    assert finder.find_spec("pkg.mod", [str(tree / "pkg")]) is None
    assert finder.status == hook.MISSING


def test_a_copy_of_the_tree_elsewhere_imports_its_own_sources(
    tree: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    elsewhere = tmp_path_factory.mktemp("copy") / "pkg"
    assert _finder(tree).find_spec("pkg.mod", [str(elsewhere)]) is None
    assert _finder(tree).find_spec("pkg.other", [str(tree / "pkg")]) is None


def _run(script: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=native.ROOT,
        env={**os.environ, **env},
    )


built = pytest.mark.skipif(hook.check(hook.read_manifest()) != [], reason="needs a current build (make native)")
used = pytest.mark.skipif(native.status()[0] != hook.CURRENT, reason="runs the build: not with NIGHTWATCH_NATIVE=0")


@used
def test_every_process_loads_the_build_through_the_hook_the_pth_file_installs() -> None:
    out = _run(
        """
        import protocol.keys, basestation.dispatch.core.pipeline
        from nightwatch import native
        print(protocol.keys.__file__)
        print(len(native.loaded()))
        """
    )
    file, count = out.stdout.split()
    assert Path(file).is_relative_to(native.BUILD) and int(count) >= 2
    assert out.stderr == ""


@built
def test_a_build_that_differs_from_the_sources_is_not_loaded(tmp_path: Path) -> None:
    """The real build through a manifest that says one source was different: nothing compiled is loaded."""
    doc = hook.read_manifest()
    assert doc is not None
    doc["modules"] = {m: str(native.BUILD / f) for m, f in doc["modules"].items()}
    doc["sources"]["protocol/replay.py"] = "0" * 64
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps(doc))
    out = _run(
        f"""
        import sys
        from nightwatch import native_hook
        sys.meta_path.insert(0, native_hook.NativeFinder(manifest={str(manifest)!r}))
        import protocol.keys, basestation.dispatch.core.pipeline
        from nightwatch import native
        print(protocol.keys.__file__, len(native.loaded()))
        """,
        NIGHTWATCH_NATIVE="0",
    )
    assert out.stdout.split() == [str(native.ROOT / "protocol" / "keys.py"), "0"]
    assert "the compiled build is stale (protocol/replay.py)" in out.stderr


def test_nightwatch_native_0_runs_every_module_from_its_source() -> None:
    modules = ", ".join(native.MODULES)
    out = _run(
        f"""
        import {modules}
        import sys
        from nightwatch import native
        assert not native.loaded(), native.loaded()
        assert all(sys.modules[m].__file__.endswith(".py") for m in native.MODULES)
        assert native.hook.installed() is None
        print("ok")
        """,
        NIGHTWATCH_NATIVE="0",
    )
    assert out.stdout.strip() == "ok" and out.stderr == ""


@built
def test_nothing_compiled_lies_in_the_source_tree() -> None:
    assert native.in_tree() == []
    doc = hook.read_manifest()
    assert doc is not None
    assert all(Path(hook.BUILD, f).resolve().is_relative_to(native.BUILD) for f in doc["modules"].values())
    # Ignored or not, no compiled or generated file outside build/: git lists what it would show or hide.
    out = subprocess.run(
        ["git", "status", "--porcelain", "--ignored", "--untracked-files=all"],
        capture_output=True,
        text=True,
        check=True,
        cwd=native.ROOT,
    ).stdout.splitlines()
    new = [line[3:] for line in out if line[:3] in ("?? ", "!! ")]
    compiled = [p for p in new if p.endswith((".so", ".o", ".c")) and not p.startswith(("build/", ".venv/"))]
    assert [p for p in compiled if "node_modules/" not in p] == []


def test_in_tree_finds_compiled_files_beside_sources_and_at_the_root(tree: Path) -> None:
    (tree / "protocol").mkdir()
    left = [tree / "protocol" / f"keys{SUFFIX}", tree / f"{hook.GROUP_MODULE}{SUFFIX}"]
    for path in left:
        path.write_bytes(b"")
    assert native.in_tree(tree) == sorted(left)
