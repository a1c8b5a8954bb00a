/* Optional native accelerator for the ledger's hot loops (see ledger/_accel.py).
 *
 * Every function here only ever answers "clean" (with its result) or "not clean" (None): on None
 * the caller runs the pure-Python code, which stays the reference and produces every error
 * message. Nothing here raises for bad input; only a failed allocation raises (MemoryError), and
 * log_append passes on what Log._maybe_checkpoint raises (called, as by Log.append, once appended).
 *
 *   encode_entry(payload, seq, prev, t, kind) -> bytes | None
 *       canonical.encode_entry for a payload of str keys and str/bytes/int/bool/None values, or
 *       nested maps (str keys) and lists/tuples of such values.
 *   encode_flat(entry) -> bytes | None
 *       canonical.encode for such a map (flat or nested, despite the name).
 *   encode_value(value) -> bytes | None
 *       canonical.encode_value for such a map, a list or tuple of such values, or a scalar.
 *   append_entry(cls, payload, seq, prev, t, kind) -> cls((seq, data, leaf)) | None
 *       encode_entry plus the RFC 6962 leaf hash, as the tuple subclass `cls` (Log.append).
 *   log_append(log, cls, kind, payload, t) -> cls((seq, data, leaf)) | None
 *       the whole of Log.append (ledger/log.py) in one call: for a ledger.log.Log whose state is what
 *       its own methods leave (readonly False, tree an exact MerkleTree whose leaf level is a bytearray,
 *       the pending lists exact lists, the times and thresholds ints) and arguments it accepts (kind a
 *       non-empty str, payload a dict append_entry encodes, with no reserved key, t an int with
 *       log._last_t <= t < 2**63, and an entry of at most MAX_ENTRY_BYTES), it appends as the Python
 *       body does and calls log._maybe_checkpoint(t) when due; None, having changed nothing, for
 *       everything else (the Python body then refuses or appends). Also the fast path of other callers
 *       (the engine): any arguments are safe.
 *   check_entry(data) -> (seq, prev, t, kind) | None
 *       None unless `data` is exactly one canonical entry (docs/formats.md) whose seq is an int,
 *       prev a bin, t an int and kind a str; else those four fields (None for a missing one).
 *   is_canonical(data) -> bool
 *       True if `data` is exactly one canonical entry; False: let the Python decoder decide.
 *   audit_chunk(rows, start, prev, last_t) -> (leaf hashes joined, last t) | None
 *       audit._chunk_is_clean for a chunk of (seq, data, leaf) rows.
 *   hash_pairs(level, start, stop) -> bytes
 *       the RFC 6962 interior hashes SHA-256(0x01 || level[o:o+64]) for o in range(start, stop, 64).
 *   b64_leaf(text) -> (data, leaf hash) | None
 *       the bytes whose canonical base64 spelling is exactly `text` (an ASCII str), and their RFC 6962
 *       leaf hash; None for anything else (other spellings, other characters, non-zero pad bits).
 *   b64(text) -> bytes | None
 *       the same without the leaf hash.
 *   tlog_proof_head(text) -> (index, path, signed checkpoint text) | None
 *       a tlog-proof@v1 text split at its first blank line: the header line, "index N" (N without
 *       leading zeros) and hash lines each the canonical base64 of 32 bytes (joined into `path`);
 *       None for anything else (the Python parser then decides, and names what is wrong).
 *   proof_root(leaf, index, size, path) -> bytes | None
 *       the root an RFC 9162 inclusion path (its 32-byte hashes joined) leads to from `leaf` at
 *       `index` in a tree of `size`; None for anything malformed (the Python code says what).
 *   decode_entry(data) -> dict | None
 *       canonical.decode for canonical bytes (the objects msgpack.unpackb gives), else None.
 *   proven_entry(text, index, proof, size, root) -> (data, leaf hash, entry) | None
 *       a certificate's proven entry: `text` the canonical base64 of canonical entry bytes whose
 *       seq is `index`, `proof` its inclusion path (joined hashes, or their canonical base64) leading
 *       to `root` in a tree of `size`; the bytes, their leaf hash and the decoded entry, else None.
 *   code_fields(code, index, leaf) -> (prefix, date, kind, hash) | None
 *       a transaction code's printed form (ledger.txcode) whose check characters are the ones
 *       MOD 1271-36 prints, whose number is `index`, whose hash group is `leaf`'s and whose date is
 *       real; its groups, else None.
 *   json_keys_unique(text, value) -> bool
 *       True if no object of the JSON text `text` (bytes or str, which a parser read as `value`) repeats
 *       a key: the member names in the text, counted lexically, are as many as the keys of value's
 *       dicts. False also for what it cannot tell; the caller then reads the text with
 *       ledger.strictjson, which names the repeated key.
 *   MAX_DEPTH
 *       the format's nesting limit of maps and lists (canonical.MAX_DEPTH).
 *   MAX_ENTRY_BYTES
 *       the largest entry the log appends (ledger.log.MAX_ENTRY_BYTES); log_append declines a larger one.
 *
 * SHA-256 is OpenSSL's (libcrypto), never hand-written here.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h> /* T_OBJECT_EX: how a __slots__ field is stored */

#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <openssl/evp.h>
#include <openssl/sha.h>

#include <limits.h>
#include <stdint.h>
#include <string.h>

#define HASH 32
/* The format's nesting limit (docs/formats.md §1, canonical.MAX_DEPTH; exported as MAX_DEPTH): at most
 * this many levels of maps and lists, the entry itself the first. `depth` below counts the containers
 * around a value, so a map or list is allowed where depth < MAX_DEPTH; anything deeper is "not clean"
 * and the Python code refuses it, naming the path. Every walk here recurses at most this deep. */
#define MAX_DEPTH 32
/* The largest entry Log.append takes (ledger.log.MAX_ENTRY_BYTES, docs/formats.md §1): what a tlog-tiles
 * entry bundle's uint16 length prefix can frame. log_append declines a larger one (Python refuses it). */
#define MAX_ENTRY_BYTES 65535

/* ---------------------------------------------------------------------------------------------
 * SHA-256
 */

static void
leaf_hash(const unsigned char *data, size_t n, unsigned char out[HASH])
{
    static const unsigned char zero = 0;
    SHA256_CTX c;
    SHA256_Init(&c);
    SHA256_Update(&c, &zero, 1);
    SHA256_Update(&c, data, n);
    SHA256_Final(out, &c);
}

static void
node_hash(const unsigned char pair[2 * HASH], unsigned char out[HASH])
{
    static const unsigned char one = 1;
    SHA256_CTX c;
    SHA256_Init(&c);
    SHA256_Update(&c, &one, 1);
    SHA256_Update(&c, pair, 2 * HASH);
    SHA256_Final(out, &c);
}

/* ---------------------------------------------------------------------------------------------
 * Canonical encoding of a flat map (what msgpack.Packer(use_bin_type=True, strict_types=True)
 * writes for the sorted pairs)
 */

enum { V_NIL, V_TRUE, V_FALSE, V_UINT, V_NEG, V_STR, V_BIN };

typedef struct {
    const char *key;
    Py_ssize_t klen;
    int tag;
    const char *buf;
    Py_ssize_t len;
    uint64_t u;
    int64_t s;
} item_t;

static Py_ssize_t
str_header_size(Py_ssize_t n)
{
    if (n < 32) return 1;
    if (n < 256) return 2;
    if (n < 65536) return 3;
    if ((uint64_t)n <= 0xffffffffULL) return 5;
    return -1;
}

/* A str's UTF-8 bytes: read in place for an ASCII str (most keys and values), else from the codec's
 * cached copy; NULL (an error set) for a str with a lone surrogate. */
static inline const char *
utf8_of(PyObject *s, Py_ssize_t *n)
{
    if (PyUnicode_IS_COMPACT_ASCII(s)) {
        *n = PyUnicode_GET_LENGTH(s);
        return (const char *)PyUnicode_DATA(s);
    }
    return PyUnicode_AsUTF8AndSize(s, n);
}

/* Fill `it` from a value; return its encoded size, or -1 for "not flat / not encodable". */
static Py_ssize_t
prepare_value(PyObject *v, item_t *it)
{
    if (v == Py_None) { it->tag = V_NIL; return 1; }
    if (v == Py_True) { it->tag = V_TRUE; return 1; }
    if (v == Py_False) { it->tag = V_FALSE; return 1; }
    if (PyLong_CheckExact(v)) {
        int overflow;
        long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
        if (overflow == 0) {
            if (x == -1 && PyErr_Occurred()) { PyErr_Clear(); return -1; }
            if (x >= 0) {
                it->tag = V_UINT;
                it->u = (uint64_t)x;
            } else {
                it->tag = V_NEG;
                it->s = x;
                if (x >= -32) return 1;
                if (x >= -128) return 2;
                if (x >= -32768) return 3;
                if (x >= -2147483648LL) return 5;
                return 9;
            }
        } else if (overflow > 0) {
            unsigned long long u = PyLong_AsUnsignedLongLong(v);
            if (u == (unsigned long long)-1 && PyErr_Occurred()) { PyErr_Clear(); return -1; }
            it->tag = V_UINT;
            it->u = u;
        } else {
            return -1;
        }
        if (it->u < 128) return 1;
        if (it->u < 256) return 2;
        if (it->u < 65536) return 3;
        if (it->u <= 0xffffffffULL) return 5;
        return 9;
    }
    if (PyUnicode_CheckExact(v)) {
        Py_ssize_t n;
        const char *s = utf8_of(v, &n);
        if (s == NULL) { PyErr_Clear(); return -1; } /* a lone surrogate: the slow path names it */
        Py_ssize_t h = str_header_size(n);
        if (h < 0) return -1;
        it->tag = V_STR; it->buf = s; it->len = n;
        return h + n;
    }
    if (PyBytes_CheckExact(v)) {
        Py_ssize_t n = PyBytes_GET_SIZE(v);
        Py_ssize_t h = n < 256 ? 2 : n < 65536 ? 3 : (uint64_t)n <= 0xffffffffULL ? 5 : -1;
        if (h < 0) return -1;
        it->tag = V_BIN; it->buf = PyBytes_AS_STRING(v); it->len = n;
        return h + n;
    }
    return -1;
}

static unsigned char *
put16(unsigned char *p, uint64_t x) { p[0] = (unsigned char)(x >> 8); p[1] = (unsigned char)x; return p + 2; }
static unsigned char *
put32(unsigned char *p, uint64_t x)
{
    p[0] = (unsigned char)(x >> 24); p[1] = (unsigned char)(x >> 16);
    p[2] = (unsigned char)(x >> 8); p[3] = (unsigned char)x;
    return p + 4;
}
static unsigned char *
put64(unsigned char *p, uint64_t x) { p = put32(p, x >> 32); return put32(p, x & 0xffffffffULL); }

static unsigned char *
write_str(unsigned char *p, const char *s, Py_ssize_t n)
{
    if (n < 32) *p++ = (unsigned char)(0xa0 | n);
    else if (n < 256) { *p++ = 0xd9; *p++ = (unsigned char)n; }
    else if (n < 65536) { *p++ = 0xda; p = put16(p, (uint64_t)n); }
    else { *p++ = 0xdb; p = put32(p, (uint64_t)n); }
    memcpy(p, s, (size_t)n);
    return p + n;
}

