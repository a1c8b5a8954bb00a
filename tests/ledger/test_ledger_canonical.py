"""Canonical msgpack entries: round trips, a reference encoder, and rejection of every non-canonical form."""

from __future__ import annotations

import struct
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ledger import CanonicalError, decode, encode
from ledger.canonical import encode_value

settings.register_profile(
    "ledger-canonical",
    max_examples=100,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.large_base_example],
)
SETTINGS = settings.get_profile("ledger-canonical")

INT_MIN, INT_MAX = -(2**63), 2**64 - 1

# -- an independent encoder written from docs/formats.md, used to build good and bad bytes ---------


def ref_int(v: int) -> bytes:
    """The one (smallest) msgpack encoding of an integer."""
    if 0 <= v <= 0x7F:
        return bytes([v])
    if -32 <= v < 0:
        return struct.pack(">b", v)
    if v > 0:
        for tag, fmt, top in ((0xCC, ">B", 0xFF), (0xCD, ">H", 0xFFFF), (0xCE, ">I", 0xFFFF_FFFF)):
            if v <= top:
                return bytes([tag]) + struct.pack(fmt, v)
        return b"\xcf" + struct.pack(">Q", v)
    for tag, fmt, low in ((0xD0, ">b", -(2**7)), (0xD1, ">h", -(2**15)), (0xD2, ">i", -(2**31))):
        if v >= low:
            return bytes([tag]) + struct.pack(fmt, v)
    return b"\xd3" + struct.pack(">q", v)


def wider_ints(v: int) -> list[bytes]:
    """Every valid but non-minimal msgpack encoding of v."""
    forms = []
    for tag, fmt, low, high in (
        (0xCC, ">B", 0, 2**8 - 1),
        (0xCD, ">H", 0, 2**16 - 1),
        (0xCE, ">I", 0, 2**32 - 1),
        (0xCF, ">Q", 0, 2**64 - 1),
        (0xD0, ">b", -(2**7), 2**7 - 1),
        (0xD1, ">h", -(2**15), 2**15 - 1),
        (0xD2, ">i", -(2**31), 2**31 - 1),
        (0xD3, ">q", -(2**63), 2**63 - 1),
    ):
        if low <= v <= high:
            forms.append(bytes([tag]) + struct.pack(fmt, v))
    minimal = ref_int(v)
    return [f for f in forms if f != minimal]


def ref_len(n: int, fix: int | None, fix_max: int, tags: tuple[int, int, int]) -> bytes:
    if fix is not None and n <= fix_max:
        return bytes([fix | n])
    for tag, fmt, top in zip(tags, (">B", ">H", ">I"), (0xFF, 0xFFFF, 0xFFFF_FFFF), strict=True):
        if tag and n <= top:
            return bytes([tag]) + struct.pack(fmt, n)
    raise ValueError(n)


def ref_str(s: str) -> bytes:
    raw = s.encode("utf-8")
    return ref_len(len(raw), 0xA0, 31, (0xD9, 0xDA, 0xDB)) + raw


def ref_bin(b: bytes) -> bytes:
    return ref_len(len(b), None, 0, (0xC4, 0xC5, 0xC6)) + b


def ref_encode(v: Any) -> bytes:
    """Canonical bytes per docs/formats.md, independently of ledger.canonical."""
    if v is None:
        return b"\xc0"
    if v is False:
        return b"\xc2"
    if v is True:
        return b"\xc3"
    if type(v) is int:
        return ref_int(v)
    if type(v) is str:
        return ref_str(v)
    if type(v) is bytes:
        return ref_bin(v)
    if type(v) is list:
        return ref_len(len(v), 0x90, 15, (0, 0xDC, 0xDD)) + b"".join(ref_encode(x) for x in v)
    if type(v) is dict:
        return raw_map(sorted(v.items(), key=lambda kv: kv[0].encode("utf-8")))
    raise TypeError(type(v))


