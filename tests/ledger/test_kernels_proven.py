"""The proven-entry kernel, native against pure Python: `proven_entry_root` reads a certificate's
entry and inclusion path from their canonical base64 (the path joined, or one hash a line as in a
tlog-proof), checks the entry is canonical with seq = index, and gives its bytes, leaf hash and the
root the path leads to; both sides give that answer, and None alike for every other spelling (pad
bits, extra padding, other characters, line breaks), entry, index, size and argument type."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from kernel_modules import SETTINGS, native_kernels, same

from ledger import MerkleTree, canonical

native = native_kernels()
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def ledger_of(n: int) -> tuple[list[bytes], MerkleTree]:
    """n canonical entries (seq 0..n-1) and the tree of their leaf hashes."""
    datas = [
        canonical.encode_entry({"lot": f"L{i}", "amount": i * 7}, seq=i, prev=bytes(32), t=i, kind="bid")
        for i in range(n)
    ]
    return datas, MerkleTree([hashlib.sha256(b"\x00" + d).digest() for d in datas])


def other_spellings(text: str) -> list[str]:
    """Spellings of `text`'s bytes that strict base64 decoders may take but are not canonical: non-zero
    pad bits in the last group, padding added after a whole group, a line break, spaces."""
    out = [text + "====", text + "\n", " " + text, text[:4] + "\n" + text[4:]] if text else ["====", "\n"]
    if text.endswith("="):
        last = text.rstrip("=")
        pad = len(text) - len(last)
        value = _ALPHABET.index(last[-1])
        for bit in range(1, 16 if pad == 2 else 4):
            out.append(last[:-1] + _ALPHABET[value ^ bit] + "=" * pad)
        out.append(last + "A" * pad)  # the padding spelled as data
    return out


@SETTINGS
@given(st.integers(1, 70), st.data())
def test_a_proven_entry_gives_its_bytes_leaf_and_root_on_both_sides(n: int, data: st.DataObject) -> None:
    datas, tree = ledger_of(n)
    size = data.draw(st.integers(1, n))
    index = data.draw(st.integers(0, size - 1))
    proof = tree.inclusion_proof(index, size)
    want = ("value", (datas[index], bytes(tree.leaf(index)), tree.root(size)))
    joined, lines = b64(b"".join(proof)), "\n".join(map(b64, proof))
    assert same("proven_entry_root", native, b64(datas[index]), index, size, joined, False) == want
    assert same("proven_entry_root", native, b64(datas[index]), index, size, lines, True) == want
    # the path in the other layout, another index or size, another entry: no root, or another
    for case in [
        (b64(datas[index]), index, size, lines, False),
        (b64(datas[index]), index, size, joined, True),
        (b64(datas[index]), data.draw(st.integers(-1, n + 1)), size, joined, False),
        (b64(datas[index]), index, data.draw(st.integers(-1, n + 1)), lines, True),
        (b64(datas[data.draw(st.integers(0, n - 1))]), index, size, joined, False),
        (b64(datas[index]), index, size, lines + "\n", True),
        (b64(datas[index]), index, size, "\n" + lines, True),
    ]:
        same("proven_entry_root", native, *case)


@SETTINGS
@given(st.integers(2, 40), st.data())
def test_only_the_canonical_spelling_is_read(n: int, data: st.DataObject) -> None:
    """Every other spelling of the entry, of the joined path or of a hash line gives None on both sides."""
    datas, tree = ledger_of(n)
    index = data.draw(st.integers(0, n - 1))
    proof = tree.inclusion_proof(index, n)
    text, joined = b64(datas[index]), b64(b"".join(proof))
    for spelling in other_spellings(text):
        assert same("proven_entry_root", native, spelling, index, n, joined, False) == ("value", None)
    for spelling in other_spellings(joined):
        assert same("proven_entry_root", native, text, index, n, spelling, False) == ("value", None)
    k = data.draw(st.integers(0, len(proof) - 1))
    for spelling in other_spellings(b64(proof[k])):
        hashes = [b64(h) for h in proof]
        hashes[k] = spelling
        assert same("proven_entry_root", native, text, index, n, "\n".join(hashes), True) == ("value", None)


def _entry_bytes() -> st.SearchStrategy[bytes]:
    """Bytes an entry field might hold: canonical entries (some with seq 3), msgpack-ish noise."""
    seq3 = st.builds(
        lambda extra: canonical.encode_entry({"v": extra}, seq=3, prev=bytes(32), t=1, kind="x"),
        st.one_of(st.integers(-(2**63), 2**64 - 1), st.text(max_size=8), st.binary(max_size=8)),
    )
    return st.one_of(seq3, st.binary(max_size=64), st.just(b"\x81\xa3seq\x03"), st.just(b"\x81\xa3seq\xc3"))


@SETTINGS
@given(
    _entry_bytes(),
    st.integers(-2, 5),
    st.integers(-2, 9),
    st.one_of(st.binary(max_size=32 * 4).map(b64), st.text(alphabet=_ALPHABET + "=\n", max_size=100)),
    st.booleans(),
)
def test_hostile_arguments_are_refused_alike(entry: bytes, index: int, size: int, path: str, lines: bool) -> None:
    same("proven_entry_root", native, b64(entry), index, size, path, lines)
    same("proven_entry_root", native, b64(entry) + "=", index, size, path, lines)


@SETTINGS
@given(st.data())
def test_arguments_of_other_kinds_give_none_alike(data: st.DataObject) -> None:
    datas, tree = ledger_of(4)
    good: list[Any] = [b64(datas[1]), 1, 4, b64(b"".join(tree.inclusion_proof(1, 4))), False]
    odd: list[Any] = [
        None, True, 1.0, 2**63, 2**64, -(2**63), b"AAAA", bytearray(b"AAAA"), "é" * 4, "\udc80AAA", "ＡＡＡＡ",
        ["AAAA"], object(),
    ]  # fmt: skip
    assert same("proven_entry_root", native, *good)[1] is not None
    for position in range(4):
        case = list(good)
        case[position] = data.draw(st.sampled_from(odd))
        same("proven_entry_root", native, *case)
    for flag in (0, 1, "", "x", None, [], [0]):
        same("proven_entry_root", native, *good[:4], flag)
    long_path = "\n".join([b64(bytes(32))] * 70)
    same("proven_entry_root", native, good[0], 1, 4, long_path, True)
    same("proven_entry_root", native, good[0], 1, 4, b64(bytes(32 * 70)), False)
    same("proven_entry_root", native, good[0], 1, 4, b64(bytes(32 * 100)), False)
    same("proven_entry_root", native, good[0], 1, 4, "A" * 10_000, False)
