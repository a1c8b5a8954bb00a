/* The ledger's byte kernels in C (the optional native half of ledger/_accel.py).
 *
 * Each function has a pure-Python twin of the same name, signature and results in ledger/_kernels.py;
 * ledger/_accel.py imports this module or that one, once, and every caller uses whichever it got. The
 * protocol is the same on both sides: a kernel returns its answer, or raises ValueError (TypeError for
 * an argument of the wrong kind) without saying more; the Python caller that needs a precise message
 * (ledger.canonical) finds it with the reference code. Only the stable ABI of Python 3.11 is used
 * (Py_LIMITED_API): no object is read by its layout. Every read of input bytes is bounds-checked, and
 * every walk over a value or an entry stops at MAX_DEPTH levels of maps and lists.
 *
 *   encode_value(value) -> bytes
 *       the canonical msgpack bytes of a value (docs/formats.md §1): maps with str keys, written sorted
 *       by their UTF-8 bytes; lists and tuples as arrays; str, bytes (bytearray and memoryview written
 *       as their bytes), int in [INT_MIN, INT_MAX] in its smallest form, bool, None. ValueError for
 *       anything else (another type, a subclass, a lone surrogate, nesting deeper than MAX_DEPTH).
 *   entry_and_leaf(payload, seq, prev, t, kind) -> (bytes, leaf hash)
 *       encode_value({**payload, "seq": seq, "prev": prev, "t": t, "kind": kind}) and its RFC 6962 leaf
 *       hash SHA-256(0x00 || bytes); ValueError also for a payload that is not a dict or sets one of
 *       the four keys.
 *   is_canonical_entry(data) -> bool
 *       whether `data` is a bytes object holding exactly one canonical entry: a map of str keys strictly
 *       ascending by UTF-8 bytes, every header and integer in its smallest form, strict UTF-8, no float
 *       or ext, nothing nested deeper than MAX_DEPTH, nothing after it.
 *   check_chunk(rows, start, prev, last_t) -> (leaf hashes joined, last t) | None
 *       for a list of stored (seq, data, leaf) rows of a ledger, numbered from `start`, following the
 *       entry whose leaf hash is `prev` and time is `last_t`: the leaf hashes if every row is right
 *       (seq, canonical bytes, stored leaf hash, the entry's seq, prev chain, t never decreasing, kind
 *       a non-empty str); None if any is not (the auditor then finds and names it).
 *   hash_pairs(level, start, stop) -> bytes
 *       the RFC 6962 interior hashes SHA-256(0x01 || level[o:o+64]) for o in range(start, stop, 64).
 *   inclusion_root(leaf, index, size, path) -> bytes | None
 *       the root an RFC 9162 inclusion path (its 32-byte hashes joined) leads to from `leaf` at `index`
 *       in a tree of `size` < 2**63 leaves; None for anything malformed.
 *   proven_entry_root(text, index, size, path, lines) -> (data, leaf hash, root) | None
 *       a proven entry given in base64: `data` the bytes whose canonical base64 spelling (RFC 4648,
 *       padded, zero pad bits) is exactly the str `text`, one canonical entry whose seq is `index`;
 *       its leaf hash; the root its inclusion path leads to in a tree of `size`. The path is the str
 *       `path`: with `lines` false the canonical base64 of its hashes joined, with `lines` true one
 *       line per hash, each the canonical base64 of 32 bytes, joined by "\n" ("" for no hash).
 *       None for anything else (the certificate checks then name what is wrong).
 *
 *   MAX_DEPTH, HASH_SIZE, INT_MIN, INT_MAX, VALUE_TYPES (the type names encode_value takes):
 *       what this module supports; a test checks that they are ledger.canonical_form's.
 *
 * SHA-256 is OpenSSL's (libcrypto).
 */
#define Py_LIMITED_API 0x030B0000
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <openssl/sha.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define HASH 32
#define MAX_DEPTH 32
#define MAX_LEN 0xffffffffULL /* the longest str, bin, array or map msgpack can frame */

static void
prefixed_hash(unsigned char prefix, const unsigned char *data, size_t n, unsigned char out[HASH])
{
    SHA256_CTX c;
    SHA256_Init(&c);
    SHA256_Update(&c, &prefix, 1);
    SHA256_Update(&c, data, n);
    SHA256_Final(out, &c);
}

/* ---------------------------------------------------------------------------------------------
 * Encoding: a growing buffer and msgpack's headers, in their smallest forms.
 */

typedef struct {
    unsigned char *p;
    Py_ssize_t len, cap;
} buf_t;

static int
unencodable(void)
{
    PyErr_SetString(PyExc_ValueError, "no canonical encoding");
    return -1;
}

static unsigned char *
reserve(buf_t *b, Py_ssize_t n)
{
    if (n > PY_SSIZE_T_MAX - b->len) { PyErr_NoMemory(); return NULL; }
    if (b->len + n > b->cap) {
        Py_ssize_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n) {
            if (cap > PY_SSIZE_T_MAX / 2) { cap = b->len + n; break; }
            cap *= 2;
        }
        unsigned char *p = PyMem_Realloc(b->p, (size_t)cap);
        if (p == NULL) { PyErr_NoMemory(); return NULL; }
        b->p = p;
        b->cap = cap;
    }
    unsigned char *at = b->p + b->len;
    b->len += n;
    return at;
}