def raw_map(pairs: list[tuple[Any, Any]], *, raw_values: bool = False) -> bytes:
    """A map header and the pairs in the given order (keys and values encoded canonically)."""
    body = b"".join(ref_encode(k) + (v if raw_values else ref_encode(v)) for k, v in pairs)
    return ref_len(len(pairs), 0x80, 15, (0, 0xDE, 0xDF)) + body


# -- strategies ---------------------------------------------------------------------------------------

BOUNDARY_INTS = [0, 127, 128, 255, 256, 65535, 65536, 2**32 - 1, 2**32, INT_MAX, -1, -32, -33, -128, -129]
BOUNDARY_INTS += [-(2**15), -(2**15) - 1, -(2**31), -(2**31) - 1, INT_MIN]
scalars = (
    st.none()
    | st.booleans()
    | st.integers(INT_MIN, INT_MAX)
    | st.sampled_from(BOUNDARY_INTS)
    | st.text(max_size=10)
    | st.text(min_size=30, max_size=34)  # around the fixstr / str8 boundary (31 / 32 bytes)
    | st.binary(max_size=10)
)
keys = st.text(max_size=6) | st.sampled_from(["a", "b", "é", "z", "\u00ff", "\u0100", "\U0001f600", "\uff61", ""])
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=8,
)
entries = st.dictionaries(keys, values, max_size=8)


# -- round trips --------------------------------------------------------------------------------------


@SETTINGS
@given(entries)
def test_round_trip_and_reference_bytes(entry: dict[str, Any]) -> None:
    data = encode(entry)
    assert data == ref_encode(entry)
    assert decode(data) == entry
    assert encode(decode(data)) == data


@SETTINGS
@given(entries, st.randoms(use_true_random=False))
def test_encoding_ignores_insertion_order(entry: dict[str, Any], rnd: Any) -> None:
    items = list(entry.items())
    rnd.shuffle(items)
    assert encode(dict(items)) == encode(entry)


@SETTINGS
@given(entries)
def test_keys_come_out_sorted_by_utf8_bytes(entry: dict[str, Any]) -> None:
    def check(pairs: list[tuple[Any, Any]]) -> dict[Any, Any]:
        raw = [k.encode("utf-8") for k, _ in pairs]
        assert raw == sorted(raw) and len(set(raw)) == len(raw)
        return dict(pairs)

    msgpack.unpackb(encode(entry), raw=False, object_pairs_hook=check, strict_map_key=False)


def test_utf8_order_is_not_utf16_order() -> None:
    # U+FF61 sorts before U+1F600 in UTF-8 (and code points) but after it in UTF-16 code units.
    data = encode({"\U0001f600": 1, "\uff61": 2})
    assert data.index("\uff61".encode()) < data.index("\U0001f600".encode())


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (5, "05"),
        (127, "7f"),
        (128, "cc80"),
        (256, "cd0100"),
        (65536, "ce00010000"),
        (2**32, "cf0000000100000000"),
        (-1, "ff"),
        (-32, "e0"),
        (-33, "d0df"),
        (-129, "d1ff7f"),
        (-(2**31) - 1, "d3ffffffff7fffffff"),
        ("", "a0"),
        ("a" * 31, "bf" + "61" * 31),
        ("a" * 32, "d920" + "61" * 32),
        (b"", "c400"),
        (b"\x01", "c40101"),
        ("a" * 255, "d9ff" + "61" * 255),
        ("a" * 256, "da0100" + "61" * 256),
        (b"x" * 255, "c4ff" + "78" * 255),
        (b"x" * 256, "c50100" + "78" * 256),
        ([0] * 15, "9f" + "00" * 15),
        ([0] * 16, "dc0010" + "00" * 16),
        ({f"k{i:02d}": 0 for i in range(15)}, "8f" + "".join(f"a3{f'k{i:02d}'.encode().hex()}00" for i in range(15))),
        ({f"k{i:02d}": 0 for i in range(16)}, "de0010" + "".join(f"a3{(b'k%02d' % i).hex()}00" for i in range(16))),
        ([], "90"),
        ({}, "80"),
        (None, "c0"),
        (True, "c3"),
    ],
)
def test_known_encodings(value: Any, expected: str) -> None:
    assert encode_value(value).hex() == expected


