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
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <stdio.h>

#define LIMIT ((long long)1 << 62)
#define DAY_MS 86400000LL
#define MAX_DAYS 2932896LL /* 9999-12-31 is day 2,932,896 after 1970-01-01 */
#define MIN_DAYS -719162LL /* 0001-01-01 */

static int
small_int(PyObject *o, long long *out)
{
    if (!PyLong_CheckExact(o)) return 0;
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (overflow || (v == -1 && PyErr_Occurred())) { PyErr_Clear(); return 0; }
    if (v <= -LIMIT || v >= LIMIT) return 0;
    *out = v;
    return 1;
}

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

static PyObject *
ae_local_iso(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "local_iso(t, offset_ms, suffix)");
        return NULL;
    }
    long long t, offset;
    if (!small_int(args[0], &t) || !small_int(args[1], &offset) || !PyUnicode_CheckExact(args[2])) Py_RETURN_NONE;
    long long x = t + offset;
    long long days = x / DAY_MS, ms = x % DAY_MS;
    if (ms < 0) { ms += DAY_MS; days -= 1; } /* floor division, as Python's divmod */
    if (days < MIN_DAYS || days > MAX_DAYS) Py_RETURN_NONE;
    long long year;
    int month, day;
    civil(days, &year, &month, &day);
    int milli = (int)(ms % 1000), seconds = (int)(ms / 1000);
    char buf[40];
    int n;
    if (milli)
        n = snprintf(buf, sizeof(buf), "%04lld-%02d-%02dT%02d:%02d:%02d.%03d", year, month, day, seconds / 3600,
                     seconds / 60 % 60, seconds % 60, milli);
    else
        n = snprintf(buf, sizeof(buf), "%04lld-%02d-%02dT%02d:%02d:%02d", year, month, day, seconds / 3600,
                     seconds / 60 % 60, seconds % 60);
    PyObject *head = PyUnicode_FromStringAndSize(buf, n);
    if (head == NULL) return NULL;
    PyObject *out = PyUnicode_Concat(head, args[2]);
    Py_DECREF(head);
    return out;
}

static PyObject *
ae_yuan_texts(PyObject *self, PyObject *fen)
{
    long long v;
    if (!small_int(fen, &v)) Py_RETURN_NONE;
    const char *sign = v < 0 ? "-" : "";
    unsigned long long a = (unsigned long long)(v < 0 ? -v : v);
    unsigned long long whole = a / 100;
    int cents = (int)(a % 100);
    char plain[40], digits[32], grouped[48], text[64];
    int np = snprintf(plain, sizeof(plain), "%s%llu.%02d", sign, whole, cents);
    int nd = snprintf(digits, sizeof(digits), "%llu", whole);
    int g = 0;
    for (int i = 0; i < nd; i++) {
        if (i > 0 && (nd - i) % 3 == 0) grouped[g++] = ',';
        grouped[g++] = digits[i];
    }
    grouped[g] = '\0';
    int nt = snprintf(text, sizeof(text), "%s\xc2\xa5%s.%02d", sign, grouped, cents); /* U+00A5 YEN SIGN */
    return Py_BuildValue("(s#s#)", plain, (Py_ssize_t)np, text, (Py_ssize_t)nt);
}

static PyMethodDef methods[] = {
    {"local_iso", (PyCFunction)(void (*)(void))ae_local_iso, METH_FASTCALL,
     "local_iso(t, offset_ms, suffix) -> ISO 8601 local time text, or None (use the Python function)"},
    {"yuan_texts", ae_yuan_texts, METH_O, "yuan_texts(fen) -> ('1234.56', '¥1,234.56'), or None"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "auction_engine._speedups",
    "Optional native text formatting for certificate verification.", -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModule_Create(&module);
}