static void
put_be(unsigned char *p, uint64_t x, int n)
{
    for (int i = n - 1; i >= 0; i--, x >>= 8) p[i] = (unsigned char)x;
}

/* A header byte followed by a big-endian number of `n` bytes. */
static int
put_head(buf_t *b, unsigned char head, uint64_t x, int n)
{
    unsigned char *p = reserve(b, 1 + n);
    if (p == NULL) return -1;
    p[0] = head;
    put_be(p + 1, x, n);
    return 0;
}

/* A map's or array's header: fix (n < 16), 16-bit or 32-bit length. */
static int
put_container(buf_t *b, Py_ssize_t n, unsigned char fix, unsigned char h16)
{
    if ((uint64_t)n > MAX_LEN) return unencodable();
    if (n < 16) return put_head(b, (unsigned char)(fix | n), 0, 0);
    if (n < 65536) return put_head(b, h16, (uint64_t)n, 2);
    return put_head(b, (unsigned char)(h16 + 1), (uint64_t)n, 4);
}

static int
put_raw(buf_t *b, const char *s, Py_ssize_t n)
{
    unsigned char *p = reserve(b, n);
    if (p == NULL) return -1;
    if (n) memcpy(p, s, (size_t)n);
    return 0;
}

static int
put_str(buf_t *b, const char *s, Py_ssize_t n)
{
    int r;
    if ((uint64_t)n > MAX_LEN) return unencodable();
    if (n < 32) r = put_head(b, (unsigned char)(0xa0 | n), 0, 0);
    else if (n < 256) r = put_head(b, 0xd9, (uint64_t)n, 1);
    else if (n < 65536) r = put_head(b, 0xda, (uint64_t)n, 2);
    else r = put_head(b, 0xdb, (uint64_t)n, 4);
    return r < 0 ? -1 : put_raw(b, s, n);
}

static int
put_bin(buf_t *b, const char *s, Py_ssize_t n)
{
    int r;
    if ((uint64_t)n > MAX_LEN) return unencodable();
    if (n < 256) r = put_head(b, 0xc4, (uint64_t)n, 1);
    else if (n < 65536) r = put_head(b, 0xc5, (uint64_t)n, 2);
    else r = put_head(b, 0xc6, (uint64_t)n, 4);
    return r < 0 ? -1 : put_raw(b, s, n);
}

static int
put_int(buf_t *b, PyObject *v)
{
    int overflow = 0;
    long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (x == -1 && PyErr_Occurred()) return -1;
    if (overflow < 0) return unencodable();
    if (overflow > 0) {
        unsigned long long u = PyLong_AsUnsignedLongLong(v);
        if (u == (unsigned long long)-1 && PyErr_Occurred()) {
            if (!PyErr_ExceptionMatches(PyExc_OverflowError)) return -1;
            PyErr_Clear();
            return unencodable();
        }
        return put_head(b, 0xcf, u, 8);
    }
    if (x >= 0) {
        uint64_t u = (uint64_t)x;
        if (u < 128) return put_head(b, (unsigned char)u, 0, 0);
        if (u < 256) return put_head(b, 0xcc, u, 1);
        if (u < 65536) return put_head(b, 0xcd, u, 2);
        if (u <= 0xffffffffULL) return put_head(b, 0xce, u, 4);
        return put_head(b, 0xcf, u, 8);
    }
    if (x >= -32) return put_head(b, (unsigned char)(int8_t)x, 0, 0);
    if (x >= -128) return put_head(b, 0xd0, (uint64_t)x, 1);
    if (x >= -32768) return put_head(b, 0xd1, (uint64_t)x, 2);
    if (x >= -2147483648LL) return put_head(b, 0xd2, (uint64_t)x, 4);
    return put_head(b, 0xd3, (uint64_t)x, 8);
}

/* ---------------------------------------------------------------------------------------------
 * Encoding values: maps sorted by their keys' UTF-8 bytes.
 */

typedef struct {
    const char *key;
    Py_ssize_t klen;
    PyObject *value;
} pair_t;

static int
key_cmp(const pair_t *x, const pair_t *y)
{
    Py_ssize_t n = x->klen < y->klen ? x->klen : y->klen;
    int c = n ? memcmp(x->key, y->key, (size_t)n) : 0;
    if (c) return c;
    return (x->klen > y->klen) - (x->klen < y->klen);
}

static int
pair_cmp(const void *a, const void *b)
{
    return key_cmp(a, b);
}

static int put_value(buf_t *b, PyObject *v, int depth);

/* Sort `pairs`, refuse a repeated key, write the map (its values `depth` containers deep). */
static int
put_pairs(buf_t *b, pair_t *pairs, Py_ssize_t n, int depth)
{
    if (n > 1) qsort(pairs, (size_t)n, sizeof(pair_t), pair_cmp);
    for (Py_ssize_t i = 1; i < n; i++) {
        if (key_cmp(&pairs[i - 1], &pairs[i]) == 0) return unencodable();
    }
    if (put_container(b, n, 0x80, 0xde) < 0) return -1;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (put_str(b, pairs[i].key, pairs[i].klen) < 0 || put_value(b, pairs[i].value, depth) < 0) return -1;
    }
    return 0;
}

