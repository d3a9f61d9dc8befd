"""The check that no compiled extension runs code its source no longer holds (nightwatch/native.py)."""

import os
from pathlib import Path

import pytest

from nightwatch import native

EXT = ".cpython-311-x86_64-linux-gnu.so"


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(native, "ROOT", tmp_path)
    monkeypatch.setattr(native, "MODULES", ("protocol.keys",))
    (tmp_path / "protocol").mkdir()
    (tmp_path / "protocol" / "keys.py").write_text("")
    (tmp_path / "protocol" / "replay.py").write_text("")
    return tmp_path


def _at(path: Path, mtime: float) -> None:
    os.utime(path, (mtime, mtime))


def test_nothing_compiled_is_nothing_stale(tree: Path) -> None:
    assert native.stale() == []
    assert native.all_extensions() == []


def test_an_extension_older_than_its_source_is_stale_and_a_newer_one_is_not(tree: Path) -> None:
    src = tree / "protocol" / "keys.py"
    ext = tree / "protocol" / ("keys" + EXT)
    ext.write_bytes(b"")
    _at(src, 2_000_000)
    _at(ext, 1_000_000)
    assert native.stale() == ["protocol.keys"]
    _at(ext, 3_000_000)
    assert native.stale() == []


def test_an_extension_of_a_module_no_longer_listed_is_stale_whatever_its_age(tree: Path) -> None:
    orphan = tree / "protocol" / ("replay" + EXT)
    orphan.write_bytes(b"")
    _at(orphan, 9_000_000_000)
    assert native.orphans() == [orphan]
    assert native.stale() == ["protocol/replay" + EXT]


def test_a_c_module_is_checked_against_its_c_source(tree: Path) -> None:
    src = tree / "protocol" / "_aesni.c"
    src.write_text("")
    ext = tree / "protocol" / ("_aesni" + EXT)
    ext.write_bytes(b"")
    _at(src, 2_000_000)
    _at(ext, 1_000_000)
    assert native.source("protocol._aesni") == src
    assert native.stale() == ["protocol._aesni"]
    assert native.orphans() == []
    _at(ext, 3_000_000)
    assert native.stale() == []
