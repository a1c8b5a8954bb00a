"""Canonical msgpack encoding of ledger entries (normative: docs/formats.md).

An entry is a msgpack map with string keys sorted by their UTF-8 bytes, integers in their
smallest encoding, strings as str, byte strings as bin, and no floats or ext types. Nested maps
follow the same rule, and maps and lists nest at most `MAX_DEPTH` (32) levels deep, the entry
itself the first: the encoder refuses anything deeper, so nothing deeper is ever written, and the
decoder refuses it too (naming its path) before building anything. Decoding is strict: it
re-encodes and demands identical bytes, so every value has exactly one encoding and the leaf hash
of an entry is well defined.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import msgpack

from . import _accel

__all__ = [
    "MAX_DEPTH",
    "CanonicalError",
    "decode",
    "decode_many",
    "encode",
    "encode_entry",
    "encode_value",
    "normalize",
]

_INT_MIN = -(2**63)
_INT_MAX = 2**64 - 1
# The format's nesting limit (docs/formats.md §1, normative): at most this many levels of maps and
# lists, the entry (or the value encoded) itself the first. Besides bounding what the market stores,
# it bounds every walk over a value here and in ledger/_speedups.c (which has the same MAX_DEPTH).
MAX_DEPTH = 32


class CanonicalError(ValueError):
    """Raised when a value cannot be encoded canonically or bytes are not canonical."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path or '<entry>'}: {reason}")


_SCALARS = frozenset({str, bytes, bool, type(None)})
_TOO_DEEP = f"nested deeper than {MAX_DEPTH} levels of maps and lists"


def _check(value: Any, path: str, depth: int) -> Any:
    """Return a copy of value with every map sorted; reject what has no canonical form.

    `depth` counts the maps and lists around `value`: one more is refused once there are MAX_DEPTH.
    """
    t = type(value)
    if t in _SCALARS:
        return value
    if t is int:
        if value < _INT_MIN or value > _INT_MAX:
            raise CanonicalError(path, f"integer {value} is outside the msgpack range")
        return value
    if t is dict:
        if depth >= MAX_DEPTH:
            raise CanonicalError(path, _TOO_DEEP)
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
            # Scalars inline (the common case): a path string is built only for nested values.
            if tv in _SCALARS or (tv is int and _INT_MIN <= v <= _INT_MAX):
                out[k] = v
            else:
                out[k] = _check(v, f"{path}.{k}" if path else k, depth + 1)
        return out
    if t is list or t is tuple:
        if depth >= MAX_DEPTH:
            raise CanonicalError(path, _TOO_DEEP)
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


_packer_options = {"use_bin_type": True, "strict_types": True}
_local = threading.local()


def _packer() -> msgpack.Packer:
    """The per-thread reused Packer."""
    try:
        return _local.packer
    except AttributeError:
        packer = _local.packer = msgpack.Packer(**_packer_options)
        return packer


def _pack(value: Any) -> bytes:
    """msgpack.packb with a reused per-thread Packer (`pack` resets itself, even after an error)."""
    try:
        packer = _local.packer
    except AttributeError:
        packer = _local.packer = msgpack.Packer(**_packer_options)
    return packer.pack(value)


# The fast path for flat maps (every value a scalar): msgpack packs the (key, value) pairs sorted by
# key, in C, instead of `_check` building a sorted copy. Exact types only, so that a subclass, a
# float, a nested container or an out-of-range integer takes the slow path and its precise error.
_FLAT = frozenset({str, bytes, int, bool, type(None)})
_KEY_TYPES = frozenset({str})


def _pack_sorted_pairs(pairs: list[tuple[str, Any]]) -> bytes | None:
    """Sort (key, value) pairs with distinct str keys and pack them as a map; None if msgpack refuses."""
    packer = _packer()
    try:
        pairs.sort()  # distinct keys: the values are never compared
        return packer.pack_map_pairs(pairs)
    except Exception:  # out-of-range int, invalid UTF-8, ...: the slow path names it
        packer.reset()  # unlike pack(), pack_map_pairs leaves a half-written map behind
        return None


def encode_value(value: Any) -> bytes:
    """Encode any canonical value (map, list, int, str, bytes, bool, nil)."""
    if _native_encode_value is not None:
        data = _native_encode_value(value)
        if data is not None:
            return data
    try:
        return _pack(_check(value, "", 0))
    except UnicodeEncodeError as exc:
        raise CanonicalError("", f"string is not valid UTF-8: {exc.reason}") from None


# The native accelerator's versions of the fast paths below (None: pure Python; see `_accel`). Each
# answers None for anything it does not handle, and the Python code then runs as before.
_native_encode_flat = _native_encode_entry = _native_encode_value = _native_decode = None


def _bind(native: Any) -> None:
    global _native_encode_flat, _native_encode_entry, _native_encode_value, _native_decode
    _native_decode = native.decode_entry if native else None
    _native_encode_value = native.encode_value if native else None
    _native_encode_flat = native.encode_flat if native else None
    _native_encode_entry = native.encode_entry if native else None


def encode(entry: dict[str, Any]) -> bytes:
    """Encode an entry (a map with string keys) in its canonical bytes."""
    if type(entry) is not dict:
        raise CanonicalError("", f"an entry must be a map, not {type(entry).__name__}")
    if _native_encode_flat is not None:
        data = _native_encode_flat(entry)
        if data is not None:
            return data
    if _FLAT.issuperset(map(type, entry.values())) and _KEY_TYPES.issuperset(map(type, entry)):
        data = _pack_sorted_pairs(list(entry.items()))
        if data is not None:
            return data
    return encode_value(entry)