/* A str key's UTF-8 bytes into `pair`; -1 with ValueError for a non-str key or a lone surrogate. */
static int
take_key(pair_t *pair, PyObject *key, PyObject *value)
{
    if (!PyUnicode_CheckExact(key)) return unencodable();
    pair->key = PyUnicode_AsUTF8AndSize(key, &pair->klen);
    if (pair->key == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_UnicodeError)) return -1;
        PyErr_Clear();
        return unencodable();
    }
    pair->value = value;
    return 0;
}

static const char *const RESERVED[4] = {"seq", "prev", "t", "kind"};

/* A dict's map, with the ledger's four fields added when `extra` is not NULL. */
static int
put_dict(buf_t *b, PyObject *dict, PyObject *const *extra, int depth)
{
    Py_ssize_t size = PyDict_Size(dict);
    if (size < 0) return -1;
    Py_ssize_t n = size + (extra ? 4 : 0);
    pair_t stack[32];
    pair_t *pairs = stack;
    if (n > (Py_ssize_t)(sizeof(stack) / sizeof(stack[0]))) {
        if ((size_t)n > PY_SSIZE_T_MAX / sizeof(pair_t)) { PyErr_NoMemory(); return -1; }
        pairs = PyMem_Malloc(sizeof(pair_t) * (size_t)n);
        if (pairs == NULL) { PyErr_NoMemory(); return -1; }
    }
    int r = 0;
    Py_ssize_t pos = 0, i = 0;
    PyObject *k, *v;
    while (PyDict_Next(dict, &pos, &k, &v)) {
        if (i >= size || take_key(&pairs[i], k, v) < 0) { r = i >= size ? unencodable() : -1; goto done; }
        i++;
    }
    if (i != size) { r = unencodable(); goto done; }
    if (extra) {
        for (int j = 0; j < 4; j++, i++) {
            pairs[i].key = RESERVED[j];
            pairs[i].klen = (Py_ssize_t)strlen(RESERVED[j]);
            pairs[i].value = extra[j];
        }
    }
    r = put_pairs(b, pairs, n, depth + 1);
done:
    if (pairs != stack) PyMem_Free(pairs);
    return r;
}

/* Any canonical value; `depth` counts the maps and lists around it. */
static int
put_value(buf_t *b, PyObject *v, int depth)
{
    if (v == Py_None) return put_head(b, 0xc0, 0, 0);
    if (v == Py_True) return put_head(b, 0xc3, 0, 0);
    if (v == Py_False) return put_head(b, 0xc2, 0, 0);
    if (PyLong_CheckExact(v)) return put_int(b, v);
    if (PyUnicode_CheckExact(v)) {
        pair_t s;
        if (take_key(&s, v, NULL) < 0) return -1;
        return put_str(b, s.key, s.klen);
    }
    if (PyBytes_CheckExact(v)) {
        char *s;
        Py_ssize_t n;
        if (PyBytes_AsStringAndSize(v, &s, &n) < 0) return -1;
        return put_bin(b, s, n);
    }
    if (PyByteArray_CheckExact(v) || PyMemoryView_Check(v)) {
        PyObject *copy = PyBytes_FromObject(v); /* as bytes(v) */
        if (copy == NULL) return -1;
        int r = put_value(b, copy, depth);
        Py_DECREF(copy);
        return r;
    }
    if (PyDict_CheckExact(v)) {
        if (depth >= MAX_DEPTH) return unencodable();
        return put_dict(b, v, NULL, depth);
    }
    if (PyList_CheckExact(v) || PyTuple_CheckExact(v)) {
        if (depth >= MAX_DEPTH) return unencodable();
        int is_list = PyList_CheckExact(v);
        Py_ssize_t n = is_list ? PyList_Size(v) : PyTuple_Size(v);
        if (n < 0 || put_container(b, n, 0x90, 0xdc) < 0) return -1;
        for (Py_ssize_t i = 0; i < n; i++) {
            PyObject *item = is_list ? PyList_GetItem(v, i) : PyTuple_GetItem(v, i);
            if (item == NULL || put_value(b, item, depth + 1) < 0) return -1;
        }
        return 0;
    }
    return unencodable();
}

static PyObject *
sp_encode_value(PyObject *self, PyObject *value)
{
    buf_t b = {NULL, 0, 0};
    PyObject *out = NULL;
    if (put_value(&b, value, 0) == 0) out = PyBytes_FromStringAndSize((const char *)b.p, b.len);
    PyMem_Free(b.p);
    return out;
}

