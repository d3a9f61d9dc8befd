"""The AES shim against published vectors; the pure CMAC (the device's), the one on the AES instructions and
OpenSSL's (the server's) against each other; and the server on OpenSSL alone, as where the C module is absent."""

import subprocess
import sys
import textwrap

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given
from hypothesis import strategies as st

from nightwatch import native
from protocol import crypto
from protocol.crypto import Aes, Cmac, OpensslCmac, PureCmac

KEY = st.binary(min_size=16, max_size=16)

# RFC 4493 section 4, AES-128 key and examples 1-4.
RFC4493_KEY = bytes.fromhex("2b7e151628aed2a6abf7158809cf4f3c")
RFC4493_MSG = bytes.fromhex(
    "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"
    "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710"
)
RFC4493 = [
    (0, "bb1d6929e95937287fa37d129b756746"),
    (16, "070a16b46b4d4144f79bdd9dd04a287c"),
    (40, "dfa66747de9ae63030ca32611497c827"),
    (64, "51f0bebf7e3b9d92fc49741779363cfe"),
]


def test_aes_fips197_vector() -> None:
    # FIPS-197 appendix C.1.
    key = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
    pt = bytes.fromhex("00112233445566778899aabbccddeeff")
    assert Aes(key).encrypt(pt).hex() == "69c4e0d86a7b0430d8cdb78070b4c55a"


def test_cmac_rfc4493() -> None:
    for n, tag in RFC4493:
        assert PureCmac(RFC4493_KEY).tag(RFC4493_MSG[:n]).hex() == tag
        assert Cmac(RFC4493_KEY).tag(RFC4493_MSG[:n]).hex() == tag
        assert OpensslCmac(RFC4493_KEY).tag(RFC4493_MSG[:n]).hex() == tag


@given(KEY, st.binary(max_size=80))
def test_every_cmac_agrees(key: bytes, msg: bytes) -> None:
    assert PureCmac(key).tag(msg) == Cmac(key).tag(msg) == OpensslCmac(key).tag(msg)


def test_the_server_runs_on_the_aes_instructions_where_they_were_built() -> None:
    if native.c_modules() and native.extensions("protocol._aesni"):
        assert crypto._HAVE_AESNI
        assert Cmac is crypto.NativeCmac


aesni = pytest.importorskip("protocol._aesni", reason="built by make native on x86-64 with AES instructions")


@given(KEY, st.integers(0, 6).flatmap(lambda n: st.binary(min_size=16 * n, max_size=16 * n)))
def test_aesni_ecb_matches_openssl(key: bytes, data: bytes) -> None:
    assert aesni.ecb(key, data) == Cipher(algorithms.AES(key), modes.ECB()).encryptor().update(data)


@given(KEY, st.binary(max_size=100))
def test_aesni_cmac_matches_openssl(key: bytes, msg: bytes) -> None:
    assert aesni.cmac(key, msg) == OpensslCmac(key).tag(msg)


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda: aesni.ecb(bytes(15), bytes(16)), "16 bytes"),
        (lambda: aesni.ecb(bytes(32), bytes(16)), "16 bytes"),
        (lambda: aesni.ecb(bytes(16), bytes(17)), "whole blocks"),
        (lambda: aesni.cmac(bytes(17), b"x"), "16 bytes"),
    ],
)
def test_aesni_refuses_wrong_lengths(call: object, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        call()  # type: ignore[operator]


def test_aesni_takes_any_buffer() -> None:
    key = bytes(range(16))
    assert aesni.ecb(bytearray(key), memoryview(bytes(32))) == aesni.ecb(key, bytes(32))
    with pytest.raises(TypeError):
        aesni.cmac("not bytes", b"")


def test_without_the_c_module_the_server_uses_openssl() -> None:
    """Where the C module is missing (another CPU, nothing built) the same vectors pass on OpenSSL alone."""
    script = textwrap.dedent(
        f"""
        import sys
        sys.modules["protocol._aesni"] = None  # its import now fails, as where it was never built
        from protocol import crypto
        assert not crypto._HAVE_AESNI and crypto.Cmac is crypto.OpensslCmac
        key = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
        assert crypto.Aes(key).encrypt(bytes.fromhex("00112233445566778899aabbccddeeff")).hex() == (
            "69c4e0d86a7b0430d8cdb78070b4c55a")
        for n, tag in {RFC4493!r}:
            assert crypto.Cmac({RFC4493_KEY!r}).tag({RFC4493_MSG!r}[:n]).hex() == tag
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)


def test_aes_rejects_partial_blocks() -> None:
    import pytest

    with pytest.raises(ValueError):
        Aes(bytes(16)).encrypt(bytes(15))
    with pytest.raises(ValueError):
        Aes(bytes(15))
