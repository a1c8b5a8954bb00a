"""The ledger's byte kernels in pure Python: the reference twins of ledger/_speedups.c.

Each function here has a native twin of the same name, signature and results (see the header of
ledger/_speedups.c); `ledger._accel` picks one module or the other when the ledger is imported. A
kernel returns its answer, or raises ValueError (TypeError for an argument of the wrong kind) without
saying more: a caller that needs a precise message finds it with the reference code (`ledger.canonical`).
The tests compare the two modules on random and hostile inputs.
"""

from __future__ import annotations

import binascii
import hashlib
import operator
import threading
from collections.abc import Iterable
from typing import Any

import msgpack

from .canonical_form import INT_MAX, INT_MIN, MAX_DEPTH, normalize
from .canonical_form import VALUE_TYPES as _VALUE_TYPES

__all__ = [
    "HASH_SIZE",
    "INT_MAX",
    "INT_MIN",
    "MAX_DEPTH",
    "VALUE_TYPES",
    "check_chunk",
    "encode_value",
    "entry_and_leaf",
    "hash_pairs",
    "inclusion_root",
    "is_canonical_entry",
    "proven_entry_root",
]

HASH_SIZE = 32
VALUE_TYPES = tuple(t.__name__ for t in _VALUE_TYPES)  # the names of the types encode_value takes
_U64_MAX = 2**64 - 1
_TREE_LIMIT = 2**63  # trees of fewer leaves than this (the C code counts in 64 bits)

_sha256 = hashlib.sha256
_digest = type(hashlib.sha256()).digest
_NODE_PREFIX = _sha256(b"\x01")  # never updated: only copied
_ZERO_PREFIX = b"\x00"
_unpackb = msgpack.unpackb
_local = threading.local()
_RESERVED = frozenset({"seq", "prev", "t", "kind"})
# The exact types of the values of a flat map (no nesting), and of its keys.
_FLAT = frozenset({str, bytes, int, bool, type(None)})
_STR_ONLY = frozenset({str})
_INT_ONLY = frozenset({int})
_BYTES_ONLY = frozenset({bytes})
_DICT_ONLY = frozenset({dict})
_get_seq, _get_prev, _get_t, _get_kind = map(operator.itemgetter, ("seq", "prev", "t", "kind"))


def _packer() -> msgpack.Packer:
    """This thread's reused msgpack Packer (canonical options: bin for bytes, exact types only)."""
    try:
        return _local.packer
    except AttributeError:
        packer = _local.packer = msgpack.Packer(use_bin_type=True, strict_types=True)
        return packer


def _no_encoding() -> ValueError:
    return ValueError("no canonical encoding")


def encode_value(value: Any) -> bytes:
    """The canonical bytes of `value`; ValueError if it has none (`canonical_form.normalize` says why)."""
    return _packer().pack(normalize(value))


def entry_and_leaf(payload: Any, seq: Any, prev: Any, t: Any, kind: Any) -> tuple[bytes, bytes]:
    """The canonical bytes of `{**payload, "seq": seq, "prev": prev, "t": t, "kind": kind}` and their leaf
    hash; ValueError if they have none, `payload` is not a dict or it sets one of the four keys."""
    if type(payload) is not dict or not _RESERVED.isdisjoint(payload):
        raise _no_encoding()
    data = None
    if _FLAT.issuperset(map(type, payload.values())) and _FLAT.issuperset(map(type, (seq, prev, t, kind))):
        # A flat entry: msgpack packs the pairs sorted by key. A key that is not a str fails the sort
        # (a correct sort compares every pair that ends up adjacent, and some such pair holds a str) or
        # msgpack's exact-type check; an integer out of range or a lone surrogate fails the packing.
        pairs = list(payload.items())
        pairs += (("kind", kind), ("prev", prev), ("seq", seq), ("t", t))
        packer = _packer()
        try:
            pairs.sort()  # distinct keys: the values are never compared
            data = packer.pack_map_pairs(pairs)
        except Exception:  # the general path below raises the ValueError
            packer.reset()  # pack_map_pairs leaves a half-written map behind
    if data is None:
        data = encode_value({**payload, "seq": seq, "prev": prev, "t": t, "kind": kind})
    return data, _sha256(_ZERO_PREFIX + data).digest()