static PyObject *
sp_entry_and_leaf(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "entry_and_leaf(payload, seq, prev, t, kind)");
        return NULL;
    }
    if (!PyDict_CheckExact(args[0])) { unencodable(); return NULL; }
    buf_t b = {NULL, 0, 0};
    PyObject *out = NULL;
    if (put_dict(&b, args[0], args + 1, 0) == 0) {
        unsigned char leaf[HASH];
        prefixed_hash(0, b.p, (size_t)b.len, leaf);
        out = Py_BuildValue("(y#y#)", (const char *)b.p, b.len, (const char *)leaf, (Py_ssize_t)HASH);
    }
    PyMem_Free(b.p);
    return out;
}

/* ---------------------------------------------------------------------------------------------
 * Validating canonical entry bytes.
 */

typedef struct {
    const unsigned char *p, *end;
} reader_t;

/* The ledger's fields of a top-level map, as read. */
enum { F_SEQ, F_PREV, F_T, F_KIND };
enum { T_NONE, T_UINT, T_OTHER_INT, T_STR, T_BIN, T_OTHER };

typedef struct {
    int type;
    uint64_t u;
    const unsigned char *buf;
    Py_ssize_t len;
} field_t;

/* The next `n` bytes as a big-endian number; 0 (nothing consumed) if there are not that many. */
static int
take_be(reader_t *r, int n, uint64_t *out)
{
    if (r->end - r->p < n) return 0;
    uint64_t x = 0;
    for (int i = 0; i < n; i++) x = (x << 8) | r->p[i];
    r->p += n;
    *out = x;
    return 1;
}

static int
take_bytes(reader_t *r, uint64_t n, const unsigned char **at)
{
    if ((uint64_t)(r->end - r->p) < n) return 0;
    *at = r->p;
    r->p += n;
    return 1;
}

/* Strict UTF-8 as Python's codec reads it: no surrogates, no overlong forms, nothing above U+10FFFF. */
static int
utf8_ok(const unsigned char *s, Py_ssize_t n)
{
    const unsigned char *end = s + n;
    while (s < end) {
        unsigned char c = *s;
        if (c < 0x80) { s++; continue; }
        int more;
        unsigned char lo = 0x80, hi = 0xbf; /* the range of the second byte */
        if (c >= 0xc2 && c <= 0xdf) more = 1;
        else if (c >= 0xe0 && c <= 0xef) { more = 2; if (c == 0xe0) lo = 0xa0; if (c == 0xed) hi = 0x9f; }
        else if (c >= 0xf0 && c <= 0xf4) { more = 3; if (c == 0xf0) lo = 0x90; if (c == 0xf4) hi = 0x8f; }
        else return 0;
        if (end - s <= more || s[1] < lo || s[1] > hi) return 0;
        for (int i = 2; i <= more; i++) {
            if ((s[i] & 0xc0) != 0x80) return 0;
        }
        s += more + 1;
    }
    return 1;
}

/* A str in its smallest header, valid UTF-8. */
static int
read_str(reader_t *r, const unsigned char **s, Py_ssize_t *len)
{
    if (r->p >= r->end) return 0;
    unsigned char h = *r->p++;
    uint64_t n;
    if (h >= 0xa0 && h <= 0xbf) n = h & 0x1f;
    else if (h == 0xd9) { if (!take_be(r, 1, &n) || n < 32) return 0; }
    else if (h == 0xda) { if (!take_be(r, 2, &n) || n < 256) return 0; }
    else if (h == 0xdb) { if (!take_be(r, 4, &n) || n < 65536) return 0; }
    else return 0;
    if (!take_bytes(r, n, s) || !utf8_ok(*s, (Py_ssize_t)n)) return 0;
    *len = (Py_ssize_t)n;
    return 1;
}

static int read_value(reader_t *r, int depth, field_t *out);

/* The body of a map of `n` pairs (`depth`: the containers it is in, itself included); the ledger's
 * fields are reported in `fields` (for the entry itself) unless it is NULL. */
static int
read_map(reader_t *r, uint64_t n, int depth, field_t *fields)
{
    const unsigned char *prev = NULL;
    Py_ssize_t prev_len = 0;
    for (uint64_t i = 0; i < n; i++) {
        const unsigned char *key;
        Py_ssize_t klen;
        if (!read_str(r, &key, &klen)) return 0;
        if (prev != NULL) {
            Py_ssize_t m = prev_len < klen ? prev_len : klen;
            int c = m ? memcmp(prev, key, (size_t)m) : 0;
            if (c > 0 || (c == 0 && prev_len >= klen)) return 0; /* not strictly ascending */
        }
        prev = key;
        prev_len = klen;
        field_t v;
        if (!read_value(r, depth, &v)) return 0;
        if (fields != NULL) {
            for (int f = 0; f < 4; f++) {
                if ((size_t)klen == strlen(RESERVED[f]) && memcmp(key, RESERVED[f], (size_t)klen) == 0) fields[f] = v;
            }
        }
    }
    return 1;
}

static int
read_items(reader_t *r, uint64_t n, int depth)
{
    for (uint64_t i = 0; i < n; i++) {
        field_t v;
        if (!read_value(r, depth, &v)) return 0;
    }
    return 1;
}

