"""What has a canonical form (docs/formats.md §1): the value rule, and the error naming where a value breaks it.

A canonical value is a map with str keys, a list (a tuple is written as one), a str, bytes (a
bytearray or memoryview is written as its bytes), an integer in [INT_MIN, INT_MAX], a bool or nil,
maps and lists nesting at most MAX_DEPTH levels deep, the value itself the first. `ledger.canonical`
writes and reads these values; this module is the rule both it and the byte kernels (`ledger._accel`)
follow.
"""

from __future__ import annotations

from typing import Any

__all__ = ["INT_MAX", "INT_MIN", "MAX_DEPTH", "VALUE_TYPES", "CanonicalError", "normalize"]

INT_MIN = -(2**63)
INT_MAX = 2**64 - 1
# The format's nesting limit (normative): at most this many levels of maps and lists, the entry (or the
# value encoded) itself the first. Besides bounding what the market stores, it bounds every walk over a
# value, here, in ledger/_kernels.py and in ledger/_speedups.c (whose MAX_DEPTH a test compares).
MAX_DEPTH = 32
# The exact types a canonical value is built of (a subclass is not one of them).
VALUE_TYPES: tuple[type, ...] = (dict, list, tuple, str, bytes, bytearray, memoryview, int, bool, type(None))


class CanonicalError(ValueError):
    """Raised when a value cannot be encoded canonically or bytes are not canonical."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path or '<entry>'}: {reason}")


_SCALARS = frozenset({str, bytes, bool, type(None)})
TOO_DEEP = f"nested deeper than {MAX_DEPTH} levels of maps and lists"


def _check(value: Any, path: str, depth: int) -> Any:
    """Return a copy of value with every map sorted; reject what has no canonical form.

    `depth` counts the maps and lists around `value`: one more is refused once there are MAX_DEPTH.
    """
    t = type(value)
    if t in _SCALARS:
        return value
    if t is int:
        if value < INT_MIN or value > INT_MAX:
            raise CanonicalError(path, f"integer {value} is outside the msgpack range")
        return value
    if t is dict:
        if depth >= MAX_DEPTH:
            raise CanonicalError(path, TOO_DEEP)
        try:
            # UTF-8 byte order equals code-point order, so sorting the str keys is enough.
            keys = sorted(value)
        except TypeError:
            keys = list(value)  # mixed key types: the loop below names the first non-string key
        out = {}
        for k in keys:
            if type(k) is not str:
                raise CanonicalError(path, f"map key {k!r} is not a string")
            v = value[k]
            tv = type(v)
            # Scalars directly (the common case): a path string is built only for nested values.
            if tv in _SCALARS or (tv is int and INT_MIN <= v <= INT_MAX):
                out[k] = v
            else:
                out[k] = _check(v, f"{path}.{k}" if path else k, depth + 1)
        return out
    if t is list or t is tuple:
        if depth >= MAX_DEPTH:
            raise CanonicalError(path, TOO_DEEP)
        return [_check(v, f"{path}[{i}]", depth + 1) for i, v in enumerate(value)]
    if t is float:
        raise CanonicalError(path, "floats are not allowed (use integer fen / milliseconds)")
    if t is bytearray or t is memoryview:
        return bytes(value)
    raise CanonicalError(path, f"type {t.__name__} has no canonical encoding")


def normalize(value: Any) -> Any:
    """The value as its canonical bytes decode: maps sorted by key, tuples as lists, bytearrays as bytes.

    Whatever order or container types a caller built a command with, the normalized value is the
    one a replay of its ledger entry sees, so anything derived from it (a refusal's message) has
    the same bytes live and in replay. Raises CanonicalError (naming the path) for what has no
    canonical form, nesting deeper than MAX_DEPTH included.
    """
    return _check(value, "", 0)
