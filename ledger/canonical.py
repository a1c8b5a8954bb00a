"""Canonical msgpack encoding of ledger entries (normative: docs/formats.md).

An entry is a msgpack map with string keys sorted by their UTF-8 bytes, integers in their
smallest encoding, strings as str, byte strings as bin, and no floats or ext types. Nested maps
follow the same rule. Decoding is strict: it re-encodes and demands identical bytes, so every
value has exactly one encoding and the leaf hash of an entry is well defined.
"""

from __future__ import annotations

from typing import Any

import msgpack

__all__ = ["CanonicalError", "decode", "encode", "encode_value"]

_INT_MIN = -(2**63)
_INT_MAX = 2**64 - 1


class CanonicalError(ValueError):
    """Raised when a value cannot be encoded canonically or bytes are not canonical."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path or '<entry>'}: {reason}")


def _check(value: Any, path: str) -> Any:
    """Return a copy of value with every map sorted; reject what has no canonical form."""
    t = type(value)
    if t is str or t is bytes or t is bool or value is None:
        return value
    if t is int:
        if value < _INT_MIN or value > _INT_MAX:
            raise CanonicalError(path, f"integer {value} is outside the msgpack range")
        return value
    if t is dict:
        for key in value:
            if type(key) is not str:
                raise CanonicalError(path, f"map key {key!r} is not a string")
        # UTF-8 byte order equals code-point order, so sorting the str keys is enough.
        return {k: _check(value[k], f"{path}.{k}" if path else k) for k in sorted(value)}
    if t is list or t is tuple:
        return [_check(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if t is float:
        raise CanonicalError(path, "floats are not allowed (use integer fen / milliseconds)")
    if t is bytearray or t is memoryview:
        return bytes(value)
    raise CanonicalError(path, f"type {t.__name__} has no canonical encoding")


_packer_options = {"use_bin_type": True, "strict_types": True}


def encode_value(value: Any) -> bytes:
    """Encode any canonical value (map, list, int, str, bytes, bool, nil)."""
    try:
        return msgpack.packb(_check(value, ""), **_packer_options)
    except UnicodeEncodeError as exc:
        raise CanonicalError("", f"string is not valid UTF-8: {exc.reason}") from None


def encode(entry: dict[str, Any]) -> bytes:
    """Encode an entry (a map with string keys) in its canonical bytes."""
    if type(entry) is not dict:
        raise CanonicalError("", f"an entry must be a map, not {type(entry).__name__}")
    return encode_value(entry)


def _pairs(pairs: list[tuple[Any, Any]]) -> dict[str, Any]:
    """object_pairs_hook: keep maps strict (string keys, strictly ascending, no duplicates)."""
    previous: bytes | None = None
    for key, _ in pairs:
        if type(key) is not str:
            raise CanonicalError("", f"map key {key!r} is not a string")
        raw = key.encode("utf-8")
        if previous is not None:
            if raw == previous:
                raise CanonicalError(key, "duplicate map key")
            if raw < previous:
                raise CanonicalError(key, f"map keys are not sorted ({key!r} after {previous.decode()!r})")
        previous = raw
    return dict(pairs)


def _no_ext(code: int, data: bytes) -> Any:
    raise CanonicalError("", f"ext type {code} is not allowed")


def _find_floats(value: Any, path: str) -> None:
    t = type(value)
    if t is float:
        raise CanonicalError(path, "floats are not allowed")
    if t is dict:
        for k, v in value.items():
            _find_floats(v, f"{path}.{k}" if path else k)
    elif t is list:
        for i, v in enumerate(value):
            _find_floats(v, f"{path}[{i}]")


def decode(data: bytes) -> dict[str, Any]:
    """Decode canonical entry bytes strictly; any non-canonical form raises CanonicalError."""
    try:
        value = msgpack.unpackb(
            data,
            raw=False,
            use_list=True,
            strict_map_key=False,
            object_pairs_hook=_pairs,
            ext_hook=_no_ext,
        )
    except CanonicalError:
        raise
    except msgpack.ExtraData as exc:
        raise CanonicalError("", f"{len(exc.extra)} trailing bytes after the entry") from None
    except UnicodeDecodeError:
        raise CanonicalError("", "a str value is not valid UTF-8") from None
    except (ValueError, msgpack.UnpackException) as exc:
        raise CanonicalError("", f"not valid msgpack: {exc}") from None
    if type(value) is not dict:
        raise CanonicalError("", f"an entry must be a map, not {type(value).__name__}")
    _find_floats(value, "")
    again = msgpack.packb(value, **_packer_options)
    if again != data:
        at = next((i for i, (a, b) in enumerate(zip(again, data, strict=False)) if a != b), min(len(again), len(data)))
        raise CanonicalError("", f"not canonical: non-minimal encoding at byte offset {at}")
    return value
