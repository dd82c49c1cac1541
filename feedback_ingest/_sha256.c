/* SHA-256 of framed rows, straight from Arrow buffers, without the GIL (see digests.py).
 *
 * Row r's message is, for each column: its value's byte length as 8 big-endian bytes, then
 * the value. Hashing streams over the column buffers, so the framed messages are never
 * built. Only the x86 SHA extensions are used: where the CPU lacks them `available()` is
 * False and Python's hashlib (OpenSSL) does the work, as fast as portable C would.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <immintrin.h>
#define HAVE_SHA_NI_CODE 1

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

/* `blocks` 64-byte blocks into `state` (SHA-NI: two rounds per sha256rnds2). */
__attribute__((target("sha,sse4.1,ssse3"))) static void compress(uint32_t state[8],
                                                                 const uint8_t *data,
                                                                 size_t blocks) {
    const __m128i mask = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
    __m128i tmp = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&state[0]), 0xB1);
    __m128i s1 = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&state[4]), 0x1B);
    __m128i s0 = _mm_alignr_epi8(tmp, s1, 8);  /* ABEF */
    s1 = _mm_blend_epi16(s1, tmp, 0xF0);       /* CDGH */
    for (; blocks; blocks--, data += 64) {
        __m128i abef = s0, cdgh = s1, w[16];
        for (int g = 0; g < 4; g++)
            w[g] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(data + 16 * g)), mask);
        for (int g = 4; g < 16; g++)  /* the message schedule, four words at a time */
            w[g] = _mm_sha256msg2_epu32(
                _mm_add_epi32(_mm_sha256msg1_epu32(w[g - 4], w[g - 3]),
                              _mm_alignr_epi8(w[g - 1], w[g - 2], 4)),
                w[g - 1]);
        for (int g = 0; g < 16; g++) {
            __m128i msg = _mm_add_epi32(w[g], _mm_loadu_si128((const __m128i *)&K[4 * g]));
            s1 = _mm_sha256rnds2_epu32(s1, s0, msg);
            s0 = _mm_sha256rnds2_epu32(s0, s1, _mm_shuffle_epi32(msg, 0x0E));
        }
        s0 = _mm_add_epi32(s0, abef);
        s1 = _mm_add_epi32(s1, cdgh);
    }
    tmp = _mm_shuffle_epi32(s0, 0x1B);  /* FEBA */
    s1 = _mm_shuffle_epi32(s1, 0xB1);   /* DCHG */
    _mm_storeu_si128((__m128i *)&state[0], _mm_blend_epi16(tmp, s1, 0xF0));  /* DCBA */
    _mm_storeu_si128((__m128i *)&state[4], _mm_alignr_epi8(s1, tmp, 8));     /* HGFE */
}

static int sha_ni(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_SSE4_1) || !(c & bit_SSSE3)) return 0;
    if (__get_cpuid_max(0, NULL) < 7) return 0;
    __cpuid_count(7, 0, a, b, c, d);
    return (b >> 29) & 1;  /* SHA */
}
#else
#define HAVE_SHA_NI_CODE 0
static int sha_ni(void) { return 0; }
#endif

#if HAVE_SHA_NI_CODE
typedef struct {
    uint32_t h[8];
    uint8_t block[64];
    size_t fill;
    uint64_t total;
} Sha;

static void sha_init(Sha *s) {
    static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(s->h, iv, sizeof iv);
    s->fill = 0;
    s->total = 0;
}

static void sha_update(Sha *s, const uint8_t *p, size_t n) {
    s->total += n;
    if (s->fill) {
        size_t take = 64 - s->fill < n ? 64 - s->fill : n;
        memcpy(s->block + s->fill, p, take);
        s->fill += take, p += take, n -= take;
        if (s->fill < 64) return;
        compress(s->h, s->block, 1);
        s->fill = 0;
    }
    if (n >= 64) {
        compress(s->h, p, n / 64);
        p += n / 64 * 64;
        n %= 64;
    }
    memcpy(s->block, p, n);
    s->fill = n;
}