static unsigned char *
write_value(unsigned char *p, const item_t *it)
{
    switch (it->tag) {
    case V_NIL: *p++ = 0xc0; return p;
    case V_TRUE: *p++ = 0xc3; return p;
    case V_FALSE: *p++ = 0xc2; return p;
    case V_UINT: {
        uint64_t u = it->u;
        if (u < 128) *p++ = (unsigned char)u;
        else if (u < 256) { *p++ = 0xcc; *p++ = (unsigned char)u; }
        else if (u < 65536) { *p++ = 0xcd; p = put16(p, u); }
        else if (u <= 0xffffffffULL) { *p++ = 0xce; p = put32(p, u); }
        else { *p++ = 0xcf; p = put64(p, u); }
        return p;
    }
    case V_NEG: {
        int64_t s = it->s;
        if (s >= -32) *p++ = (unsigned char)(int8_t)s;
        else if (s >= -128) { *p++ = 0xd0; *p++ = (unsigned char)(int8_t)s; }
        else if (s >= -32768) { *p++ = 0xd1; p = put16(p, (uint64_t)s); }
        else if (s >= -2147483648LL) { *p++ = 0xd2; p = put32(p, (uint64_t)s); }
        else { *p++ = 0xd3; p = put64(p, (uint64_t)s); }
        return p;
    }
    case V_STR:
        return write_str(p, it->buf, it->len);
    default: { /* V_BIN */
        Py_ssize_t n = it->len;
        if (n < 256) { *p++ = 0xc4; *p++ = (unsigned char)n; }
        else if (n < 65536) { *p++ = 0xc5; p = put16(p, (uint64_t)n); }
        else { *p++ = 0xc6; p = put32(p, (uint64_t)n); }
        memcpy(p, it->buf, (size_t)n);
        return p + n;
    }
    }
}

/* The canonical key order: UTF-8 bytes compared as unsigned, a prefix first. Entries' keys are short,
 * so a byte loop (inlined) beats a call to memcmp; long keys still get memcmp. */
static inline int
key_cmp(const char *a, Py_ssize_t an, const char *b, Py_ssize_t bn)
{
    Py_ssize_t n = an < bn ? an : bn;
    if (n > 16) {
        int c = memcmp(a, b, (size_t)n);
        if (c) return c;
    } else {
        for (Py_ssize_t i = 0; i < n; i++) {
            if (a[i] != b[i]) return (unsigned char)a[i] < (unsigned char)b[i] ? -1 : 1;
        }
    }
    return (an > bn) - (an < bn);
}

/* Maps with at most this many keys are sorted by insertion (no qsort call, no comparator calls). */
#define SMALL_SORT 32

static int
item_ptr_cmp(const void *a, const void *b)
{
    const item_t *x = *(const item_t *const *)a, *y = *(const item_t *const *)b;
    return key_cmp(x->key, x->klen, y->key, y->klen);
}

/* Order `order` (pointers to n items) by key. */
static void
sort_items(item_t **order, Py_ssize_t n)
{
    if (n > SMALL_SORT) {
        qsort(order, (size_t)n, sizeof(item_t *), item_ptr_cmp);
        return;
    }
    for (Py_ssize_t i = 1; i < n; i++) {
        item_t *x = order[i];
        Py_ssize_t j = i;
        for (; j > 0 && key_cmp(order[j - 1]->key, order[j - 1]->klen, x->key, x->klen) > 0; j--) order[j] = order[j - 1];
        order[j] = x;
    }
}

static const char *const RESERVED[4] = {"seq", "prev", "t", "kind"};
static const Py_ssize_t RESERVED_LEN[4] = {3, 4, 1, 4};

/* The canonical bytes of `dict` plus the `extra` fields (NULL: none) as a new bytes object;
 * Py_None (a new reference) for "not flat, let Python do it"; NULL only on MemoryError. */
static PyObject *
pack_flat(PyObject *dict, PyObject *const *extra)
{
    if (!PyDict_CheckExact(dict)) Py_RETURN_NONE;
    Py_ssize_t n = PyDict_GET_SIZE(dict) + (extra ? 4 : 0);
    item_t stack[24];
    item_t *stack_order[24];
    item_t *items = stack, **order = stack_order; /* order: the items sorted by key (pointers) */
    PyObject *result = NULL;
    if (n > (Py_ssize_t)(sizeof(stack) / sizeof(stack[0]))) {
        items = PyMem_Malloc((sizeof(item_t) + sizeof(item_t *)) * (size_t)n);
        if (items == NULL) return PyErr_NoMemory();
        order = (item_t **)(items + n);
    }
    Py_ssize_t total = n < 16 ? 1 : n < 65536 ? 3 : 5;
    Py_ssize_t pos = 0, i = 0;
    PyObject *k, *v;
    while (PyDict_Next(dict, &pos, &k, &v)) {
        if (!PyUnicode_CheckExact(k)) goto fallback;
        Py_ssize_t kl;
        const char *ks = utf8_of(k, &kl);
        if (ks == NULL) { PyErr_Clear(); goto fallback; }
        Py_ssize_t kh = str_header_size(kl);
        Py_ssize_t vs = prepare_value(v, &items[i]);
        if (kh < 0 || vs < 0) goto fallback;
        items[i].key = ks;
        items[i].klen = kl;
        total += kh + kl + vs;
        i++;
    }
    if (extra) {
        for (int j = 0; j < 4; j++) {
            Py_ssize_t vs = prepare_value(extra[j], &items[i]);
            if (vs < 0) goto fallback;
            items[i].key = RESERVED[j];
            items[i].klen = RESERVED_LEN[j];
            total += 1 + items[i].klen + vs;
            i++;
        }
    }
    if (i != n) goto fallback; /* the dict changed size: impossible without user code, but cheap */
    for (i = 0; i < n; i++) order[i] = &items[i];
    sort_items(order, n);
    for (i = 1; i < n; i++) {
        if (key_cmp(order[i - 1]->key, order[i - 1]->klen, order[i]->key, order[i]->klen) == 0)
            goto fallback; /* a duplicate key (a payload setting a reserved field, say) */
    }
    result = PyBytes_FromStringAndSize(NULL, total);
    if (result == NULL) goto done;
    {
        unsigned char *p = (unsigned char *)PyBytes_AS_STRING(result);
        if (n < 16) *p++ = (unsigned char)(0x80 | n);
        else if (n < 65536) { *p++ = 0xde; p = put16(p, (uint64_t)n); }
        else { *p++ = 0xdf; p = put32(p, (uint64_t)n); }
        for (i = 0; i < n; i++) {
            p = write_str(p, order[i]->key, order[i]->klen);
            p = write_value(p, order[i]);
        }
    }
    goto done;
fallback:
    Py_INCREF(Py_None);
    result = Py_None;
done:
    if (items != stack) PyMem_Free(items);
    return result;
}

/* ---------------------------------------------------------------------------------------------
 * Canonical encoding of a map with nested maps and arrays (what canonical._check + msgpack write:
 * every map's str keys sorted by their UTF-8 bytes, lists and tuples as arrays). Anything else
 * (a float, a subclass, bytearray, a non-str key, an out-of-range int, a lone surrogate, nesting
 * deeper than MAX_DEPTH) is "not clean": the Python encoder takes it and names the problem.
 */

typedef struct {
    unsigned char *p;
    Py_ssize_t len, cap;
} buf_t;

enum { ENC_OK = 0, ENC_UNCLEAN = 1, ENC_NOMEM = -1 };

static int
buf_reserve(buf_t *b, Py_ssize_t n)
{
    if (b->len + n <= b->cap) return ENC_OK;
    Py_ssize_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n) cap *= 2;
    unsigned char *p = PyMem_Realloc(b->p, (size_t)cap);
    if (p == NULL) return ENC_NOMEM;
    b->p = p;
    b->cap = cap;
    return ENC_OK;
}

static int
buf_header(buf_t *b, Py_ssize_t n, unsigned char fix, unsigned char b16, unsigned char b32)
{
    if (buf_reserve(b, 5) != ENC_OK) return ENC_NOMEM;
    unsigned char *p = b->p + b->len;
    if (n < 16) *p++ = (unsigned char)(fix | n);
    else if (n < 65536) { *p++ = b16; p = put16(p, (uint64_t)n); }
    else if ((uint64_t)n <= 0xffffffffULL) { *p++ = b32; p = put32(p, (uint64_t)n); }
    else return ENC_UNCLEAN;
    b->len = p - b->p;
    return ENC_OK;
}

typedef struct {
    const char *key;
    Py_ssize_t klen;
    PyObject *value;
} pair_t;

static int
pair_cmp(const void *a, const void *b)
{
    const pair_t *x = a, *y = b;
    return key_cmp(x->key, x->klen, y->key, y->klen);
}

/* Order `pairs` (n of them) by key. */
static void
sort_pairs(pair_t *pairs, Py_ssize_t n)
{
    if (n > SMALL_SORT) {
        qsort(pairs, (size_t)n, sizeof(pair_t), pair_cmp);
        return;
    }
    for (Py_ssize_t i = 1; i < n; i++) {
        pair_t x = pairs[i];
        Py_ssize_t j = i;
        for (; j > 0 && key_cmp(pairs[j - 1].key, pairs[j - 1].klen, x.key, x.klen) > 0; j--) pairs[j] = pairs[j - 1];
        pairs[j] = x;
    }
}

static int enc_value(buf_t *b, PyObject *v, int depth);

/* Write the map of `pairs` (n of them; sorted here), each key a str and each value encoded. */
static int
enc_pairs(buf_t *b, pair_t *pairs, Py_ssize_t n, int depth)
{
    sort_pairs(pairs, n);
    for (Py_ssize_t i = 1; i < n; i++) {
        if (pair_cmp(&pairs[i - 1], &pairs[i]) == 0) return ENC_UNCLEAN; /* a duplicate key */
    }
    int r = buf_header(b, n, 0x80, 0xde, 0xdf);
    if (r != ENC_OK) return r;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_ssize_t kh = str_header_size(pairs[i].klen);
        if (kh < 0) return ENC_UNCLEAN;
        if (buf_reserve(b, kh + pairs[i].klen) != ENC_OK) return ENC_NOMEM;
        b->len = write_str(b->p + b->len, pairs[i].key, pairs[i].klen) - b->p;
        r = enc_value(b, pairs[i].value, depth + 1);
        if (r != ENC_OK) return r;
    }
    return ENC_OK;
}