def test_worked_example_entry() -> None:
    data = encode({"seq": 0, "prev": bytes(32), "t": 1_795_219_200_000, "kind": "demo", "n": 5})
    t_hex = (1_795_219_200_000).to_bytes(8, "big").hex()
    assert data.hex() == "85a46b696e64a464656d6fa16e05a470726576c420" + "00" * 32 + "a3736571" + "00" + "a174cf" + t_hex


# -- what encode refuses ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "path", "reason"),
    [
        ({"price": 1.5}, "price", "floats are not allowed"),
        ({"a": {"b": [1, 2.0]}}, "a.b[1]", "floats are not allowed"),
        ({1: "x"}, "", "map key 1 is not a string"),
        ({"a": {b"k": 1}}, "a", "is not a string"),
        ({"n": 2**64}, "n", "outside the msgpack range"),
        ({"n": -(2**63) - 1}, "n", "outside the msgpack range"),
        ({"s": {1, 2}}, "s", "type set has no canonical encoding"),
        ({"s": "\udc80"}, "", "not valid UTF-8"),
    ],
)
def test_encode_refuses(entry: dict[Any, Any], path: str, reason: str) -> None:
    with pytest.raises(CanonicalError) as err:
        encode(entry)
    assert err.value.path == path
    assert reason in err.value.reason


def test_encode_refuses_non_map_entry() -> None:
    with pytest.raises(CanonicalError, match="must be a map"):
        encode([1, 2])  # type: ignore[arg-type]


def test_encode_normalises_byte_likes_and_tuples() -> None:
    assert encode({"b": bytearray(b"ab"), "m": memoryview(b"c"), "t": (1, 2)}) == encode(
        {"b": b"ab", "m": b"c", "t": [1, 2]}
    )


def test_encode_error_leaves_the_encoder_usable() -> None:
    with pytest.raises(CanonicalError):
        encode({"s": "ok", "bad": "\udc80"})
    assert encode({"a": 1}) == b"\x81\xa1a\x01"


# -- strict decoding: every non-canonical form is rejected --------------------------------------------


def rejects(data: bytes, reason: str) -> None:
    with pytest.raises(CanonicalError) as err:
        decode(data)
    assert reason in str(err.value), f"{data.hex()}: {err.value}"


@pytest.mark.parametrize(
    ("hexdata", "reason"),
    [
        ("81a161cd0005", "non-minimal encoding at byte offset 3"),  # 5 as uint16 (the example)
        ("81a161d005", "non-minimal"),  # 5 as int8
        ("81a161d0ff", "non-minimal"),  # -1 as int8
        ("81a161cc05", "non-minimal"),  # 5 as uint8
        ("81a161d90162", "non-minimal"),  # 1-byte string as str8
        ("81a161c50001ff", "non-minimal"),  # 1-byte bin as bin16
        ("81a161dc0000", "non-minimal"),  # empty array as array16
        ("de0001a16101", "non-minimal encoding at byte offset 0"),  # 1-entry map as map16
        ("82a16201a16102", "map keys are not sorted ('a' after 'b')"),
        ("82a16101a16102", "duplicate map key"),
        ("81a161cb3ff8000000000000", "floats are not allowed"),
        ("81a161ca3fc00000", "floats are not allowed"),
        ("81a161d40100", "ext type 1 is not allowed"),
        ("81a161d6ff00000001", "ext type -1 (timestamp) is not allowed"),
        ("81a16101c0", "1 trailing bytes after the entry"),
        ("810101", "map key 1 is not a string"),
        ("81c4016101", "map key b'a' is not a string"),
        ("81c001", "map key None is not a string"),
        ("81a161a1ff", "not valid UTF-8"),
        ("82a16101", "not valid msgpack"),
        ("", "not valid msgpack"),
        ("c1", "not valid msgpack"),
        ("9101", "an entry must be a map, not list"),
        ("05", "an entry must be a map, not int"),
        ("81a16181a16291cb0000000000000000", "a.b[0]: floats are not allowed"),
        ("81a16182a16201a16102", "map keys are not sorted"),
    ],
)
def test_rejects_examples(hexdata: str, reason: str) -> None:
    rejects(bytes.fromhex(hexdata), reason)