static void be64(uint8_t out[8], uint64_t v) {
    for (int i = 7; i >= 0; i--, v >>= 8) out[i] = (uint8_t)v;
}

static void sha_final(Sha *s, uint8_t out[32]) {
    uint8_t pad[72] = {0x80}, len[8];
    be64(len, s->total * 8);
    size_t zeros = (s->fill < 56 ? 56 : 120) - s->fill;
    sha_update(s, pad, zeros);
    sha_update(s, len, 8);
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(s->h[i] >> 24), out[4 * i + 1] = (uint8_t)(s->h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(s->h[i] >> 8), out[4 * i + 3] = (uint8_t)s->h[i];
    }
}
#endif

#define MAX_COLUMNS 8

static PyObject *available(PyObject *self, PyObject *unused) {
    (void)self, (void)unused;
    return PyBool_FromLong(sha_ni());
}

/* framed(columns, n) -> 32 * n digest bytes; columns: [(int64 offsets (n + 1), data), ...]. */
static PyObject *framed(PyObject *self, PyObject *args) {
    PyObject *columns, *out = NULL;
    Py_ssize_t n, k, got = 0;
    Py_buffer off[MAX_COLUMNS], dat[MAX_COLUMNS];
    (void)self;
    if (!PyArg_ParseTuple(args, "O!n", &PyList_Type, &columns, &n)) return NULL;
    k = PyList_GET_SIZE(columns);
    if (!sha_ni()) return PyErr_Format(PyExc_RuntimeError, "no SHA extensions on this CPU");
    if (k < 1 || k > MAX_COLUMNS || n < 0)
        return PyErr_Format(PyExc_ValueError, "need 1-%d columns and n >= 0", MAX_COLUMNS);
    for (; got < k; got++) {
        PyObject *item = PyList_GET_ITEM(columns, got);
        if (!PyArg_ParseTuple(item, "y*y*", &off[got], &dat[got])) goto done;
        const int64_t *o = off[got].buf;
        int bad = off[got].len != (n + 1) * 8 || o[0] < 0 || o[n] > dat[got].len;
        for (Py_ssize_t r = 0; r < n && !bad; r++) bad = o[r] > o[r + 1];
        if (bad) {
            PyBuffer_Release(&off[got]), PyBuffer_Release(&dat[got]);
            PyErr_Format(PyExc_ValueError, "columns[%zd]: offsets do not fit the data", got);
            goto done;
        }
    }
    out = PyBytes_FromStringAndSize(NULL, 32 * n);
    if (!out) goto done;
#if HAVE_SHA_NI_CODE
    uint8_t *digests = (uint8_t *)PyBytes_AS_STRING(out);
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t r = 0; r < n; r++) {
        Sha s;
        sha_init(&s);
        for (Py_ssize_t c = 0; c < k; c++) {
            const int64_t *o = off[c].buf;
            uint8_t len[8];
            be64(len, (uint64_t)(o[r + 1] - o[r]));
            sha_update(&s, len, 8);
            sha_update(&s, (const uint8_t *)dat[c].buf + o[r], (size_t)(o[r + 1] - o[r]));
        }
        sha_final(&s, digests + 32 * r);
    }
    Py_END_ALLOW_THREADS
#endif
done:
    for (Py_ssize_t c = 0; c < got; c++) PyBuffer_Release(&off[c]), PyBuffer_Release(&dat[c]);
    return out;
}

static PyMethodDef methods[] = {
    {"available", available, METH_NOARGS, "Whether this CPU has the SHA extensions."},
    {"framed", framed, METH_VARARGS,
     "framed(columns, n) -> SHA-256 digests (32 bytes per row) of each row's framed values"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, .m_name = "_sha256", .m_size = -1, .m_methods = methods,
};

PyMODINIT_FUNC PyInit__sha256(void) { return PyModule_Create(&module); }