/* The pairs of a dict with str keys (`extra`: the ledger's four fields, or NULL); then its map. */
static int
enc_dict(buf_t *b, PyObject *dict, PyObject *const *extra, int depth)
{
    Py_ssize_t n = PyDict_GET_SIZE(dict) + (extra ? 4 : 0);
    pair_t stack[24];
    pair_t *pairs = stack;
    if (n > (Py_ssize_t)(sizeof(stack) / sizeof(stack[0]))) {
        pairs = PyMem_Malloc(sizeof(pair_t) * (size_t)n);
        if (pairs == NULL) return ENC_NOMEM;
    }
    int r = ENC_OK;
    Py_ssize_t pos = 0, i = 0;
    PyObject *k, *v;
    while (PyDict_Next(dict, &pos, &k, &v)) {
        if (i >= n || !PyUnicode_CheckExact(k)) { r = ENC_UNCLEAN; goto done; }
        const char *ks = utf8_of(k, &pairs[i].klen);
        if (ks == NULL) { PyErr_Clear(); r = ENC_UNCLEAN; goto done; }
        pairs[i].key = ks;
        pairs[i].value = v;
        i++;
    }
    if (extra) {
        for (int j = 0; j < 4 && i < n; j++, i++) {
            pairs[i].key = RESERVED[j];
            pairs[i].klen = RESERVED_LEN[j];
            pairs[i].value = extra[j];
        }
    }
    if (i != n) { r = ENC_UNCLEAN; goto done; }
    r = enc_pairs(b, pairs, n, depth);
done:
    if (pairs != stack) PyMem_Free(pairs);
    return r;
}

/* `depth`: the containers around `v` (0 at the top). */
static int
enc_value(buf_t *b, PyObject *v, int depth)
{
    if (PyDict_CheckExact(v)) {
        if (depth >= MAX_DEPTH) return ENC_UNCLEAN;
        return enc_dict(b, v, NULL, depth);
    }
    if (PyList_CheckExact(v) || PyTuple_CheckExact(v)) {
        if (depth >= MAX_DEPTH) return ENC_UNCLEAN;
        Py_ssize_t n = PySequence_Fast_GET_SIZE(v);
        int r = buf_header(b, n, 0x90, 0xdc, 0xdd);
        if (r != ENC_OK) return r;
        PyObject **items = PySequence_Fast_ITEMS(v);
        for (Py_ssize_t i = 0; i < n; i++) {
            r = enc_value(b, items[i], depth + 1);
            if (r != ENC_OK) return r;
        }
        return ENC_OK;
    }
    item_t it;
    Py_ssize_t size = prepare_value(v, &it);
    if (size < 0) return ENC_UNCLEAN;
    if (buf_reserve(b, size) != ENC_OK) return ENC_NOMEM;
    b->len = write_value(b->p + b->len, &it) - b->p;
    return ENC_OK;
}

/* The buffer an encoder filled as the answer: bytes (ENC_OK), Py_None for "not clean", NULL on
 * MemoryError; the buffer is freed either way. */
static PyObject *
buf_result(buf_t *b, int r)
{
    PyObject *result;
    if (r == ENC_OK) result = PyBytes_FromStringAndSize((const char *)b->p, b->len);
    else if (r == ENC_NOMEM) result = PyErr_NoMemory();
    else { Py_INCREF(Py_None); result = Py_None; }
    PyMem_Free(b->p);
    return result;
}

/* pack_flat for any canonical map: bytes, Py_None (new reference) for "not clean", NULL on MemoryError. */
static PyObject *
pack_nested(PyObject *dict, PyObject *const *extra)
{
    if (!PyDict_CheckExact(dict)) Py_RETURN_NONE;
    buf_t b = {NULL, 0, 0};
    return buf_result(&b, enc_dict(&b, dict, extra, 0));
}

/* canonical.encode_value: any canonical value (a map, a list or tuple, a scalar), or None. */
static PyObject *
sp_encode_value(PyObject *self, PyObject *value)
{
    buf_t b = {NULL, 0, 0};
    return buf_result(&b, enc_value(&b, value, 0));
}

/* The canonical bytes of a map: the flat fast path, else the nested encoder. */
static PyObject *
pack_entry(PyObject *dict, PyObject *const *extra)
{
    PyObject *data = pack_flat(dict, extra);
    if (data != Py_None) return data;
    Py_DECREF(data);
    return pack_nested(dict, extra);
}

static int
entry_args_ok(PyObject *const *a)
{
    /* The types canonical.encode_entry's fast path demands of seq, prev, t and kind. */
    return PyLong_CheckExact(a[0]) && PyBytes_CheckExact(a[1]) && PyLong_CheckExact(a[2]) && PyUnicode_CheckExact(a[3]);
}

static PyObject *
sp_encode_entry(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "encode_entry(payload, seq, prev, t, kind)");
        return NULL;
    }
    if (!entry_args_ok(args + 1)) Py_RETURN_NONE;
    return pack_entry(args[0], args + 1);
}

static PyObject *
sp_encode_flat(PyObject *self, PyObject *entry)
{
    return pack_entry(entry, NULL);
}

static int
is_tuple_class(PyObject *cls)
{
    return PyType_Check(cls) && PyType_IsSubtype((PyTypeObject *)cls, &PyTuple_Type);
}

/* cls((seq, data, leaf)) for a payload and its checked fields `extra` (seq, prev, t, kind): the entry's
 * canonical bytes and their leaf hash; Py_None (a new reference) for "not clean", NULL on MemoryError. */
static PyObject *
entry_tuple(PyTypeObject *cls, PyObject *payload, PyObject *const *extra)
{
    PyObject *data = pack_entry(payload, extra);
    if (data == NULL || data == Py_None) return data;
    PyObject *leaf = PyBytes_FromStringAndSize(NULL, HASH);
    if (leaf == NULL) { Py_DECREF(data); return NULL; }
    leaf_hash((const unsigned char *)PyBytes_AS_STRING(data), (size_t)PyBytes_GET_SIZE(data),
              (unsigned char *)PyBytes_AS_STRING(leaf));
    PyObject *out = cls->tp_alloc(cls, 3);
    if (out == NULL) { Py_DECREF(data); Py_DECREF(leaf); return NULL; }
    Py_INCREF(extra[0]);
    PyTuple_SET_ITEM(out, 0, extra[0]);
    PyTuple_SET_ITEM(out, 1, data);
    PyTuple_SET_ITEM(out, 2, leaf);
    return out;
}

static PyObject *
sp_append_entry(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 6 || !is_tuple_class(args[0])) {
        PyErr_SetString(PyExc_TypeError, "append_entry(tuple_subclass, payload, seq, prev, t, kind)");
        return NULL;
    }
    if (!entry_args_ok(args + 2)) Py_RETURN_NONE;
    return entry_tuple((PyTypeObject *)args[0], args[1], args + 2);
}

/* ---------------------------------------------------------------------------------------------
 * Log.append in one call (ledger/log.py): its checks, the entry, MerkleTree.append, the pending
 * lists, the chain and the checkpoint test, for a Log in the state its own methods leave it in.
 */

/* The attributes of a Log that log_append reads (all but the last) and calls (the last). */
enum { A_READONLY, A_LAST_T, A_TREE, A_LAST_LEAF, A_PENDING_DATA, A_PENDING_LEAVES, A_DUE_SEQ, A_DUE_T,
       A_MAYBE_CHECKPOINT, A_COUNT };
static const char *const ATTR_NAMES[A_COUNT] = {
    "readonly", "_last_t", "tree", "_last_leaf", "_pending_data", "_pending_leaves", "_due_seq", "_due_t",
    "_maybe_checkpoint",
};
/* The MerkleTree class attributes Log.append relies on: the __slots__ it reads and writes, and the
 * method and property it calls. */
enum { M_LEVELS, M_SIZE, M_APPEND, M_SIZE_PROPERTY, M_COUNT };
static const char *const TREE_NAMES[M_COUNT] = {"_levels", "_size", "append", "size"};
static PyObject *attr_names[A_COUNT], *tree_names[M_COUNT]; /* interned by the module's init, as are */
static PyObject *reserved_names[4];                           /* the reserved keys */

/* ledger.log.Log, ledger.merkle.MerkleTree and what MerkleTree held under TREE_NAMES, looked up at the
 * first log_append (not at import: ledger.log imports this module) and kept; likewise the member
 * descriptors of the Log's __slots__ that log_append reads (all of ATTR_NAMES but the method), and
 * where those slots sit in a Log. */
static PyTypeObject *log_type, *tree_type;
static PyObject *tree_attrs[M_COUNT], *log_attrs[A_MAYBE_CHECKPOINT];
static Py_ssize_t log_at[A_MAYBE_CHECKPOINT];

#define LOG_SLOT(obj, i) (*(PyObject **)((char *)(obj) + log_at[i]))

/* Whether `descr` is a writable object slot (a __slots__ field's member descriptor); its offset into *at. */
static int
object_slot(PyObject *descr, Py_ssize_t *at)
{
    if (descr == NULL || !Py_IS_TYPE(descr, &PyMemberDescr_Type)) return 0;
    PyMemberDef *m = ((PyMemberDescrObject *)descr)->d_member;
    if (m->type != T_OBJECT_EX || (m->flags & READONLY)) return 0;
    *at = m->offset;
    return 1;
}
/* The classes' tp_version_tag (which CPython changes whenever a class attribute is set or deleted) when
 * last seen as log_append expects them (classes_plain); 0: not yet. */
static unsigned int log_version, tree_version;

static PyObject *
imported(const char *module, const char *name)
{
    PyObject *m = PyImport_ImportModule(module);
    if (m == NULL) return NULL;
    PyObject *value = PyObject_GetAttrString(m, name);
    Py_DECREF(m);
    return value;
}

/* type.name (a new reference), or NULL without an error if there is none. */
static PyObject *
class_attr(PyTypeObject *type, PyObject *name)
{
    PyObject *value = PyObject_GetAttr((PyObject *)type, name);
    if (value == NULL) PyErr_Clear();
    return value;
}

/* 1 if log_append can take Logs, 0 if it never can (the classes are not the ones it was written for),
 * -1 with an exception if they cannot be imported. */
static int
load_types(void)
{
    static int state; /* 0: not looked up yet; 1: usable; -1: never */
    if (state != 0) return state > 0;
    PyObject *log_cls = imported("ledger.log", "Log");
    if (log_cls == NULL) return -1;
    PyObject *tree_cls = imported("ledger.merkle", "MerkleTree");
    if (tree_cls == NULL) { Py_DECREF(log_cls); return -1; }
    state = -1;
    if (PyType_Check(log_cls) && PyType_Check(tree_cls)) {
        for (int i = 0; i < M_COUNT; i++) tree_attrs[i] = class_attr((PyTypeObject *)tree_cls, tree_names[i]);
        int slots = 1;
        for (int i = 0; i < A_MAYBE_CHECKPOINT; i++) {
            log_attrs[i] = class_attr((PyTypeObject *)log_cls, attr_names[i]);
            slots = slots && object_slot(log_attrs[i], &log_at[i]);
        }
        if (slots && tree_attrs[M_LEVELS] != NULL && Py_IS_TYPE(tree_attrs[M_LEVELS], &PyMemberDescr_Type) &&
            tree_attrs[M_SIZE] != NULL && Py_IS_TYPE(tree_attrs[M_SIZE], &PyMemberDescr_Type) &&
            tree_attrs[M_APPEND] != NULL && tree_attrs[M_SIZE_PROPERTY] != NULL)
            state = 1;
    }
    if (state > 0) {
        log_type = (PyTypeObject *)log_cls;
        tree_type = (PyTypeObject *)tree_cls;
    } else {
        for (int i = 0; i < M_COUNT; i++) Py_CLEAR(tree_attrs[i]);
        for (int i = 0; i < A_MAYBE_CHECKPOINT; i++) Py_CLEAR(log_attrs[i]);
        Py_DECREF(log_cls);
        Py_DECREF(tree_cls);
    }
    return state > 0;
}