def nest(inner_map: bytes, depth: int) -> bytes:
    """Wrap map bytes `depth` times as the value of key "n" (inside a list every other level)."""
    for level in range(depth):
        if level % 2:
            inner_map = b"\x91" + inner_map
        inner_map = b"\x81" + ref_str("n") + inner_map
    return inner_map


depths = st.integers(0, 3)


@SETTINGS
@given(entries, st.integers(INT_MIN, INT_MAX), depths)
def test_rejects_non_minimal_ints(entry: dict[str, Any], value: int, depth: int) -> None:
    for form in wider_ints(value):
        rejects(nest(raw_map([("\x00", form)], raw_values=True), depth), "non-minimal")
        mixed = dict(entry, **{"\U0010ffff": 0})
        good = raw_map(sorted(mixed.items(), key=lambda kv: kv[0].encode()))
        # Replace the last value (the 0 under the largest key) with the wide form.
        assert good.endswith(ref_str("\U0010ffff") + b"\x00")
        rejects(good[:-1] + form, "non-minimal")


@SETTINGS
@given(st.dictionaries(keys, values, min_size=2, max_size=6), depths, st.data())
def test_rejects_unsorted_keys(entry: dict[str, Any], depth: int, data: st.DataObject) -> None:
    pairs = sorted(entry.items(), key=lambda kv: kv[0].encode())
    i = data.draw(st.integers(0, len(pairs) - 2))
    j = data.draw(st.integers(i + 1, len(pairs) - 1))
    pairs[i], pairs[j] = pairs[j], pairs[i]  # any swap of two distinct keys breaks the order
    rejects(nest(raw_map(pairs), depth), "not sorted")


@SETTINGS
@given(st.dictionaries(keys, values, min_size=1, max_size=6), depths, st.data())
def test_rejects_duplicate_keys(entry: dict[str, Any], depth: int, data: st.DataObject) -> None:
    pairs = sorted(entry.items(), key=lambda kv: kv[0].encode())
    at = data.draw(st.integers(0, len(pairs) - 1))
    again = data.draw(values)
    pairs.insert(at + 1, (pairs[at][0], again))
    rejects(nest(raw_map(pairs), depth), "duplicate map key")


@SETTINGS
@given(st.floats() | st.integers(-(2**53), 2**53).map(float), st.booleans(), depths)
def test_rejects_floats(value: float, single: bool, depth: int) -> None:
    fits = single and abs(value) < 3.4e38
    raw = b"\xca" + struct.pack(">f", value) if fits else b"\xcb" + struct.pack(">d", value)
    rejects(nest(raw_map([("f", raw)], raw_values=True), depth), "floats are not allowed")


ext_headers = st.sampled_from([b"\xd4", b"\xd5", b"\xd6", b"\xd7", b"\xd8", b"\xc7", b"\xc8", b"\xc9"])
EXT_SIZES = {0xD4: 1, 0xD5: 2, 0xD6: 4, 0xD7: 8, 0xD8: 16}


@SETTINGS
@given(ext_headers, st.integers(-128, 127), st.binary(max_size=20), depths)
def test_rejects_ext_types(header: bytes, code: int, payload: bytes, depth: int) -> None:
    size = EXT_SIZES.get(header[0])
    if size is not None:
        payload = (payload + bytes(size))[:size]
        raw = header + struct.pack(">b", code) + payload
    else:
        fmt = {0xC7: ">B", 0xC8: ">H", 0xC9: ">I"}[header[0]]
        raw = header + struct.pack(fmt, len(payload)) + struct.pack(">b", code) + payload
    with pytest.raises(CanonicalError) as err:
        decode(nest(raw_map([("x", raw)], raw_values=True), depth))
    # A malformed timestamp payload fails inside msgpack itself; every other form names the ext type.
    assert "ext type" in str(err.value) or (code == -1 and "not valid msgpack" in str(err.value))