/* One value (`depth`: the containers around it); what it is goes into `out`. */
static int
read_value(reader_t *r, int depth, field_t *out)
{
    out->type = T_OTHER;
    if (r->p >= r->end) return 0;
    unsigned char h = *r->p;
    uint64_t n;
    if (h <= 0x7f) { r->p++; out->type = T_UINT; out->u = h; return 1; }
    if (h >= 0xe0) { r->p++; out->type = T_OTHER_INT; return 1; }
    if ((h >= 0xa0 && h <= 0xbf) || (h >= 0xd9 && h <= 0xdb)) {
        if (!read_str(r, &out->buf, &out->len)) return 0;
        out->type = T_STR;
        return 1;
    }
    r->p++;
    if (h >= 0x80 && h <= 0x9f) {
        if (depth >= MAX_DEPTH) return 0;
        return h <= 0x8f ? read_map(r, h & 0x0f, depth + 1, NULL) : read_items(r, h & 0x0f, depth + 1);
    }
    switch (h) {
    case 0xc0: case 0xc2: case 0xc3:
        return 1;
    case 0xc4: case 0xc5: case 0xc6: {
        static const uint64_t least[3] = {0, 256, 65536};
        if (!take_be(r, h == 0xc4 ? 1 : h == 0xc5 ? 2 : 4, &n) || n < least[h - 0xc4]) return 0;
        if (!take_bytes(r, n, &out->buf)) return 0;
        out->type = T_BIN;
        out->len = (Py_ssize_t)n;
        return 1;
    }
    case 0xcc: case 0xcd: case 0xce: case 0xcf: {
        static const uint64_t least[4] = {128, 256, 65536, 0x100000000ULL};
        if (!take_be(r, 1 << (h - 0xcc), &n) || n < least[h - 0xcc]) return 0;
        out->type = T_UINT;
        out->u = n;
        return 1;
    }
    case 0xd0: case 0xd1: case 0xd2: case 0xd3: {
        /* A negative number below the range of the next smaller form (any other has a smaller one). */
        static const uint64_t below[4] = {0x80 - 32, 0x8000 - 128, 0x80000000ULL - 32768, 0x8000000000000000ULL - 2147483648ULL};
        int w = 1 << (h - 0xd0);
        if (!take_be(r, w, &n)) return 0;
        uint64_t sign = 1ULL << (8 * w - 1);
        if (!(n & sign)) return 0;                      /* not negative: the unsigned form is smaller */
        uint64_t magnitude_from_min = n & (sign - 1);   /* n - (-2**(8w-1)) */
        if (magnitude_from_min >= below[h - 0xd0]) return 0;
        out->type = T_OTHER_INT;
        return 1;
    }
    case 0xdc: case 0xdd: case 0xde: case 0xdf: {
        int w = (h == 0xdc || h == 0xde) ? 2 : 4;
        if (!take_be(r, w, &n) || n < (w == 2 ? 16u : 65536u) || depth >= MAX_DEPTH) return 0;
        return h >= 0xde ? read_map(r, n, depth + 1, NULL) : read_items(r, n, depth + 1);
    }
    default:
        return 0; /* 0xc1 (never used), floats, ext */
    }
}

/* Whether data[0:len] is exactly one canonical entry; its ledger fields into `fields`. */
static int
read_entry(const unsigned char *data, Py_ssize_t len, field_t fields[4])
{
    reader_t r = {data, data + len};
    for (int f = 0; f < 4; f++) fields[f].type = T_NONE;
    if (len < 1) return 0;
    unsigned char h = *r.p++;
    uint64_t n;
    if (h >= 0x80 && h <= 0x8f) n = h & 0x0f;
    else if (h == 0xde) { if (!take_be(&r, 2, &n) || n < 16) return 0; }
    else if (h == 0xdf) { if (!take_be(&r, 4, &n) || n < 65536) return 0; }
    else return 0;
    return read_map(&r, n, 1, fields) && r.p == r.end;
}

static PyObject *
sp_is_canonical_entry(PyObject *self, PyObject *data)
{
    char *s;
    Py_ssize_t n;
    field_t fields[4];
    if (!PyBytes_CheckExact(data)) Py_RETURN_FALSE;
    if (PyBytes_AsStringAndSize(data, &s, &n) < 0) return NULL;
    return PyBool_FromLong(read_entry((const unsigned char *)s, n, fields));
}

/* An exact, non-negative int below 2**64 into `out`; 0 (no error set) for anything else. */
static int
take_u64(PyObject *o, uint64_t *out)
{
    if (!PyLong_CheckExact(o)) return 0;
    unsigned long long u = PyLong_AsUnsignedLongLong(o);
    if (u == (unsigned long long)-1 && PyErr_Occurred()) { PyErr_Clear(); return 0; }
    *out = u;
    return 1;
}

/* An exact bytes object's contents; 0 (no error set) for anything else. */
static int
take_bytes_object(PyObject *o, const unsigned char **s, Py_ssize_t *n)
{
    char *p;
    if (!PyBytes_CheckExact(o) || PyBytes_AsStringAndSize(o, &p, n) < 0) { PyErr_Clear(); return 0; }
    *s = (const unsigned char *)p;
    return 1;
}