/* Whether the classes are still as log_append expects: Log with generic attribute access and the same
 * slots for the names read as at first (so its slots are where Python finds them), MerkleTree with the
 * same slots, append and size as at first. Checked again only after a class was changed. */
static int
classes_plain(void)
{
    if (log_type->tp_version_tag == 0 || log_type->tp_version_tag != log_version) {
        if (log_type->tp_getattro != PyObject_GenericGetAttr || log_type->tp_setattro != PyObject_GenericSetAttr)
            return 0;
        for (int i = 0; i < A_MAYBE_CHECKPOINT; i++) { /* still the slots found at first */
            PyObject *value = class_attr(log_type, attr_names[i]);
            Py_XDECREF(value); /* compared by identity only */
            if (value != log_attrs[i]) return 0;
        }
        log_version = log_type->tp_version_tag; /* given by the lookups above (0 if CPython had none left) */
    }
    if (tree_type->tp_version_tag == 0 || tree_type->tp_version_tag != tree_version) {
        for (int i = 0; i < M_COUNT; i++) {
            PyObject *value = class_attr(tree_type, tree_names[i]);
            Py_XDECREF(value); /* compared by identity only */
            if (value != tree_attrs[i]) return 0;
        }
        tree_version = tree_type->tp_version_tag;
    }
    return 1;
}

/* Log.append(kind, payload, t) as the Python body does it, returning cls((seq, data, leaf)); None, having
 * changed nothing, for a case it leaves to that body (a refusal, a payload the encoder leaves to
 * Python, a Log or tree not in the plain state: see the header). The changes are the body's, in its
 * order, so an error after the first (MemoryError, _maybe_checkpoint's) leaves the body's state. */
static PyObject *
sp_log_append(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5 || !is_tuple_class(args[1])) {
        PyErr_SetString(PyExc_TypeError, "log_append(log, tuple_subclass, kind, payload, t)");
        return NULL;
    }
    PyObject *log = args[0], *kind = args[2], *payload = args[3], *t = args[4];
    if (!PyUnicode_CheckExact(kind) || PyUnicode_GET_LENGTH(kind) == 0 || !PyDict_CheckExact(payload) ||
        !PyLong_CheckExact(t))
        Py_RETURN_NONE;
    int usable = load_types();
    if (usable < 0) return NULL;
    if (!usable || !Py_IS_TYPE(log, log_type) || !classes_plain()) Py_RETURN_NONE;

    /* The Log's fields, read from their slots (classes_plain: where Python reads them), as new references. */
    PyObject *a[A_MAYBE_CHECKPOINT] = {NULL};
    PyObject *levels = NULL, *level = NULL, *seq = NULL, *next = NULL, *out = NULL, *result = NULL;
    for (int i = 0; i < A_MAYBE_CHECKPOINT; i++) {
        if ((a[i] = LOG_SLOT(log, i)) == NULL) goto decline; /* unset: a half-made Log */
        Py_INCREF(a[i]);
    }
    PyObject *tree = a[A_TREE];
    if (a[A_READONLY] != Py_False || !PyLong_CheckExact(a[A_LAST_T]) || !Py_IS_TYPE(tree, tree_type) ||
        !PyBytes_CheckExact(a[A_LAST_LEAF]) || !PyList_CheckExact(a[A_PENDING_DATA]) ||
        !PyList_CheckExact(a[A_PENDING_LEAVES]) || !PyLong_CheckExact(a[A_DUE_SEQ]) || !PyLong_CheckExact(a[A_DUE_T]))
        goto decline;
    /* Python's test t >= log._last_t (>= 0); here also t < 2**63, beyond which Python's body appends. */
    int overflow;
    long long tv = PyLong_AsLongLongAndOverflow(t, &overflow);
    if (overflow || tv < 0) goto decline;
    long long last = PyLong_AsLongLongAndOverflow(a[A_LAST_T], &overflow);
    if (overflow || last < 0 || tv < last) goto decline;
    /* The tree: its leaf level a bytearray, its size an int (the new entry's seq). */
    PyObject *levels_slot = tree_attrs[M_LEVELS], *size_slot = tree_attrs[M_SIZE];
    if ((levels = Py_TYPE(levels_slot)->tp_descr_get(levels_slot, tree, (PyObject *)tree_type)) == NULL) goto decline;
    if (!PyList_CheckExact(levels) || PyList_GET_SIZE(levels) < 1 || !PyByteArray_CheckExact(PyList_GET_ITEM(levels, 0)))
        goto decline;
    level = PyList_GET_ITEM(levels, 0);
    Py_INCREF(level);
    if ((seq = Py_TYPE(size_slot)->tp_descr_get(size_slot, tree, (PyObject *)tree_type)) == NULL) goto decline;
    if (!PyLong_CheckExact(seq)) goto decline;
    long long n = PyLong_AsLongLongAndOverflow(seq, &overflow);
    if (overflow || n < 0 || n == LLONG_MAX) goto decline;
    if ((next = PyLong_FromLongLong(n + 1)) == NULL) goto fail;
    /* Whether a checkpoint is due (the thresholds do not change below before Python reads them). */
    int due = PyObject_RichCompareBool(seq, a[A_DUE_SEQ], Py_GE);
    if (due == 0) due = PyObject_RichCompareBool(t, a[A_DUE_T], Py_GE);
    if (due < 0) goto fail;
    PyObject *extra[4] = {seq, a[A_LAST_LEAF], t, kind};
    if ((out = entry_tuple((PyTypeObject *)args[1], payload, extra)) == NULL) goto fail;
    if (out == Py_None) goto decline;
    if (PyBytes_GET_SIZE(PyTuple_GET_ITEM(out, 1)) > MAX_ENTRY_BYTES) goto decline; /* Python refuses it */
    /* Python refuses a payload that sets a reserved field; the encoder already declines one (the entry
     * would have the key twice), checked again here as it costs little: the keys are all exact str. */
    for (int i = 0; i < 4; i++) {
        int r = PyDict_Contains(payload, reserved_names[i]);
        if (r < 0) goto fail;
        if (r) goto decline;
    }

    /* The Python body's changes, in its order: tree.append(leaf), the pending lists, the chain. */
    PyObject *data = PyTuple_GET_ITEM(out, 1), *leaf = PyTuple_GET_ITEM(out, 2);
    Py_ssize_t size = PyByteArray_GET_SIZE(level);
    if (PyByteArray_Resize(level, size + HASH) < 0) {
        if (!PyErr_ExceptionMatches(PyExc_BufferError)) goto fail;
        PyErr_Clear(); /* a view of the leaf level is held (nothing changed): Python's body raises it */
        goto decline;
    }
    memcpy(PyByteArray_AS_STRING(level) + size, PyBytes_AS_STRING(leaf), HASH);
    if (Py_TYPE(size_slot)->tp_descr_set(size_slot, tree, next) < 0) goto fail;
    if (PyList_Append(a[A_PENDING_DATA], data) < 0 || PyList_Append(a[A_PENDING_LEAVES], leaf) < 0) goto fail;
    Py_INCREF(t); /* log._last_t = t; log._last_leaf = leaf (the old values are held in `a`) */
    Py_SETREF(LOG_SLOT(log, A_LAST_T), t);
    Py_INCREF(leaf);
    Py_SETREF(LOG_SLOT(log, A_LAST_LEAF), leaf);
    if (due) {
        PyObject *r = PyObject_CallMethodOneArg(log, attr_names[A_MAYBE_CHECKPOINT], t);
        if (r == NULL) goto fail;
        Py_DECREF(r);
    }
    result = out;
    out = NULL;
    goto done;
decline:
    if (PyErr_Occurred()) {
        if (!PyErr_ExceptionMatches(PyExc_AttributeError)) goto fail;
        PyErr_Clear(); /* a missing attribute or slot: Python's body raises it itself */
    }
    Py_INCREF(Py_None);
    result = Py_None;
    goto done;
fail:
    result = NULL;
done:
    for (int i = 0; i < A_MAYBE_CHECKPOINT; i++) Py_XDECREF(a[i]);
    Py_XDECREF(levels);
    Py_XDECREF(level);
    Py_XDECREF(seq);
    Py_XDECREF(next);
    Py_XDECREF(out);
    return result;
}

/* ---------------------------------------------------------------------------------------------
 * Validation of canonical entry bytes: exactly what canonical.decode accepts (maps of str keys
 * strictly ascending by UTF-8 bytes, minimal integer / length / container headers, strict UTF-8,
 * no float or ext, nothing after the entry), up to MAX_DEPTH levels of nesting.
 */

typedef struct {
    const unsigned char *p;
    const unsigned char *end;
} reader_t;

static uint64_t
get_be(const unsigned char *p, int n)
{
    uint64_t x = 0;
    for (int i = 0; i < n; i++) x = (x << 8) | p[i];
    return x;
}

/* Strict UTF-8 as Python's codec decodes it (no surrogates, no overlong forms, <= U+10FFFF). */
static int
utf8_ok(const unsigned char *s, Py_ssize_t n)
{
    const unsigned char *end = s + n;
    while (s < end) {
        unsigned char c = *s;
        if (c < 0x80) { s++; continue; }
        if (c >= 0xc2 && c <= 0xdf) {
            if (end - s < 2 || (s[1] & 0xc0) != 0x80) return 0;
            s += 2;
        } else if (c >= 0xe0 && c <= 0xef) {
            if (end - s < 3 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80) return 0;
            if (c == 0xe0 && s[1] < 0xa0) return 0;  /* overlong */
            if (c == 0xed && s[1] > 0x9f) return 0;  /* surrogate */
            s += 3;
        } else if (c >= 0xf0 && c <= 0xf4) {
            if (end - s < 4 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 || (s[3] & 0xc0) != 0x80) return 0;
            if (c == 0xf0 && s[1] < 0x90) return 0;  /* overlong */
            if (c == 0xf4 && s[1] > 0x8f) return 0;  /* above U+10FFFF */
            s += 4;
        } else {
            return 0;
        }
    }
    return 1;
}

/* What a value turned out to be (for the four ledger fields). */
enum { FT_OTHER, FT_UINT, FT_NEG, FT_STR, FT_BIN };

typedef struct {
    int type;
    uint64_t u;
    int64_t s;
    const unsigned char *buf;
    Py_ssize_t len;
} value_t;

static int check_value(reader_t *r, int depth, value_t *out);

