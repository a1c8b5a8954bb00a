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