static PyObject *
sp_check_chunk(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4 || !PyList_CheckExact(args[0])) {
        PyErr_SetString(PyExc_TypeError, "check_chunk(rows: list, start, prev, last_t)");
        return NULL;
    }
    PyObject *rows = args[0];
    uint64_t start, last_t;
    const unsigned char *chain;
    Py_ssize_t chain_len;
    Py_ssize_t n = PyList_Size(rows);
    if (n < 0) return NULL;
    if (n == 0 || !take_u64(args[1], &start) || !take_bytes_object(args[2], &chain, &chain_len) ||
        chain_len != HASH || !take_u64(args[3], &last_t))
        Py_RETURN_NONE;
    if ((size_t)n > PY_SSIZE_T_MAX / HASH) return PyErr_NoMemory();
    unsigned char *leaves = PyMem_Malloc((size_t)n * HASH);
    if (leaves == NULL) return PyErr_NoMemory();
    PyObject *result = NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *row = PyList_GetItem(rows, i);
        if (row == NULL) goto done;
        if (!PyTuple_Check(row) || PyTuple_Size(row) != 3) goto unclean;
        uint64_t seq;
        const unsigned char *data, *stored;
        Py_ssize_t len, stored_len;
        if (!take_u64(PyTuple_GetItem(row, 0), &seq) || seq != start + (uint64_t)i || seq < start) goto unclean;
        if (!take_bytes_object(PyTuple_GetItem(row, 1), &data, &len)) goto unclean;
        if (!take_bytes_object(PyTuple_GetItem(row, 2), &stored, &stored_len) || stored_len != HASH) goto unclean;
        unsigned char *leaf = leaves + (size_t)i * HASH;
        prefixed_hash(0, data, (size_t)len, leaf);
        if (memcmp(leaf, stored, HASH) != 0) goto unclean;
        field_t f[4];
        if (!read_entry(data, len, f)) goto unclean;
        if (f[F_SEQ].type != T_UINT || f[F_SEQ].u != seq) goto unclean;
        if (f[F_PREV].type != T_BIN || f[F_PREV].len != HASH || memcmp(f[F_PREV].buf, chain, HASH) != 0) goto unclean;
        if (f[F_T].type != T_UINT || f[F_T].u < last_t) goto unclean;
        if (f[F_KIND].type != T_STR || f[F_KIND].len == 0) goto unclean;
        last_t = f[F_T].u;
        chain = leaf;
    }
    result = Py_BuildValue("(y#K)", (const char *)leaves, n * HASH, (unsigned long long)last_t);
    goto done;
unclean:
    result = Py_None;
    Py_INCREF(result);
done:
    PyMem_Free(leaves);
    return result;
}

/* ---------------------------------------------------------------------------------------------
 * Merkle trees (RFC 6962, RFC 9162)
 */

static PyObject *
sp_hash_pairs(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "hash_pairs(level, start, stop)");
        return NULL;
    }
    Py_ssize_t start = PyLong_AsSsize_t(args[1]);
    if (start == -1 && PyErr_Occurred()) return NULL;
    Py_ssize_t stop = PyLong_AsSsize_t(args[2]);
    if (stop == -1 && PyErr_Occurred()) return NULL;
    Py_buffer view;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0) return NULL;
    PyObject *result = NULL;
    unsigned char *out = NULL;
    if (start < 0 || stop < start || stop > view.len || (stop - start) % (2 * HASH) != 0) {
        PyErr_SetString(PyExc_ValueError, "hash_pairs: the range is not whole pairs of hashes within the level");
        goto done;
    }
    Py_ssize_t pairs = (stop - start) / (2 * HASH);
    out = PyMem_Malloc(pairs ? (size_t)pairs * HASH : 1);
    if (out == NULL) { PyErr_NoMemory(); goto done; }
    const unsigned char *in = (const unsigned char *)view.buf + start;
    for (Py_ssize_t i = 0; i < pairs; i++) prefixed_hash(1, in + i * 2 * HASH, 2 * HASH, out + i * HASH);
    result = PyBytes_FromStringAndSize((const char *)out, pairs * HASH);
done:
    PyMem_Free(out);
    PyBuffer_Release(&view);
    return result;
}

/* An exact int in [0, 2**63) into `out`; 0 (no error set) for anything else. */
static int
take_index(PyObject *o, long long *out)
{
    if (!PyLong_CheckExact(o)) return 0;
    int overflow = 0;
    long long x = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (x == -1 && PyErr_Occurred()) { PyErr_Clear(); return 0; }
    if (overflow || x < 0) return 0;
    *out = x;
    return 1;
}

/* The root an RFC 9162 inclusion path of `len` bytes (32-byte hashes joined) leads to from `leaf` at
 * `index` in a tree of `size` leaves, into `root`; 0 if the path is malformed for that tree. */