@SETTINGS
@given(entries, st.binary(min_size=1, max_size=20))
def test_rejects_trailing_bytes(entry: dict[str, Any], extra: bytes) -> None:
    with pytest.raises(CanonicalError):
        decode(encode(entry) + extra)


@SETTINGS
@given(entries, st.data())
def test_rejects_every_truncation(entry: dict[str, Any], data: st.DataObject) -> None:
    good = encode(entry)
    cut = data.draw(st.integers(0, len(good) - 1))
    with pytest.raises(CanonicalError):
        decode(good[:cut])


non_str_keys = (
    st.integers(INT_MIN, INT_MAX).map(ref_int)
    | st.binary(max_size=8).map(ref_bin)
    | st.sampled_from([b"\xc0", b"\xc2", b"\xc3", b"\x90", b"\x80", b"\xcb" + bytes(8)])
)


@SETTINGS
@given(non_str_keys, depths)
def test_rejects_non_string_keys(key: bytes, depth: int) -> None:
    data = nest(b"\x81" + key + b"\x01", depth)
    with pytest.raises(CanonicalError) as err:
        decode(data)
    assert "is not a string" in str(err.value) or "floats" in str(err.value) or "not valid msgpack" in str(err.value)


@SETTINGS
@given(st.text(max_size=300), depths)
def test_rejects_wide_string_headers(text: str, depth: int) -> None:
    raw = text.encode()
    forms = [b"\xd9" + struct.pack(">B", len(raw)) if len(raw) < 256 else None]
    forms += [b"\xda" + struct.pack(">H", len(raw)), b"\xdb" + struct.pack(">I", len(raw))]
    minimal = ref_str(text)[: -len(raw) or None]
    for header in forms:
        if header is None or header == minimal:
            continue
        rejects(nest(raw_map([("s", header + raw)], raw_values=True), depth), "non-minimal")


@SETTINGS
@given(st.binary(max_size=300), depths)
def test_rejects_wide_bin_headers(blob: bytes, depth: int) -> None:
    minimal = ref_bin(blob)[: -len(blob) or None]
    for header in (b"\xc5" + struct.pack(">H", len(blob)), b"\xc6" + struct.pack(">I", len(blob))):
        if header != minimal:
            rejects(nest(raw_map([("b", header + blob)], raw_values=True), depth), "non-minimal")


@SETTINGS
@given(st.lists(st.integers(0, 127), max_size=20), depths)
def test_rejects_wide_container_headers(items: list[int], depth: int) -> None:
    body = bytes(items)
    if len(items) <= 15:
        rejects(nest(raw_map([("l", b"\xdc" + struct.pack(">H", len(items)) + body)], raw_values=True), depth), "")
    rejects(nest(raw_map([("l", b"\xdd" + struct.pack(">I", len(items)) + body)], raw_values=True), depth), "")
    pairs = b"".join(ref_str(f"k{i:02d}") + bytes([v]) for i, v in enumerate(items))
    if len(items) <= 15:
        rejects(nest(b"\xde" + struct.pack(">H", len(items)) + pairs, depth), "non-minimal")
    rejects(nest(b"\xdf" + struct.pack(">I", len(items)) + pairs, depth), "non-minimal")


@SETTINGS
@given(st.binary(max_size=64))
def test_decode_accepts_only_its_own_encoding(data: bytes) -> None:
    """Whatever decode accepts re-encodes to exactly the same bytes (one encoding per value)."""
    try:
        value = decode(data)
    except CanonicalError:
        return
    assert encode(value) == data


@SETTINGS
@given(entries)
def test_mutated_canonical_bytes_never_decode_to_a_different_encoding(entry: dict[str, Any]) -> None:
    data = bytearray(encode(entry))
    assume(len(data) > 1)
    for i in range(min(len(data), 16)):
        data[i] ^= 0x01
        try:
            value = decode(bytes(data))
        except CanonicalError:
            pass
        else:
            assert encode(value) == bytes(data)
        data[i] ^= 0x01
