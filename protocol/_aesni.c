/* AES-128 and AES-CMAC (RFC 4493) on the CPU's AES instructions, for the server's hot path (protocol/crypto.py).
 *
 * Why it exists: every alarm from a ring not heard lately needs two AES keys set up before it can be pushed, one
 * to verify its MIC and one to decrypt it. Through `cryptography` each set-up builds an OpenSSL context: 5-9 us
 * when the code is hot, 20-90 us when it is not (on this kind of VM an alarm usually finds it cold). Here a key
 * is expanded in every call, about forty nanoseconds, and nothing is kept: no context to build, cache or free.
 *
 * The rounds are the CPU's (AESENC), so timing does not depend on key or data, as with OpenSSL. The module
 * refuses to import on a CPU without them; crypto.py then stays on OpenSSL. Tested against OpenSSL and the
 * published vectors (tests/protocol/test_crypto.py).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>
#include <wmmintrin.h>

#define BLOCK 16

/* The next round key: the previous one's words each XORed with all the words before them, and with the
 * substituted, rotated last word (plus the round constant) that AESKEYGENASSIST computed. */
static __m128i next_round_key(__m128i key, __m128i assist)
{
    assist = _mm_shuffle_epi32(assist, 0xff);
    key = _mm_xor_si128(key, _mm_slli_si128(key, 4));
    key = _mm_xor_si128(key, _mm_slli_si128(key, 4));
    key = _mm_xor_si128(key, _mm_slli_si128(key, 4));
    return _mm_xor_si128(key, assist);
}

static void expand_key(const unsigned char *key, __m128i rk[11])
{
    rk[0] = _mm_loadu_si128((const __m128i *)key);
    /* The round constant must be an immediate operand, hence one line per round. */
    rk[1] = next_round_key(rk[0], _mm_aeskeygenassist_si128(rk[0], 0x01));
    rk[2] = next_round_key(rk[1], _mm_aeskeygenassist_si128(rk[1], 0x02));
    rk[3] = next_round_key(rk[2], _mm_aeskeygenassist_si128(rk[2], 0x04));
    rk[4] = next_round_key(rk[3], _mm_aeskeygenassist_si128(rk[3], 0x08));
    rk[5] = next_round_key(rk[4], _mm_aeskeygenassist_si128(rk[4], 0x10));
    rk[6] = next_round_key(rk[5], _mm_aeskeygenassist_si128(rk[5], 0x20));
    rk[7] = next_round_key(rk[6], _mm_aeskeygenassist_si128(rk[6], 0x40));
    rk[8] = next_round_key(rk[7], _mm_aeskeygenassist_si128(rk[7], 0x80));
    rk[9] = next_round_key(rk[8], _mm_aeskeygenassist_si128(rk[8], 0x1b));
    rk[10] = next_round_key(rk[9], _mm_aeskeygenassist_si128(rk[9], 0x36));
}

static __m128i encrypt_block(const __m128i rk[11], __m128i b)
{
    b = _mm_xor_si128(b, rk[0]);
    for (int i = 1; i < 10; i++)
        b = _mm_aesenc_si128(b, rk[i]);
    return _mm_aesenclast_si128(b, rk[10]);
}

static void wipe(void *p, size_t n)
{
    /* Round keys are key material: leave none on the stack (a volatile store the compiler cannot drop). */
    volatile unsigned char *v = (volatile unsigned char *)p;
    while (n--)
        *v++ = 0;
}

/* Multiplication by x in GF(2^128) with the CMAC polynomial (RFC 4493 2.3), big-endian, without a branch on
 * the key-derived bit. */
static void double_block(unsigned char b[BLOCK])
{
    unsigned char carry = b[0] >> 7;
    for (int i = 0; i < BLOCK - 1; i++)
        b[i] = (unsigned char)((b[i] << 1) | (b[i + 1] >> 7));
    b[BLOCK - 1] = (unsigned char)((b[BLOCK - 1] << 1) ^ (0x87 & (0 - carry)));
}