static int
inclusion(const unsigned char leaf[HASH], long long index, long long size, const unsigned char *path,
          Py_ssize_t len, unsigned char root[HASH])
{
    if (index < 0 || index >= size || len % HASH != 0) return 0;
    unsigned char pair[2 * HASH];
    memcpy(root, leaf, HASH);
    unsigned long long fn = (unsigned long long)index, sn = (unsigned long long)size - 1;
    for (Py_ssize_t o = 0; o < len; o += HASH) {
        if (sn == 0) return 0; /* longer than the tree is deep */
        if ((fn & 1) || fn == sn) {
            memcpy(pair, path + o, HASH);
            memcpy(pair + HASH, root, HASH);
            while (!(fn & 1) && fn != 0) {
                fn >>= 1;
                sn >>= 1;
            }
        } else {
            memcpy(pair, root, HASH);
            memcpy(pair + HASH, path + o, HASH);
        }
        prefixed_hash(1, pair, 2 * HASH, root);
        fn >>= 1;
        sn >>= 1;
    }
    return sn == 0; /* else shorter than the tree is deep */
}

static PyObject *
sp_inclusion_root(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "inclusion_root(leaf, index, size, path)");
        return NULL;
    }
    const unsigned char *leaf, *path;
    Py_ssize_t leaf_len, len;
    long long index, size;
    unsigned char root[HASH];
    if (!take_bytes_object(args[0], &leaf, &leaf_len) || leaf_len != HASH || !take_index(args[1], &index) ||
        !take_index(args[2], &size) || !take_bytes_object(args[3], &path, &len) ||
        !inclusion(leaf, index, size, path, len, root))
        Py_RETURN_NONE;
    return PyBytes_FromStringAndSize((const char *)root, HASH);
}

/* ---------------------------------------------------------------------------------------------
 * Base64 (RFC 4648 §4) in its canonical spelling, and proven entries given in it
 */

/* The value of each base64 character, 64 for '=', 255 for any other byte. */
static unsigned char B64[256];

static void
init_b64(void)
{
    memset(B64, 255, sizeof B64);
    const char *alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (int i = 0; i < 64; i++) B64[(unsigned char)alphabet[i]] = (unsigned char)i;
    B64['='] = 64;
}

/* Decode the `n` characters at `s` into `out` (room for n / 4 * 3 bytes) if they are the canonical
 * base64 spelling of some bytes: groups of four from the alphabet, '=' only as the padding of the
 * last group, zero pad bits. The number of bytes, or -1. */
static Py_ssize_t
b64_decode_canonical(const unsigned char *s, Py_ssize_t n, unsigned char *out)
{
    if (n % 4 != 0) return -1;
    Py_ssize_t w = 0;
    for (Py_ssize_t i = 0; i < n; i += 4) {
        unsigned a = B64[s[i]], b = B64[s[i + 1]], c = B64[s[i + 2]], d = B64[s[i + 3]];
        if ((a | b | c | d) < 64) {
            uint32_t v = (a << 18) | (b << 12) | (c << 6) | d;
            out[w++] = (unsigned char)(v >> 16);
            out[w++] = (unsigned char)(v >> 8);
            out[w++] = (unsigned char)v;
            continue;
        }
        if (i + 4 != n || a >= 64 || b >= 64) return -1; /* padding only ends the last group */
        if (c == 64 && d == 64) {                         /* one byte: the low 4 bits of b are pad */
            if (b & 0x0f) return -1;
            out[w++] = (unsigned char)((a << 2) | (b >> 4));
        } else if (c < 64 && d == 64) { /* two bytes: the low 2 bits of c are pad */
            if (c & 0x03) return -1;
            uint32_t v = (a << 18) | (b << 12) | (c << 6);
            out[w++] = (unsigned char)(v >> 16);
            out[w++] = (unsigned char)(v >> 8);
        } else {
            return -1;
        }
    }
    return w;
}

/* A str's UTF-8 bytes (the str itself when ASCII); 0 (no error set) if `o` is not an exact str. */
static int
take_text(PyObject *o, const unsigned char **s, Py_ssize_t *n)
{
    if (!PyUnicode_CheckExact(o)) return 0;
    const char *p = PyUnicode_AsUTF8AndSize(o, n);
    if (p == NULL) { PyErr_Clear(); return 0; }
    *s = (const unsigned char *)p;
    return 1;
}

/* Decode a path given as one line of base64 per 32-byte hash, lines joined by '\n', into `out` (room
 * for (n + 1) / 45 * 32 bytes); its length, or -1 unless every line is a canonical 44-character hash. */
static Py_ssize_t
b64_hash_lines(const unsigned char *s, Py_ssize_t n, unsigned char *out)
{
    if (n == 0) return 0;
    if ((n + 1) % 45 != 0) return -1;
    Py_ssize_t w = 0;
    for (Py_ssize_t i = 0; i < n; i += 45) {
        if (i + 44 < n && s[i + 44] != '\n') return -1;
        if (b64_decode_canonical(s + i, 44, out + w) != HASH) return -1;
        w += HASH;
    }
    return w;
}

#define PATH_STACK (64 * HASH) /* a path of a tree of up to 2**64 leaves */