def _plain_map_ok(value: dict[Any, Any], depth: int = 0) -> bool:
    """Whether a map as msgpack decoded it is canonical but for its bytes: str keys strictly ascending, no
    float or ext values, nothing nested deeper than MAX_DEPTH (`depth`: the maps and lists around it)."""
    keys = list(value)
    if not _STR_ONLY.issuperset(map(type, keys)) or keys != sorted(keys):  # a dict's keys are distinct
        return False
    if _FLAT.issuperset(map(type, value.values())):
        return True
    return _plain_items_ok(value.values(), depth + 1)


def _plain_items_ok(items: Iterable[Any], depth: int) -> bool:
    """`_plain_map_ok` for the items of a map or list (`depth`: the maps and lists around each)."""
    for v in items:
        t = type(v)
        if t in _FLAT:
            continue
        if t is dict:
            if depth >= MAX_DEPTH or not _plain_map_ok(v, depth):
                return False
        elif t is list:
            if depth >= MAX_DEPTH or not _plain_items_ok(v, depth + 1):
                return False
        else:
            return False
    return True


def is_canonical_entry(data: Any) -> bool:
    """Whether `data` is a bytes object holding exactly one canonical entry (docs/formats.md §1).

    msgpack decodes it (refusing invalid UTF-8, trailing bytes, unused headers), the maps are checked,
    and the value must encode back to the same bytes (which refuses every non-minimal form and a repeated
    key, which the decoded dict keeps once).
    """
    if type(data) is not bytes:
        return False
    try:
        value = _unpackb(data)
    except Exception:  # not msgpack, trailing bytes, invalid UTF-8, a key msgpack refuses, ...
        return False
    return type(value) is dict and _plain_map_ok(value) and _packer().pack(value) == data


def _decode_all(datas: tuple[bytes, ...]) -> list[dict[str, Any]] | None:
    """The entries of `datas` if every one is canonical, else None: `is_canonical_entry` for a batch, each
    test made over the whole batch at once (the key order once per distinct key sequence)."""
    try:
        values = list(map(_unpackb, datas))
    except Exception:
        return None
    if not _DICT_ONLY.issuperset(map(type, values)):
        return None
    for keys in set(map(tuple, values)):
        if not _STR_ONLY.issuperset(map(type, keys)) or list(keys) != sorted(keys):
            return None
    values_flat = _FLAT.issuperset(t for v in values for t in map(type, v.values()))
    if not values_flat and not all(map(_plain_map_ok, values)):
        return None
    if list(map(_packer().pack, values)) != list(datas):
        return None
    return values


def check_chunk(rows: list[Any], start: Any, prev: Any, last_t: Any) -> tuple[bytes, int] | None:
    """(leaf hashes joined, last t) if every stored (seq, data, leaf) row is right, else None.

    Right: numbered from `start`; canonical entry bytes; the stored leaf hash theirs; the entry's seq its
    number, its prev the leaf hash before it (`prev` for the first), its t an integer not below the one
    before it (`last_t` for the first), its kind a non-empty str.
    """
    if type(rows) is not list:
        raise TypeError("check_chunk(rows: list, start, prev, last_t)")
    if not rows or type(prev) is not bytes or len(prev) != HASH_SIZE:
        return None
    if type(start) is not int or not 0 <= start <= _U64_MAX or type(last_t) is not int or not 0 <= last_t <= _U64_MAX:
        return None
    if not all(isinstance(row, tuple) and len(row) == 3 for row in rows):
        return None
    seqs, datas, stored = zip(*rows, strict=True)
    expected = tuple(range(start, start + len(rows)))
    if seqs != expected or not _INT_ONLY.issuperset(map(type, seqs)) or expected[-1] > _U64_MAX:
        return None
    if not _BYTES_ONLY.issuperset(map(type, datas)) or not _BYTES_ONLY.issuperset(map(type, stored)):
        return None
    leaves = list(map(_digest, map(_sha256, map(_ZERO_PREFIX.__add__, datas))))
    if tuple(leaves) != stored:
        return None
    entries = _decode_all(datas)
    if entries is None:
        return None
    try:
        seq_fields = list(map(_get_seq, entries))
        prev_fields = list(map(_get_prev, entries))
        times = list(map(_get_t, entries))
        kinds = list(map(_get_kind, entries))
    except KeyError:
        return None
    if seq_fields != list(expected) or not _INT_ONLY.issuperset(map(type, seq_fields)):
        return None
    if prev_fields[0] != prev or prev_fields[1:] != leaves[:-1] or not _BYTES_ONLY.issuperset(map(type, prev_fields)):
        return None
    if not _INT_ONLY.issuperset(map(type, times)) or times[0] < last_t or not all(map(operator.le, times, times[1:])):
        return None
    if not _STR_ONLY.issuperset(map(type, kinds)) or "" in kinds:
        return None
    return b"".join(leaves), times[-1]


