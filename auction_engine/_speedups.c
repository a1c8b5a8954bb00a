/* Optional native versions of the certificate verifier's text formatting (auction_engine.certificates).
 *
 * A certificate shows four local times and two price texts, each recomputed from the signed entries on
 * every verification; in Python they cost as much as the rest of the human-field checks together. The
 * Python functions stay the reference: each function here gives exactly their text, or None where it
 * does not handle the input (then the caller runs the Python function). A property test compares both.
 *
 *   local_iso(t, offset_ms, suffix) -> str | None
 *       certificates._local(t, offset_ms, suffix): the instant `t` (integer ms since the epoch) shifted
 *       by `offset_ms`, as "YYYY-MM-DDTHH:MM:SS[.mmm]" + suffix; None if t or offset_ms is not an exact
 *       int, if either is beyond +-2^62, or if the date falls outside the years 1-9999.
 *   yuan_texts(fen) -> (str, str) | None
 *       (certificates._price_yuan(fen), model.yuan(fen)): "1234.56" and "¥1,234.56" (a leading "-" for
 *       a negative amount); None unless fen is an exact int within +-2^62.
 *   describe(deal, record, offset_ms, suffix) -> dict | None
 *       certificates.describe(deal, record) for a record whose utc_offset_ms is `offset_ms` and
 *       `suffix` its text: the deal section, its 14 keys in order; None if deal or record is not a
 *       dict, or a price or time is an int beyond +-2^62.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "_small_int.h"

#include <stdint.h>

#define DAY_MS 86400000LL
#define MAX_DAYS 2932896LL /* 9999-12-31 is day 2,932,896 after 1970-01-01 */
#define MIN_DAYS -719162LL /* 0001-01-01 */

/* Year, month, day of the proleptic Gregorian calendar from days since 1970-01-01 (H. Hinnant's
 * civil_from_days). */
static void
civil(long long z, long long *y, int *m, int *d)
{
    z += 719468;
    long long era = (z >= 0 ? z : z - 146096) / 146097;
    long long doe = z - era * 146097;
    long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    long long mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static char *
put2(char *p, int v)
{
    p[0] = (char)('0' + v / 10);
    p[1] = (char)('0' + v % 10);
    return p + 2;
}

/* The local time text of `t` (see local_iso) followed by `suffix`; 0 = declined (out of range), -1 = error. */
static int
local_text(long long t, long long offset, PyObject *suffix, PyObject **out)
{
    long long x = t + offset;
    long long days = x / DAY_MS, ms = x % DAY_MS;
    if (ms < 0) { ms += DAY_MS; days -= 1; } /* floor division, as Python's divmod */
    if (days < MIN_DAYS || days > MAX_DAYS) return 0;
    long long year;
    int month, day;
    civil(days, &year, &month, &day);
    int milli = (int)(ms % 1000), seconds = (int)(ms / 1000);
    char buf[32], *p = buf;
    p = put2(p, (int)(year / 100));
    p = put2(p, (int)(year % 100));
    *p++ = '-';
    p = put2(p, month);
    *p++ = '-';
    p = put2(p, day);
    *p++ = 'T';
    p = put2(p, seconds / 3600);
    *p++ = ':';
    p = put2(p, seconds / 60 % 60);
    *p++ = ':';
    p = put2(p, seconds % 60);
    if (milli) {
        *p++ = '.';
        *p++ = (char)('0' + milli / 100);
        p = put2(p, milli % 100);
    }
    PyObject *head = PyUnicode_FromStringAndSize(buf, p - buf);
    if (head == NULL) return -1;
    *out = PyUnicode_Concat(head, suffix);
    Py_DECREF(head);
    return *out == NULL ? -1 : 1;
}

static PyObject *
ae_local_iso(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "local_iso(t, offset_ms, suffix)");
        return NULL;
    }
    long long t, offset;
    if (!small_int(args[0], &t) || !small_int(args[1], &offset) || !PyUnicode_CheckExact(args[2])) Py_RETURN_NONE;
    PyObject *out = NULL;
    int r = local_text(t, offset, args[2], &out);
    if (r < 0) return NULL;
    if (r == 0) Py_RETURN_NONE;
    return out;
}

/* "1234.56" and "¥1,234.56" of v fen (|v| < 2^62). */
static int
price_texts(long long v, PyObject **plain_out, PyObject **text_out)
{
    int negative = v < 0;
    unsigned long long a = (unsigned long long)(negative ? -v : v);
    unsigned long long whole = a / 100;
    int cents = (int)(a % 100);
    char digits[24];
    int nd = 0;
    do {
        digits[nd++] = (char)('0' + whole % 10);
        whole /= 10;
    } while (whole);
    char plain[40], text[64], *p = plain, *q = text;
    if (negative) { *p++ = '-'; *q++ = '-'; }
    *q++ = '\xc2'; /* U+00A5 YEN SIGN in UTF-8 */
    *q++ = '\xa5';
    for (int i = nd - 1; i >= 0; i--) {
        *p++ = digits[i];
        *q++ = digits[i];
        if (i > 0 && i % 3 == 0) *q++ = ',';
    }
    *p++ = '.';
    *q++ = '.';
    p = put2(p, cents);
    q = put2(q, cents);
    *plain_out = PyUnicode_FromStringAndSize(plain, p - plain);
    *text_out = *plain_out == NULL ? NULL : PyUnicode_DecodeUTF8(text, q - text, "strict");
    if (*text_out == NULL) { Py_CLEAR(*plain_out); return -1; }
    return 0;
}