static int check_key(const Py_buffer *key)
{
    if (key->len != BLOCK) {
        PyErr_SetString(PyExc_ValueError, "AES-128 key must be 16 bytes");
        return -1;
    }
    return 0;
}

static PyObject *ecb(PyObject *self, PyObject *args)
{
    Py_buffer key, data;
    if (!PyArg_ParseTuple(args, "y*y*:ecb", &key, &data))
        return NULL;
    PyObject *out = NULL;
    if (check_key(&key) < 0)
        goto done;
    if (data.len % BLOCK) {
        PyErr_SetString(PyExc_ValueError, "ECB input must be whole blocks");
        goto done;
    }
    out = PyBytes_FromStringAndSize(NULL, data.len);
    if (out == NULL)
        goto done;
    __m128i rk[11];
    expand_key(key.buf, rk);
    const unsigned char *in = data.buf;
    unsigned char *dst = (unsigned char *)PyBytes_AS_STRING(out);
    for (Py_ssize_t at = 0; at < data.len; at += BLOCK) {
        __m128i b = encrypt_block(rk, _mm_loadu_si128((const __m128i *)(in + at)));
        _mm_storeu_si128((__m128i *)(dst + at), b);
    }
    wipe(rk, sizeof rk);
done:
    PyBuffer_Release(&key);
    PyBuffer_Release(&data);
    return out;
}

static PyObject *cmac(PyObject *self, PyObject *args)
{
    Py_buffer key, msg;
    if (!PyArg_ParseTuple(args, "y*y*:cmac", &key, &msg))
        return NULL;
    PyObject *out = NULL;
    if (check_key(&key) < 0)
        goto done;
    __m128i rk[11];
    expand_key(key.buf, rk);
    unsigned char sub[BLOCK], last[BLOCK];
    /* K1 = 2L, K2 = 4L with L = E(0) (RFC 4493 2.3). */
    _mm_storeu_si128((__m128i *)sub, encrypt_block(rk, _mm_setzero_si128()));
    double_block(sub);
    const unsigned char *m = msg.buf;
    Py_ssize_t n = msg.len;
    Py_ssize_t blocks = n ? (n + BLOCK - 1) / BLOCK : 1;
    int whole = n > 0 && n % BLOCK == 0;
    __m128i x = _mm_setzero_si128();
    for (Py_ssize_t i = 0; i < blocks - 1; i++)
        x = encrypt_block(rk, _mm_xor_si128(x, _mm_loadu_si128((const __m128i *)(m + i * BLOCK))));
    Py_ssize_t tail = n - (blocks - 1) * BLOCK;
    memset(last, 0, BLOCK);
    if (tail)
        memcpy(last, m + (blocks - 1) * BLOCK, (size_t)tail);
    if (!whole) {
        last[tail] = 0x80;
        double_block(sub);
    }
    __m128i final = _mm_xor_si128(_mm_loadu_si128((const __m128i *)last), _mm_loadu_si128((const __m128i *)sub));
    x = encrypt_block(rk, _mm_xor_si128(x, final));
    out = PyBytes_FromStringAndSize(NULL, BLOCK);
    if (out != NULL)
        _mm_storeu_si128((__m128i *)PyBytes_AS_STRING(out), x);
    wipe(rk, sizeof rk);
    wipe(sub, sizeof sub);
done:
    PyBuffer_Release(&key);
    PyBuffer_Release(&msg);
    return out;
}

static PyMethodDef methods[] = {
    {"ecb", ecb, METH_VARARGS, "ecb(key, data) -> bytes: AES-128 encryption of each 16-byte block of data."},
    {"cmac", cmac, METH_VARARGS, "cmac(key, msg) -> bytes: the 16-byte AES-CMAC (RFC 4493) of msg."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "protocol._aesni", "AES-128 and AES-CMAC on the CPU's AES instructions.", -1, methods,
};

PyMODINIT_FUNC PyInit__aesni(void)
{
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("aes")) {
        PyErr_SetString(PyExc_ImportError, "this CPU has no AES instructions");
        return NULL;
    }
    return PyModule_Create(&module);
}
