"""The canonical encoder's kernels, native against pure Python: `encode_value` and `entry_and_leaf` give the
same bytes (those of `canonical_form.normalize` packed by msgpack), and refuse the same values.

The values are random canonical ones with hostile ones mixed in: floats, subclasses, integers just outside
the msgpack range, lone surrogates, non-str keys, nesting at and beyond MAX_DEPTH, bytearrays and
memoryviews, tuples, reserved keys in a payload.
"""

from __future__ import annotations

import hashlib
from typing import Any

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st
from kernel_modules import SETTINGS, native_kernels, outcome, pure, same

from ledger import canonical
from ledger.canonical_form import INT_MAX, INT_MIN, MAX_DEPTH, VALUE_TYPES, normalize

native = native_kernels()

INT_EDGES = [0, 127, 128, 255, 256, 65535, 65536, 2**32 - 1, 2**32, INT_MAX, INT_MAX + 1]
INT_EDGES += [-1, -32, -33, -128, -129, -32768, -32769, -(2**31), -(2**31) - 1, INT_MIN, INT_MIN - 1]


class Text(str):
    """A str subclass: not a canonical type."""


class Number(int):
    """An int subclass: not a canonical type."""


HOSTILE = st.sampled_from([1.5, Text("a"), Number(3), "\ud800", object(), 2**70, -(2**70), frozenset()])
scalars = (
    st.none()
    | st.booleans()
    | st.sampled_from(INT_EDGES)
    | st.integers(INT_MIN, INT_MAX)
    | st.text(max_size=20)
    | st.binary(max_size=20)
    | st.binary(max_size=8).map(bytearray)
    | st.binary(max_size=8).map(memoryview)
)
keys = st.text(max_size=6) | st.sampled_from(["seq", "prev", "t", "kind", "é", "\U0001f600", "\ud800"])
odd_keys = st.sampled_from([1, b"k", Text("k"), None])


def containers(children: Any) -> Any:
    return (
        st.lists(children, max_size=4)
        | st.lists(children, max_size=3).map(tuple)
        | st.dictionaries(keys, children, max_size=4)
        | st.dictionaries(keys | odd_keys, children, max_size=2)
    )


values = st.recursive(scalars | HOSTILE, containers, max_leaves=12)
clean_scalars = (
    st.none() | st.booleans() | st.integers(INT_MIN, INT_MAX) | st.text(max_size=20) | st.binary(max_size=20)
)
clean_values = st.recursive(
    clean_scalars, lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=6), c, max_size=4)
)


def nested(levels: int, kinds: str) -> Any:
    """`levels` maps and lists (kinds[i % len(kinds)]: "m" a one-key map, "l" a one-item list), around 1."""
    value: Any = 1
    for i in range(levels):
        value = {"k": value} if kinds[i % len(kinds)] == "m" else [value]
    return value


def reference_bytes(value: Any) -> tuple[str, Any]:
    """The reference: the normalized value packed by msgpack, or ValueError."""
    try:
        return "value", msgpack.packb(normalize(value), use_bin_type=True, strict_types=True)
    except ValueError:
        return "error", ValueError


@SETTINGS
@given(values)
def test_encode_value_gives_the_reference_bytes_on_both_sides(value: Any) -> None:
    assert same("encode_value", native, value) == reference_bytes(value)


@SETTINGS
@given(clean_values)
def test_every_canonical_value_is_encoded(value: Any) -> None:
    kind, data = same("encode_value", native, value)
    assert kind == "value" and msgpack.unpackb(data) == normalize(value)


@SETTINGS
@given(
    st.dictionaries(keys | odd_keys, values, max_size=6) | st.sampled_from([[], "x", None]),
    st.sampled_from([0, 1, 2**63, INT_MAX, INT_MAX + 1, -1, "1"]),
    st.sampled_from([bytes(32), b"", bytearray(3), 7]),
    st.sampled_from([0, 1_700_000_000_000, INT_MAX, 1.0]),
    st.sampled_from(["bid", "", "é", Text("k"), 3]),
)
def test_entry_and_leaf_is_the_merged_map_and_its_leaf_hash(
    payload: Any, seq: Any, prev: Any, t: Any, kind: Any
) -> None:
    answer = same("entry_and_leaf", native, payload, seq, prev, t, kind)
    if type(payload) is not dict or not {"seq", "prev", "t", "kind"}.isdisjoint(payload):
        assert answer == ("error", ValueError)
        return
    merged = {**payload, "seq": seq, "prev": prev, "t": t, "kind": kind}
    want = reference_bytes(merged)
    if want[0] == "error":
        assert answer == want
    else:
        assert answer == ("value", (want[1], hashlib.sha256(b"\x00" + want[1]).digest()))


@pytest.mark.parametrize("kinds", ["m", "l", "ml", "mll"])
@pytest.mark.parametrize("levels", [MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1, 100])
def test_both_encoders_stop_at_the_formats_nesting_limit(levels: int, kinds: str) -> None:
    value = {"x": nested(levels - 1, kinds)}  # `levels` levels, the map itself the first
    answer = same("encode_value", native, value)
    assert (answer[0] == "value") is (levels <= MAX_DEPTH)
    entry = same("entry_and_leaf", native, {"x": value["x"]}, 1, bytes(32), 2, "k")
    assert (entry[0] == "value") is (levels <= MAX_DEPTH)
    if levels > MAX_DEPTH:  # and canonical names the place
        assert outcome(canonical.encode, value)[0] == "error"
        with pytest.raises(canonical.CanonicalError, match=f"nested deeper than {MAX_DEPTH} levels"):
            canonical.encode(value)


def test_many_keys_and_long_shared_prefixes_sort_by_their_utf8_bytes() -> None:
    value = {("k" * 40) + chr(c): c for c in range(0x20, 0x3000, 7)} | {"": 0, "\U0001f600": 1, "\uffff": 2}
    assert same("encode_value", native, value) == reference_bytes(value)


def test_the_declared_support_is_the_formats() -> None:
    """What the C module says it supports is what the Python rule says (ledger.canonical_form)."""
    for module in (native, pure):
        assert module.MAX_DEPTH == MAX_DEPTH == canonical.MAX_DEPTH
        assert (module.INT_MIN, module.INT_MAX) == (INT_MIN, INT_MAX)
        assert tuple(t.__name__ for t in VALUE_TYPES) == module.VALUE_TYPES
        assert module.HASH_SIZE == 32
    for t in VALUE_TYPES:  # and each declared type is encoded
        sample = {dict: {}, list: [], tuple: (), str: "", bytes: b"", bytearray: bytearray(), int: 0, bool: True}
        value = memoryview(b"") if t is memoryview else None if t is type(None) else sample[t]
        assert same("encode_value", native, value)[0] == "value"