static PyObject *
ae_yuan_texts(PyObject *self, PyObject *fen)
{
    long long v;
    if (!small_int(fen, &v)) Py_RETURN_NONE;
    PyObject *plain, *text;
    if (price_texts(v, &plain, &text) < 0) return NULL;
    return Py_BuildValue("(NN)", plain, text);
}

/* ------------------------------------------------------------------------------------------------
 * The deal section of a certificate (certificates.describe), in one call
 */

static const char *const SECTION[14] = {
    "lot", "title", "submarket", "seller", "buyer", "mode", "rule", "price_fen",
    "price_yuan", "price_text", "deal_time", "payment_due", "publication_until", "issued",
};
static PyObject *section_keys[14]; /* interned at module initialisation */

/* A map's value or None (a new reference); NULL only on error. */
static PyObject *
get(PyObject *map, const char *key)
{
    PyObject *v = PyDict_GetItemString(map, key); /* borrowed; string keys cannot raise */
    if (v == NULL) v = Py_None;
    Py_INCREF(v);
    return v;
}

/* A time field: its local text, None if it is not an int or its date is outside the calendar; 0 = declined
 * (an int beyond +-2^62: the Python function decides). */
static int
time_field(PyObject *map, const char *key, long long offset, PyObject *suffix, PyObject **out)
{
    PyObject *v = PyDict_GetItemString(map, key);
    if (v == NULL || !PyLong_CheckExact(v)) { Py_INCREF(Py_None); *out = Py_None; return 1; }
    long long t;
    if (!small_int(v, &t)) return 0;
    int r = local_text(t, offset, suffix, out);
    if (r == 0) { Py_INCREF(Py_None); *out = Py_None; return 1; } /* outside the years 1-9999: None, as in Python */
    return r;
}

static PyObject *
ae_describe(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "describe(deal, record, offset_ms, suffix)");
        return NULL;
    }
    PyObject *deal = args[0], *record = args[1], *suffix = args[3];
    long long offset;
    if (!PyDict_CheckExact(deal) || !PyDict_CheckExact(record) || !small_int(args[2], &offset) ||
        !PyUnicode_CheckExact(suffix))
        Py_RETURN_NONE;
    PyObject *values[14] = {NULL};
    int declined = 0, failed = 0;
    values[0] = get(deal, "lot");
    values[1] = get(record, "title");
    values[2] = get(record, "submarket");
    values[3] = get(deal, "seller");
    values[4] = get(deal, "buyer");
    values[5] = get(deal, "mode");
    values[6] = get(deal, "rule");
    values[7] = get(deal, "price");
    if (PyLong_CheckExact(values[7])) {
        long long v;
        if (!small_int(values[7], &v)) declined = 1;
        else if (price_texts(v, &values[8], &values[9]) < 0) failed = 1;
    } else {
        Py_INCREF(Py_None);
        Py_INCREF(Py_None);
        values[8] = values[9] = Py_None;
    }
    static const char *const times[4] = {"t", "due", "publication_until", "t"};
    for (int i = 0; i < 4 && !declined && !failed; i++) {
        int r = time_field(i == 3 ? record : deal, times[i], offset, suffix, &values[10 + i]);
        if (r == 0) declined = 1;
        else if (r < 0) failed = 1;
    }
    PyObject *out = NULL;
    if (!declined && !failed) {
        out = PyDict_New();
        for (int i = 0; out != NULL && i < 14; i++) {
            if (PyDict_SetItem(out, section_keys[i], values[i]) < 0) Py_CLEAR(out);
        }
    }
    for (int i = 0; i < 14; i++) Py_XDECREF(values[i]);
    if (failed || (out == NULL && !declined)) return NULL;
    if (declined) Py_RETURN_NONE;
    return out;
}

static PyMethodDef methods[] = {
    {"local_iso", (PyCFunction)(void (*)(void))ae_local_iso, METH_FASTCALL,
     "local_iso(t, offset_ms, suffix) -> ISO 8601 local time text, or None (use the Python function)"},
    {"yuan_texts", ae_yuan_texts, METH_O, "yuan_texts(fen) -> ('1234.56', '¥1,234.56'), or None"},
    {"describe", (PyCFunction)(void (*)(void))ae_describe, METH_FASTCALL,
     "describe(deal, record, offset_ms, suffix) -> a certificate's deal section, or None (use the Python function)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "auction_engine._speedups",
    "Optional native text formatting for certificate verification.", -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    for (int i = 0; i < 14; i++) {
        if (section_keys[i] == NULL && (section_keys[i] = PyUnicode_InternFromString(SECTION[i])) == NULL) return NULL;
    }
    return PyModule_Create(&module);
}
