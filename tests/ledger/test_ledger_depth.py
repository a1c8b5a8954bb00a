"""The format's nesting limit (canonical.MAX_DEPTH: 32 levels of maps and lists), and duplicate msgpack keys.

Issue 13: a bid carrying an extra 495-deep object was accepted into the ledger, and then the server's
restart and `ledger verify` died with a RecursionError. Now the encoder refuses anything nested deeper
than the limit (so nothing deeper is written), and the decoder refuses it too, naming its path, before
it builds anything. `make test` runs it on the native kernels and again on pure Python
(LEDGER_PURE_PYTHON=1): both give the same results and the same messages.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger import CanonicalError, CheckpointPolicy, Log, MemoryStore, Signer
from ledger.canonical import MAX_DEPTH, decode, decode_many, encode, encode_entry, encode_value, normalize

SETTINGS = settings(max_examples=300, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TOO_DEEP = "nested deeper than 32 levels of maps and lists"


def nested_maps(levels: int, leaf: Any = 1) -> Any:
    """{"a": {"a": … leaf}} with `levels` maps."""
    value = leaf
    for _ in range(levels):
        value = {"a": value}
    return value


def raw_nested_maps(levels: int, leaf: bytes = b"\x01") -> bytes:
    """The msgpack bytes of nested_maps(levels): one-pair maps, key "a" (canonical at any depth)."""
    return b"\x81\xa1a" * levels + leaf


def path_of(levels: int, prefix: str = "") -> str:
    """The path of the map at level `levels` + 1 inside nested maps under `prefix`."""
    steps = ["a"] * levels
    return ".".join([prefix, *steps] if prefix else steps)


def test_max_depth_is_32() -> None:
    assert MAX_DEPTH == 32


def test_a_495_deep_object_in_a_bid_is_refused_before_anything_is_written() -> None:
    """The issue's bid, exactly: an extra field holding a 495-deep object."""
    bid = {"op": "bid", "actor": "B-0007", "lot": "L-0001", "amount": 10_500_000, "extra": nested_maps(495)}
    expected = f"{path_of(31, 'extra')}: {TOO_DEEP}"  # the 33rd level: the bid is the 1st, extra the 2nd
    for encoder in (
        lambda: normalize(bid),
        lambda: encode(bid),
        lambda: encode_value(bid),
        lambda: encode_entry(bid, 0, bytes(32), 0, "bid"),
    ):
        with pytest.raises(CanonicalError) as err:
            encoder()
        assert str(err.value) == expected
    log = Log(MemoryStore(), Signer("depth.example", bytes(32)), policy=CheckpointPolicy(None, None))
    with pytest.raises(CanonicalError) as err:
        log.append("bid", {k: v for k, v in bid.items() if k != "op"}, t=0)
    assert str(err.value) == expected
    assert log.size == 0  # nothing was appended


@pytest.mark.parametrize("levels", [1, 2, 31, 32])
def test_up_to_32_levels_round_trip(levels: int) -> None:
    entry = nested_maps(levels)
    data = encode(entry)
    assert data == raw_nested_maps(levels)
    assert decode(data) == entry == normalize(entry)
    assert decode_many([data, data]) == [entry, entry]


@pytest.mark.parametrize("levels", [33, 34, 495, 100_000])
def test_deeper_bytes_are_refused_naming_the_path(levels: int) -> None:
    # 100,000 levels is beyond msgpack's own stack: the limit is found first, by reading headers only.
    data = raw_nested_maps(levels)
    with pytest.raises(CanonicalError) as err:
        decode(data)
    assert str(err.value) == f"{path_of(32)}: {TOO_DEEP}"
    assert err.value.path == path_of(32)
    assert decode_many([raw_nested_maps(2), data]) is None
    if levels < 500:  # what msgpack itself can build: the encoder refuses it with the same words
        with pytest.raises(CanonicalError) as err:
            encode(nested_maps(levels))
        assert str(err.value) == f"{path_of(32)}: {TOO_DEEP}"


def test_lists_count_as_levels_and_the_path_names_their_indexes() -> None:
    value: Any = 0
    for _ in range(31):
        value = [7, value]  # the nested value is item 1 of every list
    ok = {"k": value}  # 1 map + 31 lists = 32 levels
    assert decode(encode(ok)) == ok
    too_deep = {"k": [value]}
    expected = "k[0]" + "[1]" * 30 + f": {TOO_DEEP}"
    with pytest.raises(CanonicalError) as err:
        encode(too_deep)
    assert str(err.value) == expected
    with pytest.raises(CanonicalError) as err:
        decode(msgpack.packb(too_deep))
    assert str(err.value) == expected


def test_a_value_that_contains_itself_is_refused_not_a_recursion_error() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(CanonicalError, match=TOO_DEEP):
        normalize({"loop": loop})
    with pytest.raises(CanonicalError, match=TOO_DEEP):
        encode({"loop": loop})


@pytest.mark.parametrize(
    ("hexdata", "message"),
    [
        # Lengths far beyond the bytes: refused as msgpack, without reading (or allocating) that much.
        ("81a178ddffffffff", "<entry>: not valid msgpack"),  # array32 of 4,294,967,295 items, none there
        ("81a178dfffffffff", "<entry>: not valid msgpack"),  # map32 likewise
        ("81a178dbffffffff6162", "<entry>: not valid msgpack"),  # str32 of 4 GiB, 2 bytes there
        ("81a178c6ffffffff00", "<entry>: not valid msgpack"),  # bin32
        ("dfffffffff", "<entry>: not valid msgpack"),  # the entry itself
    ],
)
def test_huge_lengths_are_refused(hexdata: str, message: str) -> None:
    with pytest.raises(CanonicalError) as err:
        decode(bytes.fromhex(hexdata))
    assert str(err.value).startswith(message)