/* A str header and its bytes, minimal and valid UTF-8; 0 if it is not one. */
static int
read_str(reader_t *r, const unsigned char **buf, Py_ssize_t *len)
{
    if (r->p >= r->end) return 0;
    unsigned char b = *r->p++;
    uint64_t n;
    if (b >= 0xa0 && b <= 0xbf) n = b & 0x1f;
    else if (b == 0xd9) { if (r->end - r->p < 1) return 0; n = r->p[0]; r->p += 1; if (n < 32) return 0; }
    else if (b == 0xda) { if (r->end - r->p < 2) return 0; n = get_be(r->p, 2); r->p += 2; if (n < 256) return 0; }
    else if (b == 0xdb) { if (r->end - r->p < 4) return 0; n = get_be(r->p, 4); r->p += 4; if (n < 65536) return 0; }
    else return 0;
    if ((uint64_t)(r->end - r->p) < n) return 0;
    if (!utf8_ok(r->p, (Py_ssize_t)n)) return 0;
    *buf = r->p;
    *len = (Py_ssize_t)n;
    r->p += n;
    return 1;
}

/* The body of a map of n pairs: str keys strictly ascending, values canonical. If `fields` is not
 * NULL (the top level), the values of the keys "kind", "prev", "seq" and "t" are reported there. */
static int
check_map(reader_t *r, uint64_t n, int depth, value_t *fields, int *found)
{
    const unsigned char *prev_key = NULL;
    Py_ssize_t prev_len = 0;
    for (uint64_t i = 0; i < n; i++) {
        const unsigned char *key;
        Py_ssize_t klen;
        if (!read_str(r, &key, &klen)) return 0;
        if (prev_key != NULL) {
            Py_ssize_t m = prev_len < klen ? prev_len : klen;
            int c = memcmp(prev_key, key, (size_t)m);
            if (c > 0 || (c == 0 && prev_len >= klen)) return 0; /* not strictly ascending */
        }
        prev_key = key;
        prev_len = klen;
        value_t v;
        if (!check_value(r, depth, &v)) return 0;
        if (fields != NULL) {
            int f = -1;
            if (klen == 3 && memcmp(key, "seq", 3) == 0) f = 0;
            else if (klen == 4 && memcmp(key, "prev", 4) == 0) f = 1;
            else if (klen == 1 && key[0] == 't') f = 2;
            else if (klen == 4 && memcmp(key, "kind", 4) == 0) f = 3;
            if (f >= 0) { fields[f] = v; found[f] = 1; }
        }
    }
    return 1;
}

static int
check_value(reader_t *r, int depth, value_t *out)
{
    out->type = FT_OTHER;
    if (r->p >= r->end) return 0;
    unsigned char b = *r->p;
    if (b <= 0x7f) { r->p++; out->type = FT_UINT; out->u = b; return 1; }
    if (b >= 0xe0) { r->p++; out->type = FT_NEG; out->s = (int8_t)b; return 1; }
    if ((b >= 0xa0 && b <= 0xbf) || (b >= 0xd9 && b <= 0xdb)) {
        if (!read_str(r, &out->buf, &out->len)) return 0;
        out->type = FT_STR;
        return 1;
    }
    r->p++;
    Py_ssize_t avail = r->end - r->p;
    uint64_t n;
    switch (b) {
    case 0xc0: case 0xc2: case 0xc3:
        return 1;
    case 0xc4: case 0xc5: case 0xc6: {
        int w = b == 0xc4 ? 1 : b == 0xc5 ? 2 : 4;
        if (avail < w) return 0;
        n = get_be(r->p, w);
        r->p += w;
        if ((w == 2 && n < 256) || (w == 4 && n < 65536)) return 0;
        if ((uint64_t)(r->end - r->p) < n) return 0;
        out->type = FT_BIN; out->buf = r->p; out->len = (Py_ssize_t)n;
        r->p += n;
        return 1;
    }
    case 0xcc: case 0xcd: case 0xce: case 0xcf: {
        int w = 1 << (b - 0xcc);
        static const uint64_t least[4] = {128, 256, 65536, 0x100000000ULL};
        if (avail < w) return 0;
        n = get_be(r->p, w);
        r->p += w;
        if (n < least[b - 0xcc]) return 0;
        out->type = FT_UINT; out->u = n;
        return 1;
    }
    case 0xd0: case 0xd1: case 0xd2: case 0xd3: {
        int w = 1 << (b - 0xd0);
        static const int64_t most[4] = {-33, -129, -32769, -2147483649LL};
        if (avail < w) return 0;
        uint64_t x = get_be(r->p, w);
        r->p += w;
        int64_t s;
        if (w == 1) s = (int8_t)x;
        else if (w == 2) s = (int16_t)x;
        else if (w == 4) s = (int32_t)x;
        else s = (int64_t)x;
        if (s > most[b - 0xd0]) return 0; /* a smaller (or the unsigned) form exists */
        out->type = FT_NEG; out->s = s;
        return 1;
    }
    case 0xdc: case 0xdd: case 0xde: case 0xdf: {
        int w = (b == 0xdc || b == 0xde) ? 2 : 4;
        if (avail < w) return 0;
        n = get_be(r->p, w);
        r->p += w;
        if (n < (w == 2 ? 16u : 65536u)) return 0;
        if (depth >= MAX_DEPTH) return 0;
        if (b >= 0xde) return check_map(r, n, depth + 1, NULL, NULL);
        for (uint64_t i = 0; i < n; i++) {
            value_t v;
            if (!check_value(r, depth + 1, &v)) return 0;
        }
        return 1;
    }
    default:
        break;
    }
    if (b >= 0x80 && b <= 0x9f) {
        if (depth >= MAX_DEPTH) return 0;
        n = b & 0x0f;
        if (b <= 0x8f) return check_map(r, n, depth + 1, NULL, NULL);
        for (uint64_t i = 0; i < n; i++) {
            value_t v;
            if (!check_value(r, depth + 1, &v)) return 0;
        }
        return 1;
    }
    return 0; /* 0xc1, float, ext */
}

/* Validate a whole entry; fill the four fields (found[i] = 0 for a missing one). */
static int
check_entry_bytes(const unsigned char *data, Py_ssize_t len, value_t fields[4], int found[4])
{
    reader_t r = {data, data + len};
    found[0] = found[1] = found[2] = found[3] = 0;
    if (len < 1) return 0;
    unsigned char b = *r.p++;
    uint64_t n;
    if (b >= 0x80 && b <= 0x8f) n = b & 0x0f;
    else if (b == 0xde) { if (r.end - r.p < 2) return 0; n = get_be(r.p, 2); r.p += 2; if (n < 16) return 0; }
    else if (b == 0xdf) { if (r.end - r.p < 4) return 0; n = get_be(r.p, 4); r.p += 4; if (n < 65536) return 0; }
    else return 0;
    if (!check_map(&r, n, 1, fields, found)) return 0;
    return r.p == r.end;
}

static PyObject *
int_value(const value_t *v)
{
    return v->type == FT_UINT ? PyLong_FromUnsignedLongLong(v->u) : PyLong_FromLongLong(v->s);
}

static PyObject *
sp_check_entry(PyObject *self, PyObject *data)
{
    if (!PyBytes_CheckExact(data)) Py_RETURN_NONE;
    value_t f[4];
    int found[4];
    if (!check_entry_bytes((const unsigned char *)PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data), f, found))
        Py_RETURN_NONE;
    /* The fields as decode() would give them; a field of another type is "not clean" (None). */
    if ((found[0] && f[0].type != FT_UINT && f[0].type != FT_NEG) || (found[1] && f[1].type != FT_BIN) ||
        (found[2] && f[2].type != FT_UINT && f[2].type != FT_NEG) || (found[3] && f[3].type != FT_STR))
        Py_RETURN_NONE;
    PyObject *out = PyTuple_New(4);
    if (out == NULL) return NULL;
    for (int i = 0; i < 4; i++) {
        PyObject *o;
        if (!found[i]) { o = Py_None; Py_INCREF(o); }
        else if (i == 1) o = PyBytes_FromStringAndSize((const char *)f[1].buf, f[1].len);
        else if (i == 3) o = PyUnicode_DecodeUTF8((const char *)f[3].buf, f[3].len, "strict");
        else o = int_value(&f[i]);
        if (o == NULL) { Py_DECREF(out); return NULL; }
        PyTuple_SET_ITEM(out, i, o);
    }
    return out;
}

static PyObject *
sp_is_canonical(PyObject *self, PyObject *data)
{
    value_t f[4];
    int found[4];
    if (PyBytes_CheckExact(data) &&
        check_entry_bytes((const unsigned char *)PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data), f, found))
        Py_RETURN_TRUE;
    Py_RETURN_FALSE;
}

static PyObject *
sp_audit_chunk(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "audit_chunk(rows, start, prev, last_t)");
        return NULL;
    }
    PyObject *rows = args[0], *prev = args[2];
    if (!PyList_CheckExact(rows) || !PyLong_CheckExact(args[1]) || !PyBytes_CheckExact(prev) ||
        PyBytes_GET_SIZE(prev) != HASH || !PyLong_CheckExact(args[3]))
        Py_RETURN_NONE;
    Py_ssize_t n = PyList_GET_SIZE(rows);
    long long start = PyLong_AsLongLong(args[1]);
    if (start == -1 && PyErr_Occurred()) { PyErr_Clear(); Py_RETURN_NONE; }
    unsigned long long last_t = PyLong_AsUnsignedLongLong(args[3]);
    if (last_t == (unsigned long long)-1 && PyErr_Occurred()) { PyErr_Clear(); Py_RETURN_NONE; }
    if (n == 0 || start < 0) Py_RETURN_NONE;
    PyObject *leaves = PyBytes_FromStringAndSize(NULL, n * HASH);
    if (leaves == NULL) return NULL;
    unsigned char *out = (unsigned char *)PyBytes_AS_STRING(leaves);
    const unsigned char *chain = (const unsigned char *)PyBytes_AS_STRING(prev);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *row = PyList_GET_ITEM(rows, i);
        if (!PyTuple_Check(row) || PyTuple_GET_SIZE(row) != 3) goto unclean;
        PyObject *seq = PyTuple_GET_ITEM(row, 0), *data = PyTuple_GET_ITEM(row, 1), *stored = PyTuple_GET_ITEM(row, 2);
        if (!PyLong_CheckExact(seq) || !PyBytes_CheckExact(data) || !PyBytes_CheckExact(stored) ||
            PyBytes_GET_SIZE(stored) != HASH)
            goto unclean;
        long long s = PyLong_AsLongLong(seq);
        if (s == -1 && PyErr_Occurred()) { PyErr_Clear(); goto unclean; }
        if (s != start + i) goto unclean;
        const unsigned char *bytes = (const unsigned char *)PyBytes_AS_STRING(data);
        Py_ssize_t len = PyBytes_GET_SIZE(data);
        unsigned char *leaf = out + i * HASH;
        leaf_hash(bytes, (size_t)len, leaf);
        if (memcmp(leaf, PyBytes_AS_STRING(stored), HASH) != 0) goto unclean;
        value_t f[4];
        int found[4];
        if (!check_entry_bytes(bytes, len, f, found)) goto unclean;
        if (!(found[0] && found[1] && found[2] && found[3])) goto unclean;
        if (f[0].type != FT_UINT || f[0].u != (uint64_t)s) goto unclean;
        if (f[1].type != FT_BIN || f[1].len != HASH || memcmp(f[1].buf, chain, HASH) != 0) goto unclean;
        if (f[2].type != FT_UINT || f[2].u < last_t) goto unclean;
        if (f[3].type != FT_STR || f[3].len == 0) goto unclean;
        last_t = f[2].u;
        chain = leaf;
    }
    {
        PyObject *t = PyLong_FromUnsignedLongLong(last_t);
        if (t == NULL) { Py_DECREF(leaves); return NULL; }
        PyObject *result = PyTuple_New(2);
        if (result == NULL) { Py_DECREF(leaves); Py_DECREF(t); return NULL; }
        PyTuple_SET_ITEM(result, 0, leaves);
        PyTuple_SET_ITEM(result, 1, t);
        return result;
    }
