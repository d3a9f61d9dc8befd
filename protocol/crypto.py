"""The one place that knows which AES implementation the runtime has.

MicroPython (the key ring) has ``cryptolib.aes`` in ECB mode; CPython (gateways, dispatch, tools) has
``cryptography``. Everything above this module sees two things only: :class:`Aes` (ECB block encryption, the
building block of the pseudonym, the keystream and the key derivation) and :class:`Cmac` (RFC 4493 AES-CMAC,
the MIC). Both runtimes share the pure CMAC below; CPython uses a faster one, and a test checks that they agree.

On CPython OpenSSL does the AES, through ``cryptography``: each key's context is built once (5-9 us, 20-90 us when
that code is out of the CPU's caches) and kept for reuse. A C module on the CPU's AES instructions, which needed
no context, was measured against it and removed: the resolver's steady step was 1.0-1.2x faster with it, a ring's
first frame about 2x, and the service's CPU per uplink moved by less than floods differ (docs/dispatch.md,
"Compiled hot path").
"""

try:
    import cryptolib  # type: ignore[import-not-found]

    _HAVE_CRYPTOLIB = True
except ImportError:
    _HAVE_CRYPTOLIB = False

if not _HAVE_CRYPTOLIB:
    from cryptography.hazmat.primitives import cmac as _cmac
    from cryptography.hazmat.primitives.ciphers import Cipher as _Cipher
    from cryptography.hazmat.primitives.ciphers import algorithms as _algorithms
    from cryptography.hazmat.primitives.ciphers import modes as _modes

BLOCK = 16
_ECB = 1  # cryptolib's mode number for ECB


class Aes:
    """AES-128 in ECB mode, keyed once. ``encrypt`` takes any whole number of 16-byte blocks."""

    def __init__(self, key: bytes) -> None:
        if len(key) != BLOCK:
            raise ValueError("AES-128 key must be 16 bytes")
        self.key = bytes(key)
        if _HAVE_CRYPTOLIB:
            self._aes = cryptolib.aes(self.key, _ECB)
        else:
            # An ECB encryptor keeps no state between calls, so one context serves every block.
            self._enc = _Cipher(_algorithms.AES(self.key), _modes.ECB()).encryptor()

    def encrypt(self, data: bytes) -> bytes:
        if len(data) % BLOCK:
            raise ValueError("ECB input must be whole blocks")
        if _HAVE_CRYPTOLIB:
            return bytes(self._aes.encrypt(data))
        return self._enc.update(data)


def _double(block: bytes) -> bytes:
    # Multiplication by x in GF(2^128) with the CMAC polynomial (RFC 4493 section 2.3).
    out = bytearray(BLOCK)
    carry = 0
    for i in range(BLOCK - 1, -1, -1):
        v = block[i]
        out[i] = ((v << 1) | carry) & 0xFF
        carry = v >> 7
    if carry:
        out[BLOCK - 1] ^= 0x87
    return bytes(out)


def _xor_into(acc: bytearray, data: bytes, offset: int) -> None:
    for i in range(BLOCK):
        acc[i] ^= data[offset + i]


class PureCmac:
    """AES-CMAC (RFC 4493) built on :class:`Aes`; runs unchanged on MicroPython and CPython."""

    def __init__(self, key: bytes) -> None:
        self._aes = Aes(key)
        l_block = self._aes.encrypt(bytes(BLOCK))
        self._k1 = _double(l_block)
        self._k2 = _double(self._k1)

    def tag(self, msg: bytes) -> bytes:
        n = len(msg)
        full = n > 0 and n % BLOCK == 0
        blocks = (n + BLOCK - 1) // BLOCK if n else 1
        x = bytearray(BLOCK)
        for b in range(blocks - 1):
            _xor_into(x, msg, b * BLOCK)
            x = bytearray(self._aes.encrypt(bytes(x)))
        last = bytearray(BLOCK)
        start = (blocks - 1) * BLOCK
        tail = msg[start:]
        last[: len(tail)] = tail
        if full:
            _xor_into(last, self._k1, 0)
        else:
            last[len(tail)] = 0x80
            _xor_into(last, self._k2, 0)
        _xor_into(x, bytes(last), 0)
        return self._aes.encrypt(bytes(x))


class OpensslCmac:
    """AES-CMAC through OpenSSL (CPython only): a keyed context is built once and copied per message."""

    def __init__(self, key: bytes) -> None:
        self._ctx = _cmac.CMAC(_algorithms.AES(bytes(key)))

    def tag(self, msg: bytes) -> bytes:
        c = self._ctx.copy()
        c.update(msg)
        return c.finalize()


Cmac: "type[PureCmac] | type[OpensslCmac]" = PureCmac if _HAVE_CRYPTOLIB else OpensslCmac
