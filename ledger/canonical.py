"""Canonical msgpack encoding of ledger entries (normative: docs/formats.md).

An entry is a msgpack map with string keys sorted by their UTF-8 bytes, integers in their
smallest encoding, strings as str, byte strings as bin, and no floats or ext types. Nested maps
follow the same rule, and maps and lists nest at most `MAX_DEPTH` (32) levels deep, the entry
itself the first: the encoder refuses anything deeper, so nothing deeper is ever written, and the
decoder refuses it too (naming its path) before building anything. Decoding is strict: only
bytes that are exactly the canonical encoding of their value are accepted, so every value has
exactly one encoding and the leaf hash of an entry is well defined.

The value rule is `ledger.canonical_form`; the encoder and the validator of entry bytes are byte
kernels (`ledger._accel`), native or pure Python; this module adds the precise error messages.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

import msgpack

from ._accel import kernels
from .canonical_form import MAX_DEPTH, TOO_DEEP, CanonicalError, normalize

__all__ = [
    "MAX_DEPTH",
    "CanonicalError",
    "decode",
    "decode_many",
    "encode",
    "encode_entry",
    "encode_entry_and_leaf",
    "encode_value",
    "normalize",
    "unpack_canonical",
]

_packer_options = {"use_bin_type": True, "strict_types": True}
_encode_value = kernels.encode_value
_entry_and_leaf = kernels.entry_and_leaf
_is_canonical_entry = kernels.is_canonical_entry
_unpackb = msgpack.unpackb
# Bytes a kernel has already shown canonical (is_canonical_entry, proven_entry_root) decode as msgpack
# reads them: `decode` without the check made twice.
unpack_canonical = msgpack.unpackb


def _why_not_encodable(value: Any) -> CanonicalError:
    """The error naming what in `value` has no canonical form (the kernels say only that something has none)."""
    try:
        msgpack.packb(normalize(value), **_packer_options)
    except CanonicalError as exc:
        return exc
    except UnicodeEncodeError as exc:
        return CanonicalError("", f"string is not valid UTF-8: {exc.reason}")
    except ValueError as exc:  # a string or byte string longer than msgpack can frame
        return CanonicalError("", str(exc))
    raise AssertionError(f"the byte kernels refused a canonical value ({kernels.__name__})")


def encode_value(value: Any) -> bytes:
    """Encode any canonical value (map, list, int, str, bytes, bool, nil)."""
    try:
        return _encode_value(value)
    except ValueError:
        raise _why_not_encodable(value) from None


def encode(entry: dict[str, Any]) -> bytes:
    """Encode an entry (a map with string keys) in its canonical bytes."""
    if type(entry) is not dict:
        raise CanonicalError("", f"an entry must be a map, not {type(entry).__name__}")
    return encode_value(entry)


def encode_entry_and_leaf(payload: Mapping[str, Any], seq: int, prev: bytes, t: int, kind: str) -> tuple[bytes, bytes]:
    """`encode({**payload, "seq": seq, "prev": prev, "t": t, "kind": kind})` and its RFC 6962 leaf hash: the
    log's hot path. The caller guarantees that the payload has none of the four reserved keys (the log
    checks it first, with its own message)."""
    try:
        return _entry_and_leaf(payload, seq, prev, t, kind)
    except ValueError:  # a payload that is another Mapping, or that has no canonical form (named here)
        data = encode({**payload, "seq": seq, "prev": prev, "t": t, "kind": kind})
        return data, hashlib.sha256(b"\x00" + data).digest()


def encode_entry(payload: Mapping[str, Any], seq: int, prev: bytes, t: int, kind: str) -> bytes:
    """`encode({**payload, "seq": seq, "prev": prev, "t": t, "kind": kind})` (see `encode_entry_and_leaf`)."""
    return encode_entry_and_leaf(payload, seq, prev, t, kind)[0]


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
    if t is msgpack.Timestamp:
        # msgpack turns ext type -1 into a Timestamp without calling ext_hook.
        raise CanonicalError(path, "ext type -1 (timestamp) is not allowed")
    if t is dict:
        for k, v in value.items():
            _find_floats(v, f"{path}.{k}" if path else k)
    elif t is list:
        for i, v in enumerate(value):
            _find_floats(v, f"{path}[{i}]")


def decode_many(datas: Sequence[bytes]) -> list[dict[str, Any]] | None:
    """`[decode(d) for d in datas]` when every item is canonical, else None (then `decode` them one by one
    for each item's precise error)."""
    if all(map(_is_canonical_entry, datas)):
        return list(map(_unpackb, datas))
    return None


def decode(data: bytes) -> dict[str, Any]:
    """Decode canonical entry bytes strictly; any non-canonical form raises CanonicalError.

    Bytes the validator (`kernels.is_canonical_entry`) accepts are decoded by msgpack as they are;
    anything else is decoded by `_decode_strict`, which names the precise problem.
    """
    if _is_canonical_entry(data):
        return _unpackb(data)
    return _decode_strict(data)


def _decode_strict(data: bytes) -> dict[str, Any]:
    """Decode with every check made explicitly, so the error says exactly what is wrong."""
    too_deep = _nesting_error(data)
    if too_deep is not None:  # first: msgpack would build it (up to its own limit), and the walks below recurse
        raise too_deep
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
        raise CanonicalError("", f"not valid msgpack: {exc or type(exc).__name__}") from None
    if type(value) is not dict:
        raise CanonicalError("", f"an entry must be a map, not {type(value).__name__}")
    _find_floats(value, "")
    again = msgpack.packb(value, **_packer_options)
    if again != data:
        at = next((i for i, (a, b) in enumerate(zip(again, data, strict=False)) if a != b), min(len(again), len(data)))
        raise CanonicalError("", f"not canonical: non-minimal encoding at byte offset {at}")
    return value


# msgpack's header bytes, for `_nesting_error`: those followed by a big-endian length of 1, 2 or 4
# bytes (and what the length counts), and those followed by a fixed number of bytes.
_LENGTH_HEADERS = {
    0xC4: ("bin", 1), 0xC5: ("bin", 2), 0xC6: ("bin", 4),
    0xC7: ("ext", 1), 0xC8: ("ext", 2), 0xC9: ("ext", 4),
    0xD9: ("str", 1), 0xDA: ("str", 2), 0xDB: ("str", 4),
    0xDC: ("array", 2), 0xDD: ("array", 4), 0xDE: ("map", 2), 0xDF: ("map", 4),
}  # fmt: skip
_FIXED_HEADERS = {
    0xCA: 4, 0xCB: 8, 0xCC: 1, 0xCD: 2, 0xCE: 4, 0xCF: 8, 0xD0: 1, 0xD1: 2, 0xD2: 4, 0xD3: 8,
    0xD4: 2, 0xD5: 3, 0xD6: 5, 0xD7: 9, 0xD8: 17,
}  # fmt: skip


def _nesting_error(data: bytes) -> CanonicalError | None:
    """The error for the first map or list in `data` nested deeper than MAX_DEPTH (naming its path), else None.

    Reads only headers, lengths and map keys, in a loop: however deep or long the input claims to be,
    nothing recurses and every step consumes at least one byte. It stops quietly at anything it cannot
    read (an unused byte, a length beyond the end): the msgpack decoder then names that.
    """
    # One frame per open map or list: [items left (a map's keys and values), is a map, items in all,
    # the key of the map's current value].
    frames: list[list[Any]] = []
    pos, end = 0, len(data)
    while pos < end:
        top = frames[-1] if frames else None
        is_key = top is not None and top[1] and (top[2] - top[0]) % 2 == 0
        b = data[pos]
        pos += 1
        items, is_map, text = -1, False, None
        if b <= 0x7F or b >= 0xE0 or b in (0xC0, 0xC2, 0xC3):
            pass
        elif b <= 0x8F:
            items, is_map = 2 * (b & 0x0F), True
        elif b <= 0x9F:
            items = b & 0x0F
        elif b <= 0xBF:
            n = b & 0x1F
            text = data[pos : pos + n]
            pos += n
        elif b in _FIXED_HEADERS:
            pos += _FIXED_HEADERS[b]
        elif b in _LENGTH_HEADERS:
            what, width = _LENGTH_HEADERS[b]
            n = int.from_bytes(data[pos : pos + width], "big")
            pos += width
            if what == "map":
                items, is_map = 2 * n, True
            elif what == "array":
                items = n
            else:
                pos += what == "ext"  # the ext type byte
                if what == "str":
                    text = data[pos : pos + n]
                pos += n
        else:
            return None  # 0xc1, never used
        if pos > end:
            return None  # truncated
        if top is not None:
            if is_key:
                top[3] = text.decode("utf-8", "replace") if text is not None else "?"
            top[0] -= 1
        if items >= 0:
            if len(frames) >= MAX_DEPTH:
                return CanonicalError(_frames_path(frames), TOO_DEEP)
            frames.append([items, is_map, items, None])
        while frames and frames[-1][0] == 0:
            frames.pop()
        if not frames:
            return None  # the value is complete (what follows it is the decoder's business)
    return None


def _frames_path(frames: list[list[Any]]) -> str:
    """The path (as `_check` writes it) of the item being read in the innermost of `frames`."""
    path = ""
    for left, is_map, total, key in frames:
        step = (f".{key}" if path else key) if is_map else f"[{total - left - 1}]"
        path += step
    return path
