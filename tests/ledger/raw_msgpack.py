"""Random msgpack, canonical or not, for the differential tests of the byte kernels: every header width,
key order and type, and a few bad bytes (floats, ext types, the unused byte, invalid UTF-8)."""

from __future__ import annotations

import struct
from typing import Any

from hypothesis import strategies as st

INT_EDGES = [0, 1, 31, 32, 127, 128, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**63 - 1, 2**63, 2**64 - 1]
INT_EDGES += [-1, -31, -32, -33, -127, -128, -129, -32767, -32768, -32769, -(2**31), -(2**31) - 1, -(2**63)]


def int_encodings(v: int) -> list[bytes]:
    """Every msgpack encoding that can hold v (the canonical one and the wider ones)."""
    out = []
    if 0 <= v <= 0x7F:
        out.append(bytes([v]))
    if -32 <= v < 0:
        out.append(struct.pack(">b", v))
    for tag, fmt, lo, hi in (
        (0xCC, ">B", 0, 0xFF),
        (0xCD, ">H", 0, 0xFFFF),
        (0xCE, ">I", 0, 0xFFFF_FFFF),
        (0xCF, ">Q", 0, 2**64 - 1),
        (0xD0, ">b", -128, 127),
        (0xD1, ">h", -(2**15), 2**15 - 1),
        (0xD2, ">i", -(2**31), 2**31 - 1),
        (0xD3, ">q", -(2**63), 2**63 - 1),
    ):
        if lo <= v <= hi:
            out.append(bytes([tag]) + struct.pack(fmt, v))
    return out


def length_header(n: int, fix: int | None, fix_max: int, tags: tuple[int | None, int, int], draw: Any) -> bytes:
    """A header for length n: the smallest, or (sometimes) a wider one."""
    options = []
    if fix is not None and n <= fix_max:
        options.append(bytes([fix | n]))
    for tag, fmt, top in zip(tags, (">B", ">H", ">I"), (0xFF, 0xFFFF, 0xFFFF_FFFF), strict=True):
        if tag is not None and n <= top:
            options.append(bytes([tag]) + struct.pack(fmt, n))
    return options[0] if draw(st.integers(0, 7)) else draw(st.sampled_from(options))


KEYS = st.sampled_from(["seq", "prev", "t", "kind", "a", "b", "ab", "z", "é", "出价", "\U0001f600", ""])


@st.composite
def raw_str(draw: Any, text: Any = None) -> bytes:
    body = draw(text if text is not None else st.text(max_size=40)).encode("utf-8", "surrogatepass")
    if draw(st.integers(0, 15)) == 0:  # invalid UTF-8 (or a surrogate, via surrogatepass)
        body = draw(st.binary(min_size=1, max_size=8)) + body
    return length_header(len(body), 0xA0, 31, (0xD9, 0xDA, 0xDB), draw) + body


@st.composite
def raw_bin(draw: Any) -> bytes:
    body = draw(st.binary(max_size=40))
    return length_header(len(body), None, 0, (0xC4, 0xC5, 0xC6), draw) + body


@st.composite
def raw_int(draw: Any) -> bytes:
    v = draw(st.sampled_from(INT_EDGES) | st.integers(-(2**63), 2**64 - 1))
    encodings = int_encodings(v)
    return encodings[0] if draw(st.integers(0, 7)) else draw(st.sampled_from(encodings))


GOOD_SCALARS = st.sampled_from([b"\xc0", b"\xc2", b"\xc3"])  # nil, false, true
ODD_SCALARS = st.sampled_from(
    [
        b"\xc1",  # never used
        b"\xca" + struct.pack(">f", 1.5),
        b"\xcb" + struct.pack(">d", 2.0),
        b"\xd4\x01\x00",  # fixext 1
        b"\xd6\xff\x00\x00\x00\x00",  # timestamp 32
        b"\xc7\x01\x05\x00",  # ext 8
    ]
)

scalars = st.one_of(*[raw_int(), raw_str(), raw_bin(), GOOD_SCALARS] * 2, ODD_SCALARS)  # odd ones: 1 in 9


@st.composite
def raw_map(draw: Any, children: Any) -> bytes:
    keys = draw(st.lists(KEYS, max_size=7, unique=draw(st.integers(0, 5)) > 0))
    pairs = []
    for k in keys:
        key = draw(raw_str(st.just(k))) if draw(st.integers(0, 20)) else draw(raw_int() | raw_bin())
        pairs.append((k, key, draw(children)))
    order = draw(st.integers(0, 5))
    if order:  # mostly sorted by the key's bytes (duplicates kept): the interesting case
        pairs.sort(key=lambda p: p[0].encode())
    else:
        draw(st.randoms(use_true_random=False)).shuffle(pairs)
    head = length_header(len(pairs), 0x80, 15, (None, 0xDE, 0xDF), draw)
    return head + b"".join(k + v for _, k, v in pairs)


@st.composite
def raw_array(draw: Any, children: Any) -> bytes:
    items = draw(st.lists(children, max_size=5))
    return length_header(len(items), 0x90, 15, (None, 0xDC, 0xDD), draw) + b"".join(items)


raw_values = st.recursive(scalars, lambda children: raw_map(children) | raw_array(children), max_leaves=12)


@st.composite
def raw_entries(draw: Any) -> bytes:
    """Mostly maps with ledger-like fields, sometimes anything; then sometimes a mutation."""
    data = draw(raw_map(raw_values)) if draw(st.integers(0, 7)) else draw(raw_values)
    mutation = draw(st.integers(0, 9))
    if data and mutation == 1:  # flip a byte
        i = draw(st.integers(0, len(data) - 1))
        data = data[:i] + bytes([draw(st.integers(0, 255))]) + data[i + 1 :]
    elif data and mutation == 2:  # truncate
        data = data[: draw(st.integers(0, len(data) - 1))]
    elif mutation == 3:  # trailing bytes
        data += draw(st.binary(min_size=1, max_size=3))
    elif data and mutation == 4:  # insert a byte
        i = draw(st.integers(0, len(data)))
        data = data[:i] + bytes([draw(st.integers(0, 255))]) + data[i:]
    return data
