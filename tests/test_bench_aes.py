"""`python -m bench aes` measures the AES the service runs: a small run of one variant gives every figure."""

import pytest

from bench import aes_bench


def test_one_variant_gives_every_figure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aes_bench, "DEVICES", 300)
    got = aes_bench.one("default")
    for key in (*aes_bench.KEPT, "aes_block_us", "cmac_tag_us", "full_decode_frames_per_s"):
        assert float(got[key]) > 0, key  # type: ignore[arg-type]
    assert got["cmac"] == "OpensslCmac"
