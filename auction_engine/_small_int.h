/* The one integer reader of the engine's C helpers (_speedups.c, _bidpath.c): an exact Python int
 * within +-2^62, so that a sum or difference of two never overflows a long long. */
#ifndef AUCTION_ENGINE_SMALL_INT_H
#define AUCTION_ENGINE_SMALL_INT_H

#include <Python.h>

#define LIMIT ((long long)1 << 62)

/* The value of `o` into *out and 1; 0 (no error set) if `o` is NULL, not an exact int, or beyond +-2^62. */
static int
small_int(PyObject *o, long long *out)
{
    if (o == NULL || !PyLong_CheckExact(o)) return 0;
#if PY_VERSION_HEX < 0x030C0000 && PyLong_SHIFT <= 31
    {   /* CPython before 3.12 keeps |value| in Py_SIZE digits of PyLong_SHIFT (<= 31) bits, the sign in
         * the size: up to two digits (below 2^62) are read directly, without the general conversion. */
        const digit *d = ((PyLongObject *)o)->ob_digit;
        switch (Py_SIZE(o)) {
        case 0: *out = 0; return 1;
        case 1: *out = (long long)d[0]; return 1;
        case -1: *out = -(long long)d[0]; return 1;
        case 2: *out = ((long long)d[1] << PyLong_SHIFT) | (long long)d[0]; return 1;
        case -2: *out = -(((long long)d[1] << PyLong_SHIFT) | (long long)d[0]); return 1;
        default: break;
        }
    }
#endif
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (overflow || (v == -1 && PyErr_Occurred())) {
        PyErr_Clear();
        return 0;
    }
    if (v <= -LIMIT || v >= LIMIT) return 0;
    *out = v;
    return 1;
}

#endif