def hash_pairs(level: bytes | bytearray, start: int, stop: int) -> bytes:
    """The RFC 6962 interior hashes SHA-256(0x01 || level[o:o+64]) for o in range(start, stop, 64), joined."""
    size = memoryview(level).nbytes
    start, stop = operator.index(start), operator.index(stop)
    if not 0 <= start <= stop <= size or (stop - start) % (2 * HASH_SIZE):
        raise ValueError("hash_pairs: the range is not whole pairs of hashes within the level")
    node = _NODE_PREFIX.copy
    out = []
    for o in range(start, stop, 2 * HASH_SIZE):
        h = node()
        h.update(level[o : o + 2 * HASH_SIZE])
        out.append(h.digest())
    return b"".join(out)


def inclusion_root(leaf: Any, index: Any, size: Any, path: Any) -> bytes | None:
    """The root an RFC 9162 inclusion path (its 32-byte hashes joined) leads to from `leaf` at `index` in a
    tree of `size` (< 2**63) leaves; None for anything malformed: not bytes and ints, an index outside
    the tree, a leaf or path not made of whole hashes, a path longer or shorter than the tree is deep."""
    if type(leaf) is not bytes or type(path) is not bytes or type(index) is not int or type(size) is not int:
        return None
    if not 0 <= index < size < _TREE_LIMIT or len(leaf) != HASH_SIZE or len(path) % HASH_SIZE:
        return None
    fn, sn, r = index, size - 1, leaf
    node = _NODE_PREFIX.copy  # SHA-256 having taken the 0x01 prefix: copied for every node
    for o in range(0, len(path), HASH_SIZE):
        if sn == 0:
            return None  # longer than the tree is deep
        h = node()
        if fn & 1 or fn == sn:
            h.update(path[o : o + HASH_SIZE])
            h.update(r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            h.update(r)
            h.update(path[o : o + HASH_SIZE])
        r = h.digest()
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None  # else shorter than the tree is deep


def _canonical_b64(text: str) -> bytes | None:
    """The bytes whose canonical base64 spelling (RFC 4648 §4, padded, zero pad bits) is `text`, or None."""
    try:
        raw = binascii.a2b_base64(text, strict_mode=True)
    except (binascii.Error, ValueError):  # other characters, misplaced padding, a non-ASCII str
        return None
    return raw if binascii.b2a_base64(raw, newline=False) == text.encode("ascii") else None


def _hash_lines(text: str) -> bytes | None:
    """The hashes of a path given one per line ("\\n" between lines), each the canonical base64 of 32
    bytes, joined; None if any line is not."""
    hashes = []
    for line in text.split("\n") if text else ():
        raw = _canonical_b64(line)
        if raw is None or len(raw) != HASH_SIZE:
            return None
        hashes.append(raw)
    return b"".join(hashes)


def proven_entry_root(text: Any, index: Any, size: Any, path: Any, lines: Any) -> tuple[bytes, bytes, bytes] | None:
    """A proven entry given in base64: (data, leaf hash, root), or None.

    `data` is the bytes whose canonical base64 spelling is exactly the str `text`, one canonical entry
    whose seq is `index`; the root is where its inclusion path leads in a tree of `size` leaves. The
    path is the str `path`: with `lines` false the canonical base64 of its hashes joined, with `lines`
    true one line per hash, each the canonical base64 of 32 bytes, joined by "\\n" ("" for no hash).
    """
    lines = bool(lines)
    if type(text) is not str or type(path) is not str or type(index) is not int or type(size) is not int:
        return None
    joined = _hash_lines(path) if lines else _canonical_b64(path)
    data = _canonical_b64(text)
    if joined is None or data is None or not is_canonical_entry(data):
        return None
    seq = _unpackb(data).get("seq")
    if type(seq) is not int or seq != index:
        return None
    leaf = _sha256(_ZERO_PREFIX + data).digest()
    root = inclusion_root(leaf, index, size, joined)
    return None if root is None else (data, leaf, root)