unclean:
    Py_DECREF(leaves);
    Py_RETURN_NONE;
}

/* ---------------------------------------------------------------------------------------------
 * Merkle levels
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
    if (start < 0 || stop < start || stop > view.len || (stop - start) % (2 * HASH) != 0) {
        PyErr_SetString(PyExc_ValueError, "hash_pairs: bad range");
        goto done;
    }
    result = PyBytes_FromStringAndSize(NULL, (stop - start) / 2);
    if (result == NULL) goto done;
    {
        const unsigned char *in = (const unsigned char *)view.buf + start;
        unsigned char *out = (unsigned char *)PyBytes_AS_STRING(result);
        Py_ssize_t pairs = (stop - start) / (2 * HASH);
        for (Py_ssize_t i = 0; i < pairs; i++) node_hash(in + i * 2 * HASH, out + i * HASH);
    }
done:
    PyBuffer_Release(&view);
    return result;
}

/* ---------------------------------------------------------------------------------------------
 * Canonical base64 (OpenSSL's EVP block codec) and tlog-proof texts, for certificate verification
 */

/* Decode `s` (n ASCII chars) into `out` (room for n / 4 * 3 bytes) if it is exactly the canonical
 * base64 spelling of some bytes: re-encoding them gives `s` back. Return their length, or -1. */
static Py_ssize_t
b64_canonical(const char *s, Py_ssize_t n, unsigned char *out)
{
    if (n % 4 != 0 || n > 0x3fffffff) return -1;
    if (n == 0) return 0;
    int r = EVP_DecodeBlock(out, (const unsigned char *)s, (int)n);
    if (r < 0) return -1;
    Py_ssize_t len = r - (s[n - 1] == '=') - (s[n - 2] == '=');
    if (len < 0) return -1;
    unsigned char stack[128];
    unsigned char *again = n + 1 <= (Py_ssize_t)sizeof(stack) ? stack : PyMem_Malloc((size_t)n + 1);
    if (again == NULL) return -1;
    int m = EVP_EncodeBlock(again, out, (int)len);
    int same = m == n && memcmp(again, s, (size_t)n) == 0;
    if (again != stack) PyMem_Free(again);
    return same ? len : -1;
}

/* The ASCII text of a str, or NULL (not a str, or not ASCII). */
static const char *
ascii_text(PyObject *text, Py_ssize_t *n)
{
    if (!PyUnicode_CheckExact(text) || !PyUnicode_IS_ASCII(text)) return NULL;
    *n = PyUnicode_GET_LENGTH(text);
    return (const char *)PyUnicode_1BYTE_DATA(text);
}

static PyObject *
b64_bytes(PyObject *text, int with_leaf)
{
    Py_ssize_t n;
    const char *s = ascii_text(text, &n);
    if (s == NULL || n % 4 != 0) Py_RETURN_NONE;
    PyObject *data = PyBytes_FromStringAndSize(NULL, n / 4 * 3);
    if (data == NULL) return NULL;
    Py_ssize_t len = b64_canonical(s, n, (unsigned char *)PyBytes_AS_STRING(data));
    if (len < 0) { Py_DECREF(data); Py_RETURN_NONE; }
    if (_PyBytes_Resize(&data, len) < 0) return NULL;
    if (!with_leaf) return data;
    PyObject *leaf = PyBytes_FromStringAndSize(NULL, HASH);
    if (leaf == NULL) { Py_DECREF(data); return NULL; }
    leaf_hash((const unsigned char *)PyBytes_AS_STRING(data), (size_t)len, (unsigned char *)PyBytes_AS_STRING(leaf));
    PyObject *result = PyTuple_New(2);
    if (result == NULL) { Py_DECREF(data); Py_DECREF(leaf); return NULL; }
    PyTuple_SET_ITEM(result, 0, data);
    PyTuple_SET_ITEM(result, 1, leaf);
    return result;
}

static PyObject *
sp_b64_leaf(PyObject *self, PyObject *text)
{
    return b64_bytes(text, 1);
}

static PyObject *
sp_b64(PyObject *self, PyObject *text)
{
    return b64_bytes(text, 0);
}

static const char PROOF_HEADER[] = "c2sp.org/tlog-proof@v1\nindex ";

static PyObject *
sp_tlog_proof_head(PyObject *self, PyObject *text)
{
    /* The signed note after the blank line may hold any text (its signature lines start with an em
     * dash, so the str is often not ASCII); what comes before it must be ASCII. It is read in place
     * (a 1-byte str) or copied out as ASCII, never re-encoded as a whole. */
    if (!PyUnicode_CheckExact(text)) Py_RETURN_NONE;
    Py_ssize_t len = PyUnicode_GET_LENGTH(text);
    int kind = PyUnicode_KIND(text);
    const void *chars = PyUnicode_DATA(text);
    Py_ssize_t blank = -1;
    for (Py_ssize_t i = 0; i + 1 < len; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, chars, i);
        if (c > 0x7f) Py_RETURN_NONE; /* before the blank line: not a plain proof */
        if (c == '\n' && PyUnicode_READ(kind, chars, i + 1) == '\n') { blank = i; break; }
    }
    if (blank < 0) Py_RETURN_NONE;
    char stack[2048];
    char *copy = NULL;
    const char *s;
    if (kind == PyUnicode_1BYTE_KIND) {
        s = (const char *)chars;
    } else {
        copy = blank <= (Py_ssize_t)sizeof(stack) ? stack : PyMem_Malloc((size_t)blank);
        if (copy == NULL) return PyErr_NoMemory();
        for (Py_ssize_t i = 0; i < blank; i++) copy[i] = (char)PyUnicode_READ(kind, chars, i);
        s = copy;
    }
    PyObject *result = NULL, *path = NULL;
    const char *end = s + blank;
    Py_ssize_t hl = (Py_ssize_t)sizeof(PROOF_HEADER) - 1;
    if (blank < hl || memcmp(s, PROOF_HEADER, (size_t)hl) != 0) goto not_clean;
    /* index N: digits up to the end of the line, no leading zero, at most 18 of them */
    const char *p = s + hl, *digits = p;
    long long index = 0;
    while (p < end && *p != '\n') {
        if (*p < '0' || *p > '9' || p - digits >= 18) goto not_clean;
        index = index * 10 + (*p - '0');
        p++;
    }
    if (p == digits || (digits[0] == '0' && p - digits > 1)) goto not_clean;
    /* the hash lines: "\n" + 44 characters each, up to the blank line */
    if ((end - p) % 45 != 0) goto not_clean;
    Py_ssize_t count = (end - p) / 45;
    path = PyBytes_FromStringAndSize(NULL, count * HASH);
    if (path == NULL) goto done;
    unsigned char *out = (unsigned char *)PyBytes_AS_STRING(path), one[33];
    for (Py_ssize_t i = 0; i < count; i++, p += 45) {
        if (p[0] != '\n' || b64_canonical(p + 1, 44, one) != HASH) goto not_clean;
        memcpy(out + i * HASH, one, HASH);
    }
    PyObject *signed_text = PyUnicode_Substring(text, blank + 2, len);
    if (signed_text == NULL) goto done;
    result = Py_BuildValue("(LON)", index, path, signed_text); /* "N" steals signed_text, even on failure */
    goto done;
not_clean:
    result = Py_None;
    Py_INCREF(result);
done:
    Py_XDECREF(path);
    if (copy != NULL && copy != stack) PyMem_Free(copy);
    return result;
}

/* ---------------------------------------------------------------------------------------------
 * Inclusion proofs (RFC 9162 section 2.1.3.2), for certificate verification
 */

/* The root an RFC 9162 inclusion path (`len` bytes of joined hashes) leads to from `leaf` at `index` in
 * a tree of `size`, into `out`; 0 for a malformed path (index outside the tree, too long or too short). */
static int
inclusion(const unsigned char *leaf, long long index, long long size, const unsigned char *sibling, Py_ssize_t len,
          unsigned char out[HASH])
{
    if (len % HASH != 0 || index < 0 || index >= size) return 0;
    unsigned char pair[2 * HASH];
    memcpy(out, leaf, HASH);
    unsigned long long fn = (unsigned long long)index, sn = (unsigned long long)size - 1;
    for (Py_ssize_t o = 0; o < len; o += HASH) {
        if (sn == 0) return 0; /* the path is longer than the tree is deep */
        if ((fn & 1) || fn == sn) {
            memcpy(pair, sibling + o, HASH);
            memcpy(pair + HASH, out, HASH);
            while (!(fn & 1) && fn != 0) {
                fn >>= 1;
                sn >>= 1;
            }
        } else {
            memcpy(pair, out, HASH);
            memcpy(pair + HASH, sibling + o, HASH);
        }
        node_hash(pair, out);
        fn >>= 1;
        sn >>= 1;
    }
    return sn == 0; /* else the path is shorter than the tree is deep */
}

/* A Python int as a long long; 0 (error cleared) if it is not an exact int or does not fit. */
static int
exact_ll(PyObject *o, long long *out)
{
    if (!PyLong_CheckExact(o)) return 0;
    int overflow = 0;
    *out = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (overflow || (*out == -1 && PyErr_Occurred())) { PyErr_Clear(); return 0; }
    return 1;
}

static PyObject *
sp_proof_root(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "proof_root(leaf, index, size, path)");
        return NULL;
    }
    PyObject *leaf = args[0], *path = args[3];
    long long index, size;
    if (!PyBytes_CheckExact(leaf) || !PyBytes_CheckExact(path) || !exact_ll(args[1], &index) ||
        !exact_ll(args[2], &size) || PyBytes_GET_SIZE(leaf) != HASH)
        Py_RETURN_NONE;
    unsigned char r[HASH];
    if (!inclusion((const unsigned char *)PyBytes_AS_STRING(leaf), index, size,
                   (const unsigned char *)PyBytes_AS_STRING(path), PyBytes_GET_SIZE(path), r))
        Py_RETURN_NONE;
    return PyBytes_FromStringAndSize((const char *)r, HASH);
}

/* ---------------------------------------------------------------------------------------------
 * Decoding canonical entries: the validator above decides, then the objects are built in one walk
 * that trusts what it validated (the same objects msgpack.unpackb gives: dict, list, str, bytes,
 * int, bool, None).
 */

static PyObject *build_value(reader_t *r);

