"""The AES shim against published vectors, and the pure CMAC (the device's) and OpenSSL's (the server's) against
each other."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

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


def test_the_server_runs_on_openssl() -> None:
    assert Cmac is OpensslCmac


def test_aes_rejects_partial_blocks() -> None:
    with pytest.raises(ValueError):
        Aes(bytes(16)).encrypt(bytes(15))
    with pytest.raises(ValueError):
        Aes(bytes(15))