static PyObject *
sp_proven_entry_root(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "proven_entry_root(text, index, size, path, lines)");
        return NULL;
    }
    const unsigned char *text, *path_text;
    Py_ssize_t text_len, path_len;
    long long index, size;
    int lines = PyObject_IsTrue(args[4]);
    if (lines < 0) return NULL;
    if (!take_text(args[0], &text, &text_len) || !take_index(args[1], &index) || !take_index(args[2], &size) ||
        !take_text(args[3], &path_text, &path_len))
        Py_RETURN_NONE;
    /* the path: at most 64 hashes, so it fits on the stack */
    unsigned char path[PATH_STACK + 3];
    Py_ssize_t plen;
    if (lines) {
        if (path_len > 64 * 45) Py_RETURN_NONE;
        plen = b64_hash_lines(path_text, path_len, path);
    } else {
        if (path_len > PATH_STACK / 3 * 4) Py_RETURN_NONE;
        plen = b64_decode_canonical(path_text, path_len, path);
    }
    if (plen < 0) Py_RETURN_NONE;
    /* the entry: decoded straight into the bytes object returned */
    PyObject *data = PyBytes_FromStringAndSize(NULL, text_len / 4 * 3);
    if (data == NULL) return NULL;
    char *d;
    Py_ssize_t cap;
    if (PyBytes_AsStringAndSize(data, &d, &cap) < 0) { Py_DECREF(data); return NULL; }
    Py_ssize_t len = b64_decode_canonical(text, text_len, (unsigned char *)d);
    field_t f[4];
    unsigned char leaf[HASH], root[HASH];
    if (len < 0 || !read_entry((const unsigned char *)d, len, f) || f[F_SEQ].type != T_UINT ||
        f[F_SEQ].u != (uint64_t)index) {
        Py_DECREF(data);
        Py_RETURN_NONE;
    }
    prefixed_hash(0, (const unsigned char *)d, (size_t)len, leaf);
    if (!inclusion(leaf, index, size, path, plen, root)) {
        Py_DECREF(data);
        Py_RETURN_NONE;
    }
    if (len != cap) { /* padding: the bytes are one or two shorter than the groups; a new exact object */
        PyObject *exact = PyBytes_FromStringAndSize(d, len);
        Py_DECREF(data);
        if (exact == NULL) return NULL;
        data = exact;
    }
    return Py_BuildValue("(Ny#y#)", data, (const char *)leaf, (Py_ssize_t)HASH, (const char *)root, (Py_ssize_t)HASH);
}

/* ---------------------------------------------------------------------------------------------
 * The module
 */

static PyMethodDef methods[] = {
    {"encode_value", sp_encode_value, METH_O, "encode_value(value) -> canonical bytes; ValueError if it has none"},
    {"entry_and_leaf", (PyCFunction)(void (*)(void))sp_entry_and_leaf, METH_FASTCALL,
     "entry_and_leaf(payload, seq, prev, t, kind) -> (canonical entry bytes, leaf hash); ValueError if none"},
    {"is_canonical_entry", sp_is_canonical_entry, METH_O, "is_canonical_entry(data) -> whether data is one canonical entry"},
    {"check_chunk", (PyCFunction)(void (*)(void))sp_check_chunk, METH_FASTCALL,
     "check_chunk(rows, start, prev, last_t) -> (leaf hashes joined, last t) if every row is right, else None"},
    {"hash_pairs", (PyCFunction)(void (*)(void))sp_hash_pairs, METH_FASTCALL,
     "hash_pairs(level, start, stop) -> the interior hashes of the pairs of level[start:stop]"},
    {"inclusion_root", (PyCFunction)(void (*)(void))sp_inclusion_root, METH_FASTCALL,
     "inclusion_root(leaf, index, size, path) -> the root the inclusion path leads to, or None if malformed"},
    {"proven_entry_root", (PyCFunction)(void (*)(void))sp_proven_entry_root, METH_FASTCALL,
     "proven_entry_root(text, index, size, path, lines) -> (data, leaf hash, root) of a proven entry in base64, or None"},
    {NULL, NULL, 0, NULL},
};

static int
exec_module(PyObject *m)
{
    init_b64();
    PyObject *types = Py_BuildValue("(ssssssssss)", "dict", "list", "tuple", "str", "bytes", "bytearray", "memoryview",
                                    "int", "bool", "NoneType");
    if (PyModule_AddIntConstant(m, "MAX_DEPTH", MAX_DEPTH) < 0 || PyModule_AddIntConstant(m, "HASH_SIZE", HASH) < 0 ||
        PyModule_AddObjectRef(m, "VALUE_TYPES", types) < 0) {
        Py_XDECREF(types);
        return -1;
    }
    Py_DECREF(types);
    PyObject *lo = PyLong_FromLongLong(INT64_MIN), *hi = PyLong_FromUnsignedLongLong(UINT64_MAX);
    int r = (lo == NULL || hi == NULL || PyModule_AddObjectRef(m, "INT_MIN", lo) < 0 ||
             PyModule_AddObjectRef(m, "INT_MAX", hi) < 0) ? -1 : 0;
    Py_XDECREF(lo);
    Py_XDECREF(hi);
    return r;
}

static PyModuleDef_Slot slots[] = {
    {Py_mod_exec, exec_module},
    {0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "ledger._speedups", "The ledger's byte kernels in C (see ledger/_accel.py).", 0, methods, slots,
    NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModuleDef_Init(&module);
}