static PyObject *
build_str(reader_t *r)
{
    unsigned char b = *r->p++;
    Py_ssize_t n;
    if (b >= 0xa0 && b <= 0xbf) n = b & 0x1f;
    else if (b == 0xd9) { n = r->p[0]; r->p += 1; }
    else if (b == 0xda) { n = (Py_ssize_t)get_be(r->p, 2); r->p += 2; }
    else { n = (Py_ssize_t)get_be(r->p, 4); r->p += 4; }
    PyObject *s = PyUnicode_DecodeUTF8((const char *)r->p, n, "strict");
    r->p += n;
    return s;
}

/* Map keys repeat from entry to entry ("seq", "kind", "lot", ...): short ASCII keys are kept in a small
 * direct-mapped cache, so a decoded map reuses one str object per key, its hash already computed. */
#define KEY_CACHE_SLOTS 512
#define KEY_CACHE_MAX_LEN 32
static PyObject *key_cache[KEY_CACHE_SLOTS];

static PyObject *
build_key(reader_t *r)
{
    unsigned char b = *r->p;
    if (b < 0xa0 || b > 0xbf || (b & 0x1f) > KEY_CACHE_MAX_LEN) return build_str(r);
    Py_ssize_t n = b & 0x1f;
    const unsigned char *p = r->p + 1;
    uint32_t h = 2166136261u; /* FNV-1a */
    for (Py_ssize_t i = 0; i < n; i++) {
        if (p[i] >= 0x80) return build_str(r); /* not ASCII: not cached */
        h = (h ^ p[i]) * 16777619u;
    }
    PyObject **slot = &key_cache[h % KEY_CACHE_SLOTS];
    PyObject *k = *slot;
    if (k != NULL && PyUnicode_GET_LENGTH(k) == n && memcmp(PyUnicode_1BYTE_DATA(k), p, (size_t)n) == 0) {
        r->p = p + n;
        Py_INCREF(k);
        return k;
    }
    k = PyUnicode_FromStringAndSize((const char *)p, n);
    if (k == NULL) return NULL;
    if (PyObject_Hash(k) == -1) { Py_DECREF(k); return NULL; }
    r->p = p + n;
    Py_INCREF(k);
    Py_XSETREF(*slot, k);
    return k;
}

static PyObject *
build_map(reader_t *r, uint64_t n)
{
#if PY_VERSION_HEX < 0x030D0000 /* presized: no resizing while an entry's 10-20 keys go in */
    PyObject *d = n > 5 ? _PyDict_NewPresized((Py_ssize_t)n) : PyDict_New();
#else
    PyObject *d = PyDict_New();
#endif
    if (d == NULL) return NULL;
    for (uint64_t i = 0; i < n; i++) {
        PyObject *k = build_key(r);
        if (k == NULL) { Py_DECREF(d); return NULL; }
        PyObject *v = build_value(r);
        if (v == NULL) { Py_DECREF(k); Py_DECREF(d); return NULL; }
        int rc = PyDict_SetItem(d, k, v);
        Py_DECREF(k);
        Py_DECREF(v);
        if (rc < 0) { Py_DECREF(d); return NULL; }
    }
    return d;
}

static PyObject *
build_list(reader_t *r, uint64_t n)
{
    PyObject *l = PyList_New((Py_ssize_t)n);
    if (l == NULL) return NULL;
    for (uint64_t i = 0; i < n; i++) {
        PyObject *v = build_value(r);
        if (v == NULL) { Py_DECREF(l); return NULL; }
        PyList_SET_ITEM(l, (Py_ssize_t)i, v);
    }
    return l;
}

static PyObject *
build_value(reader_t *r)
{
    unsigned char b = *r->p;
    if (b <= 0x7f) { r->p++; return PyLong_FromLong(b); }
    if (b >= 0xe0) { r->p++; return PyLong_FromLong((int8_t)b); }
    if ((b >= 0xa0 && b <= 0xbf) || (b >= 0xd9 && b <= 0xdb)) return build_str(r);
    r->p++;
    if (b >= 0x80 && b <= 0x8f) return build_map(r, b & 0x0f);
    if (b >= 0x90 && b <= 0x9f) return build_list(r, b & 0x0f);
    uint64_t n;
    switch (b) {
    case 0xc0: Py_RETURN_NONE;
    case 0xc2: Py_RETURN_FALSE;
    case 0xc3: Py_RETURN_TRUE;
    case 0xc4: case 0xc5: case 0xc6: {
        int w = b == 0xc4 ? 1 : b == 0xc5 ? 2 : 4;
        n = get_be(r->p, w);
        r->p += w;
        PyObject *o = PyBytes_FromStringAndSize((const char *)r->p, (Py_ssize_t)n);
        r->p += n;
        return o;
    }
    case 0xcc: case 0xcd: case 0xce: case 0xcf: {
        int w = 1 << (b - 0xcc);
        n = get_be(r->p, w);
        r->p += w;
        return PyLong_FromUnsignedLongLong(n);
    }
    case 0xd0: case 0xd1: case 0xd2: case 0xd3: {
        int w = 1 << (b - 0xd0);
        uint64_t x = get_be(r->p, w);
        r->p += w;
        int64_t s = w == 1 ? (int8_t)x : w == 2 ? (int16_t)x : w == 4 ? (int32_t)x : (int64_t)x;
        return PyLong_FromLongLong(s);
    }
    case 0xdc: n = get_be(r->p, 2); r->p += 2; return build_list(r, n);
    case 0xdd: n = get_be(r->p, 4); r->p += 4; return build_list(r, n);
    case 0xde: n = get_be(r->p, 2); r->p += 2; return build_map(r, n);
    case 0xdf: n = get_be(r->p, 4); r->p += 4; return build_map(r, n);
    default: break;
    }
    PyErr_SetString(PyExc_SystemError, "ledger._speedups: a validated entry holds an unexpected byte");
    return NULL;
}

/* The entry `data` (validated canonical bytes) as a dict. */
static PyObject *
build_entry(const unsigned char *data, Py_ssize_t len)
{
    reader_t r = {data, data + len};
    return build_value(&r);
}

static PyObject *
sp_decode_entry(PyObject *self, PyObject *data)
{
    value_t f[4];
    int found[4];
    if (!PyBytes_CheckExact(data)) Py_RETURN_NONE;
    const unsigned char *p = (const unsigned char *)PyBytes_AS_STRING(data);
    if (!check_entry_bytes(p, PyBytes_GET_SIZE(data), f, found)) Py_RETURN_NONE;
    return build_entry(p, PyBytes_GET_SIZE(data));
}

/* ---------------------------------------------------------------------------------------------
 * A proven entry of a certificate in one call: canonical base64 of a canonical entry whose seq is
 * its index, and its inclusion proof leading to the checkpoint's root.
 */

static PyObject *
sp_proven_entry(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "proven_entry(text, index, proof, size, root)");
        return NULL;
    }
    PyObject *text = args[0], *proof = args[2], *root = args[4];
    long long index, size;
    Py_ssize_t n;
    const char *s = ascii_text(text, &n);
    if (s == NULL || n % 4 != 0 || !exact_ll(args[1], &index) || !exact_ll(args[3], &size) ||
        !PyBytes_CheckExact(root) || PyBytes_GET_SIZE(root) != HASH)
        Py_RETURN_NONE;
    PyObject *data = PyBytes_FromStringAndSize(NULL, n / 4 * 3);
    if (data == NULL) return NULL;
    PyObject *leaf = NULL, *entry = NULL;
    unsigned char stack[64 * HASH];
    unsigned char *path_buf = NULL;
    Py_ssize_t len = b64_canonical(s, n, (unsigned char *)PyBytes_AS_STRING(data));
    if (len < 0 || _PyBytes_Resize(&data, len) < 0) goto not_clean; /* a failed resize freed data */
    {
        const unsigned char *d = (const unsigned char *)PyBytes_AS_STRING(data);
        value_t f[4];
        int found[4];
        if (!check_entry_bytes(d, len, f, found) || !found[0] || f[0].type != FT_UINT || index < 0 ||
            f[0].u != (uint64_t)index)
            goto not_clean;
        const unsigned char *path;
        Py_ssize_t plen;
        if (PyBytes_CheckExact(proof)) {
            path = (const unsigned char *)PyBytes_AS_STRING(proof);
            plen = PyBytes_GET_SIZE(proof);
        } else {
            Py_ssize_t pn;
            const char *ps = ascii_text(proof, &pn);
            if (ps == NULL || pn % 4 != 0) goto not_clean;
            path_buf = pn / 4 * 3 <= (Py_ssize_t)sizeof(stack) ? stack : PyMem_Malloc((size_t)(pn / 4 * 3) + 1);
            if (path_buf == NULL) { PyErr_NoMemory(); goto fail; }
            plen = b64_canonical(ps, pn, path_buf);
            if (plen < 0) goto not_clean;
            path = path_buf;
        }
        unsigned char lh[HASH], r[HASH];
        leaf_hash(d, (size_t)len, lh);
        if (!inclusion(lh, index, size, path, plen, r) || memcmp(r, PyBytes_AS_STRING(root), HASH) != 0)
            goto not_clean;
        leaf = PyBytes_FromStringAndSize((const char *)lh, HASH);
        if (leaf == NULL) goto fail;
        entry = build_entry(d, len);
        if (entry == NULL) goto fail;
    }
    if (path_buf != NULL && path_buf != stack) PyMem_Free(path_buf);
    PyObject *out = PyTuple_New(3);
    if (out == NULL) { Py_DECREF(data); Py_DECREF(leaf); Py_DECREF(entry); return NULL; }
    PyTuple_SET_ITEM(out, 0, data);
    PyTuple_SET_ITEM(out, 1, leaf);
    PyTuple_SET_ITEM(out, 2, entry);
    return out;
not_clean:
    if (path_buf != NULL && path_buf != stack) PyMem_Free(path_buf);
    Py_XDECREF(data);
    if (PyErr_Occurred()) return NULL;
    Py_RETURN_NONE;
fail:
    if (path_buf != NULL && path_buf != stack) PyMem_Free(path_buf);
    Py_XDECREF(data);
    Py_XDECREF(leaf);
    Py_XDECREF(entry);
    return NULL;
}

/* ---------------------------------------------------------------------------------------------
 * A transaction code's printed form (ledger.txcode), bound to an index and a leaf hash
 */

static int
b36(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'Z') return c - 'A' + 10;
    return -1;
}