# -- duplicate msgpack keys (the strict decoder's re-encode catches them; both paths, one message) -------


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"\x82\xa1a\x01\xa1a\x02", "a: duplicate map key"),
        (b"\x82\xa1a\x01\xa1a\x01", "a: duplicate map key"),  # the same value twice: still two keys
        (b"\x83\xa4kind\xa1x\xa3seq\x00\xa3seq\x01", "seq: duplicate map key"),
        (b"\x81\xa1m\x82\xa1z\x01\xa1z\x02", "z: duplicate map key"),  # nested
        (b"\x81\xa1l\x91\x82\xa1q\xc0\xa1q\xc0", "q: duplicate map key"),  # in a map in a list
    ],
)
def test_duplicate_msgpack_keys_are_refused_by_the_decoder(raw: bytes, message: str) -> None:
    with pytest.raises(CanonicalError) as err:
        decode(raw)
    assert str(err.value) == message
    assert decode_many([raw]) is None


# -- the property: encode refuses exactly what is deeper than the limit; the decoder agrees -----------------

scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.text(max_size=4) | st.binary(max_size=4)
shallow = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=6,
)


@st.composite
def deep_values(draw: Any) -> Any:
    """A value with a spine of 0-40 maps, lists or tuples, each with a few shallow siblings beside it."""
    value = draw(scalars)
    for _ in range(draw(st.integers(0, 40))):
        siblings = draw(st.lists(shallow, max_size=2))
        kind = draw(st.sampled_from(["map", "list", "tuple"]))
        if kind == "map":
            keys = draw(
                st.lists(st.text(max_size=3), min_size=len(siblings) + 1, max_size=len(siblings) + 1, unique=True)
            )
            value = dict(zip(keys, [value, *siblings], strict=True))
        else:
            items = [*siblings]
            items.insert(draw(st.integers(0, len(items))), value)
            value = items if kind == "list" else tuple(items)
    return value


def levels(value: Any) -> int:
    """How many levels of maps and lists `value` has (a scalar: 0)."""
    if type(value) is dict:
        return 1 + max(map(levels, value.values()), default=0)
    if type(value) in (list, tuple):
        return 1 + max(map(levels, value), default=0)
    return 0


def first_too_deep(value: Any, path: str = "", depth: int = 0) -> str | None:
    """The path of the first map or list at level MAX_DEPTH + 1, keys in canonical (UTF-8) order."""
    if type(value) is dict:
        if depth >= MAX_DEPTH:
            return path
        for k in sorted(value, key=lambda k: k.encode("utf-8")):
            found = first_too_deep(value[k], f"{path}.{k}" if path else k, depth + 1)
            if found is not None:
                return found
    elif type(value) in (list, tuple):
        if depth >= MAX_DEPTH:
            return path
        for i, v in enumerate(value):
            found = first_too_deep(v, f"{path}[{i}]", depth + 1)
            if found is not None:
                return found
    return None


def sorted_value(value: Any) -> Any:
    """normalize without its limit: maps sorted, tuples as lists (to make too-deep bytes with msgpack)."""
    if type(value) is dict:
        return {k: sorted_value(value[k]) for k in sorted(value, key=lambda k: k.encode("utf-8"))}
    if type(value) in (list, tuple):
        return [sorted_value(v) for v in value]
    return value


@SETTINGS
@given(deep_values())
def test_encode_refuses_exactly_what_is_deeper_than_the_limit(value: Any) -> None:
    entry = {"v": value}
    if levels(entry) <= MAX_DEPTH:
        data = encode(entry)
        assert encode_value(entry) == data
        assert decode(data) == normalize(entry)
        assert decode_many([data]) == [normalize(entry)]
    else:
        expected = f"{first_too_deep(entry)}: {TOO_DEEP}"
        for encoder in (normalize, encode, encode_value):
            with pytest.raises(CanonicalError) as err:
                encoder(entry)
            assert str(err.value) == expected
        # The same value's bytes (canonical but for the depth), as another writer might produce them.
        data = msgpack.packb(sorted_value(entry), use_bin_type=True)
        with pytest.raises(CanonicalError) as err:
            decode(data)
        assert str(err.value) == expected
        assert decode_many([data]) is None


def test_the_examples_in_formats_md_section_1() -> None:
    """The two rows of the decoder's error table in docs/formats.md §1 that this limit added, verbatim."""
    page = (Path(__file__).resolve().parents[2] / "docs" / "formats.md").read_text(encoding="utf-8")
    for hexdata, message in (
        ("81a161" * 32 + "90", "a" + ".a" * 31 + ": nested deeper than 32 levels of maps and lists"),
        ("81a161ddffffffff", "<entry>: not valid msgpack: 4294967295 exceeds max_array_len(8)"),
    ):
        with pytest.raises(CanonicalError) as err:
            decode(bytes.fromhex(hexdata))
        assert str(err.value) == message
        assert f"| `{message}` |" in page