def encode_entry(payload: Mapping[str, Any], seq: int, prev: bytes, t: int, kind: str) -> bytes:
    """`encode({**payload, "seq": seq, "prev": prev, "t": t, "kind": kind})`, the log's hot path.

    A flat payload is packed without building the merged map. The caller guarantees that the
    payload has none of the four reserved keys (the log checks it first, with its own message).
    """
    if _native_encode_entry is not None:
        data = _native_encode_entry(payload, seq, prev, t, kind)
        if data is not None:
            return data
    if (
        type(payload) is dict
        and type(seq) is int
        and type(prev) is bytes
        and type(t) is int
        and type(kind) is str
        and _FLAT.issuperset(map(type, payload.values()))
    ):
        # The payload's keys need no separate check: sorting them among the four str keys raises
        # TypeError for any key that cannot be compared with a str (a correct sort compares every
        # pair that ends up adjacent), and msgpack's strict_types refuses any key that is not
        # exactly a str (a str subclass, say). Either way the slow path below names the key.
        pairs = list(payload.items())
        pairs += (("kind", kind), ("prev", prev), ("seq", seq), ("t", t))
        try:
            packer = _local.packer
        except AttributeError:
            packer = _packer()
        try:
            pairs.sort()  # distinct keys: the values are never compared
            return packer.pack_map_pairs(pairs)
        except Exception:  # as in _pack_sorted_pairs
            packer.reset()
    return encode({**payload, "seq": seq, "prev": prev, "t": t, "kind": kind})


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


_LEAVES = _FLAT


def _plain_map_ok(value: dict[Any, Any], depth: int = 0) -> bool:
    """Fast check of a plainly decoded map: str keys strictly ascending, no float/ext values, and
    nothing nested deeper than MAX_DEPTH (`depth`: the maps and lists around `value`)."""
    keys = list(value)
    try:
        # A dict has no duplicate keys, so sorted means strictly ascending.
        if keys != sorted(keys):
            return False
    except TypeError:  # keys of mixed types
        return False
    if not _KEY_TYPES.issuperset(map(type, keys)):
        return False
    if _LEAVES.issuperset(map(type, value.values())):
        return True
    return _plain_list_ok(value.values(), depth + 1)


def _plain_list_ok(value: Iterable[Any], depth: int) -> bool:
    """`_plain_map_ok` for the items of a map or list (`depth`: the maps and lists around each item)."""
    for v in value:
        t = type(v)
        if t in _LEAVES:
            continue
        if t is dict:
            if depth >= MAX_DEPTH or not _plain_map_ok(v, depth):
                return False
        elif t is list:
            if depth >= MAX_DEPTH or not _plain_list_ok(v, depth + 1):
                return False
        else:
            return False
    return True


_unpackb = msgpack.unpackb
_chain = itertools.chain.from_iterable
_DICT = frozenset({dict})


def decode_many(datas: Sequence[bytes]) -> list[dict[str, Any]] | None:
    """`[decode(d) for d in datas]` when every item passes `decode`'s fast path, else None.

    The same checks as the fast path, each made over the whole batch by C-level iteration (the
    auditor's hot loop): a plain decode, maps only, keys strictly ascending and str (checked once
    per distinct key sequence: entries of one kind share theirs), scalar values (or
    `_plain_map_ok` where a value is nested), and a byte-exact re-encode. None means "decode them
    one by one": the caller then gets each item's precise error. Few container objects are kept
    alive, so the batch does not set off the cyclic garbage collector.
    """
    if _native_decode is not None:
        decoded = list(map(_native_decode, datas))
        if None not in decoded:  # (a dict never equals None)
            return decoded
    try:
        values = list(map(_unpackb, datas))
        if not _DICT.issuperset(map(type, values)):
            return None
        for keys in set(map(tuple, values)):  # a dict has no duplicate keys: sorted means ascending
            if not _KEY_TYPES.issuperset(map(type, keys)) or list(keys) != sorted(keys):
                return None
        if not _FLAT.issuperset(map(type, _chain(map(dict.values, values)))) and not all(map(_plain_map_ok, values)):
            return None
        if list(map(_packer().pack, values)) != list(datas):
            return None
    except Exception:  # not msgpack, trailing bytes, keys that do not sort, ...
        return None
    return values


def decode(data: bytes) -> dict[str, Any]:
    """Decode canonical entry bytes strictly; any non-canonical form raises CanonicalError.

    Fast path: a plain decode, a walk over the maps (string keys strictly ascending by code
    point, which is UTF-8 byte order; no floats or ext values) and a byte-exact re-encode
    (which also catches duplicate keys, since the dict keeps only one of them). Anything that
    fails it is decoded again by `_decode_strict`, which names the precise problem. With the
    native accelerator, its byte-level check of the canonical form and its decoder replace all that.
    """
    if _native_decode is not None and (value := _native_decode(data)) is not None:
        return value
    try:
        # The defaults (raw=False, str or bytes map keys only, ext types as ExtType/Timestamp values
        # that `_plain_map_ok` refuses) accept a subset of what the strict decoder accepts.
        value = _unpackb(data)
    except Exception:
        value = None
    if type(value) is dict and _plain_map_ok(value) and _pack(value) == data:
        return value
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
                return CanonicalError(_frames_path(frames), _TOO_DEEP)
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


_bind(_accel.native)