static PyObject *
sp_code_fields(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "code_fields(code, index, leaf)");
        return NULL;
    }
    Py_ssize_t n;
    const char *s = ascii_text(args[0], &n);
    long long index;
    PyObject *leaf = args[2];
    if (s == NULL || !exact_ll(args[1], &index) || !PyBytes_CheckExact(leaf) || PyBytes_GET_SIZE(leaf) < 4)
        Py_RETURN_NONE;
    const char *p = s, *end = s + n;
    /* PP(PP)-YYMMDD-K-N-HHHH-CC: groups [A-Z]{2,4}, [0-9]{6}, [A-Z], 0|[1-9][0-9]*, [0-9A-Z]{4}, [0-9A-Z]{2} */
    const char *g[6];
    Py_ssize_t gl[6];
    g[0] = p;
    while (p < end && *p >= 'A' && *p <= 'Z' && p - g[0] < 4) p++;
    gl[0] = p - g[0];
    if (gl[0] < 2 || p >= end || *p++ != '-') Py_RETURN_NONE;
    g[1] = p;
    while (p < end && *p >= '0' && *p <= '9' && p - g[1] < 6) p++;
    gl[1] = p - g[1];
    if (gl[1] != 6 || p >= end || *p++ != '-') Py_RETURN_NONE;
    g[2] = p;
    if (p >= end || *p < 'A' || *p > 'Z') Py_RETURN_NONE;
    p++;
    gl[2] = 1;
    if (p >= end || *p++ != '-') Py_RETURN_NONE;
    g[3] = p;
    long long number = 0;
    while (p < end && *p >= '0' && *p <= '9') {
        if (p - g[3] >= 18) Py_RETURN_NONE; /* longer than any index: the Python check decides */
        number = number * 10 + (*p - '0');
        p++;
    }
    gl[3] = p - g[3];
    if (gl[3] == 0 || (g[3][0] == '0' && gl[3] > 1) || p >= end || *p++ != '-') Py_RETURN_NONE;
    g[4] = p;
    while (p < end && b36(*p) >= 0 && p - g[4] < 4) p++;
    gl[4] = p - g[4];
    if (gl[4] != 4 || p >= end || *p++ != '-') Py_RETURN_NONE;
    g[5] = p;
    while (p < end && b36(*p) >= 0 && p - g[5] < 2) p++;
    gl[5] = p - g[5];
    if (gl[5] != 2 || p != end) Py_RETURN_NONE;
    /* ISO/IEC 7064 MOD 1271-36 over the groups without separators; the printed check characters are
     * exactly (1 - payload * 36^2) mod 1271 (1271-1295 would satisfy the sum too, and are refused) */
    long payload = 0;
    for (int k = 0; k < 5; k++)
        for (Py_ssize_t i = 0; i < gl[k]; i++) payload = (payload * 36 + b36(g[k][i])) % 1271;
    long expected = ((1 - payload * 1296) % 1271 + 1271) % 1271;
    if (b36(g[5][0]) * 36 + b36(g[5][1]) != expected || number != index) Py_RETURN_NONE;
    const unsigned char *lh = (const unsigned char *)PyBytes_AS_STRING(leaf);
    unsigned long h = ((unsigned long)lh[0] << 24 | (unsigned long)lh[1] << 16 | (unsigned long)lh[2] << 8 | lh[3]) % 1679616UL;
    unsigned long shown = 0;
    for (int i = 0; i < 4; i++) shown = shown * 36 + (unsigned long)b36(g[4][i]);
    if (shown != h) Py_RETURN_NONE;
    /* YYMMDD: a real date of 20YY */
    int yy = (g[1][0] - '0') * 10 + (g[1][1] - '0'), mm = (g[1][2] - '0') * 10 + (g[1][3] - '0'),
        dd = (g[1][4] - '0') * 10 + (g[1][5] - '0');
    static const int days[13] = {0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (mm < 1 || mm > 12 || dd < 1 || dd > days[mm] || (mm == 2 && dd == 29 && yy % 4 != 0)) Py_RETURN_NONE;
    return Py_BuildValue("(s#s#s#s#)", g[0], gl[0], g[1], gl[1], g[2], gl[2], g[4], gl[4]);
}

/* ---------------------------------------------------------------------------------------------
 * Repeated keys in a JSON text a parser read (certificates: orjson, which keeps one copy silently)
 */

/* The member names (object keys) in a JSON text, found by its lexical structure alone: a string
 * followed, after white space, by ':' is a member name. For a text a JSON parser accepted; -1 if a
 * string is not closed. Each byte is looked at a bounded number of times (memchr between quotes; a
 * run of backslashes only from the quote that ends it). */
static Py_ssize_t
json_names(const char *s, Py_ssize_t n)
{
    const char *p = s, *end = s + n;
    Py_ssize_t count = 0;
    while ((p = memchr(p, '"', (size_t)(end - p))) != NULL) {
        const char *open = p++;
        for (;;) { /* the closing quote: the next one not escaped by an odd run of backslashes */
            p = memchr(p, '"', (size_t)(end - p));
            if (p == NULL) return -1;
            const char *b = p;
            while (b > open + 1 && b[-1] == '\\') b--;
            if (((p - b) & 1) == 0) break;
            p++;
        }
        p++;
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
        if (p < end && *p == ':') count++;
    }
    return count;
}

/* The keys of every dict in `v` (exact dicts and lists, walked at most JSON_MAX_DEPTH deep); -1 if
 * deeper. No Python code runs during the walk, so nothing can change the containers under it. */
#define JSON_MAX_DEPTH 64
static Py_ssize_t
tree_keys(PyObject *v, int depth)
{
    Py_ssize_t total = 0;
    if (PyDict_CheckExact(v)) {
        if (depth >= JSON_MAX_DEPTH) return -1;
        total = PyDict_GET_SIZE(v);
        Py_ssize_t pos = 0;
        PyObject *k, *x;
        while (PyDict_Next(v, &pos, &k, &x)) {
            if (PyDict_CheckExact(x) || PyList_CheckExact(x)) {
                Py_ssize_t c = tree_keys(x, depth + 1);
                if (c < 0) return -1;
                total += c;
            }
        }
    } else if (PyList_CheckExact(v)) {
        if (depth >= JSON_MAX_DEPTH) return -1;
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(v); i++) {
            PyObject *x = PyList_GET_ITEM(v, i);
            if (PyDict_CheckExact(x) || PyList_CheckExact(x)) {
                Py_ssize_t c = tree_keys(x, depth + 1);
                if (c < 0) return -1;
                total += c;
            }
        }
    }
    return total;
}

/* json_keys_unique(text, value): True if JSON text `text` (bytes or str) names as many members as the
 * dicts of `value` (what a parser made of it) hold keys, i.e. no object of the text repeats a key
 * (a parser keeps one copy per key, so a repeat leaves fewer keys than names); False otherwise, or
 * for anything it cannot tell (another type, a lone surrogate, nesting deeper than JSON_MAX_DEPTH). */
static PyObject *
sp_json_keys_unique(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "json_keys_unique(text, value)");
        return NULL;
    }
    const char *s;
    Py_ssize_t n;
    if (PyBytes_CheckExact(args[0])) {
        s = PyBytes_AS_STRING(args[0]);
        n = PyBytes_GET_SIZE(args[0]);
    } else if (PyUnicode_CheckExact(args[0])) {
        s = utf8_of(args[0], &n);
        if (s == NULL) { PyErr_Clear(); Py_RETURN_FALSE; }
    } else {
        Py_RETURN_FALSE;
    }
    Py_ssize_t names = json_names(s, n), keys = tree_keys(args[1], 0);
    if (names >= 0 && keys >= 0 && names == keys) Py_RETURN_TRUE;
    Py_RETURN_FALSE;
}

static PyMethodDef methods[] = {
    {"encode_entry", (PyCFunction)(void (*)(void))sp_encode_entry, METH_FASTCALL,
     "encode_entry(payload, seq, prev, t, kind) -> canonical bytes, or None (use the Python path)"},
    {"encode_flat", sp_encode_flat, METH_O, "encode_flat(entry) -> canonical bytes of a map, or None"},
    {"encode_value", sp_encode_value, METH_O, "encode_value(value) -> canonical bytes of any canonical value, or None"},
    {"append_entry", (PyCFunction)(void (*)(void))sp_append_entry, METH_FASTCALL,
     "append_entry(cls, payload, seq, prev, t, kind) -> cls((seq, data, leaf hash)), or None"},
    {"log_append", (PyCFunction)(void (*)(void))sp_log_append, METH_FASTCALL,
     "log_append(log, cls, kind, payload, t) -> Log.append's cls((seq, data, leaf hash)), or None (nothing changed)"},
    {"check_entry", sp_check_entry, METH_O,
     "check_entry(data) -> (seq, prev, t, kind) if data is one canonical entry with fields of the right types, else None"},
    {"is_canonical", sp_is_canonical, METH_O,
     "is_canonical(data) -> True if data is exactly one canonical entry (a map), else False (let Python decide)"},
    {"audit_chunk", (PyCFunction)(void (*)(void))sp_audit_chunk, METH_FASTCALL,
     "audit_chunk(rows, start, prev, last_t) -> (leaf hashes, last t) if every row is clean, else None"},
    {"hash_pairs", (PyCFunction)(void (*)(void))sp_hash_pairs, METH_FASTCALL,
     "hash_pairs(level, start, stop) -> the RFC 6962 node hashes of level[start:stop], 64 bytes a pair"},
    {"b64_leaf", sp_b64_leaf, METH_O, "b64_leaf(text) -> (bytes, leaf hash) if text is their canonical base64, else None"},
    {"b64", sp_b64, METH_O, "b64(text) -> the bytes whose canonical base64 is text, else None"},
    {"tlog_proof_head", sp_tlog_proof_head, METH_O,
     "tlog_proof_head(text) -> (index, joined hashes, signed checkpoint text) of a plain tlog-proof, else None"},
    {"proof_root", (PyCFunction)(void (*)(void))sp_proof_root, METH_FASTCALL,
     "proof_root(leaf, index, size, path) -> the root an RFC 9162 inclusion path leads to, or None"},
    {"decode_entry", sp_decode_entry, METH_O, "decode_entry(data) -> the entry as a dict if data is canonical, else None"},
    {"proven_entry", (PyCFunction)(void (*)(void))sp_proven_entry, METH_FASTCALL,
     "proven_entry(text, index, proof, size, root) -> (data, leaf hash, entry) of a proven canonical entry, else None"},
    {"code_fields", (PyCFunction)(void (*)(void))sp_code_fields, METH_FASTCALL,
     "code_fields(code, index, leaf) -> (prefix, date, kind, hash) of a printed code bound to them, else None"},
    {"json_keys_unique", (PyCFunction)(void (*)(void))sp_json_keys_unique, METH_FASTCALL,
     "json_keys_unique(text, value) -> True if no object of JSON text `text`, parsed as `value`, repeats a key"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "ledger._speedups", "Optional native accelerator of the ledger's hot loops.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    for (int i = 0; i < A_COUNT; i++) {
        if (attr_names[i] == NULL && (attr_names[i] = PyUnicode_InternFromString(ATTR_NAMES[i])) == NULL) return NULL;
    }
    for (int i = 0; i < M_COUNT; i++) {
        if (tree_names[i] == NULL && (tree_names[i] = PyUnicode_InternFromString(TREE_NAMES[i])) == NULL) return NULL;
    }
    for (int i = 0; i < 4; i++) {
        if (reserved_names[i] == NULL && (reserved_names[i] = PyUnicode_InternFromString(RESERVED[i])) == NULL)
            return NULL;
    }
    PyObject *m = PyModule_Create(&module);
    if (m != NULL && PyModule_AddIntConstant(m, "MAX_DEPTH", MAX_DEPTH) < 0) Py_CLEAR(m);
    if (m != NULL && PyModule_AddIntConstant(m, "MAX_ENTRY_BYTES", MAX_ENTRY_BYTES) < 0) Py_CLEAR(m);
    return m;
}
