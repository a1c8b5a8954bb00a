"""The Merkle kernels, native against pure Python: `hash_pairs` (a tree's interior levels) and
`inclusion_root` (the RFC 9162 inclusion-proof loop) give the same hashes, and the same refusals on
bent proofs and hostile arguments; the tree built on them matches RFC 6962's definition."""

from __future__ import annotations

import hashlib
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from kernel_modules import SETTINGS, native_kernels, same

from ledger import MerkleTree, node_hash
from ledger.merkle import root_from_inclusion_proof

native = native_kernels()


def leaves(n: int) -> list[bytes]:
    return [hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(n)]


def reference_root(hashes: list[bytes]) -> bytes:
    """RFC 6962's MTH over leaf hashes, recursively."""
    if len(hashes) == 1:
        return hashes[0]
    k = 1 << ((len(hashes) - 1).bit_length() - 1)
    return node_hash(reference_root(hashes[:k]), reference_root(hashes[k:]))


@SETTINGS
@given(st.binary(max_size=64 * 6), st.integers(-70, 64 * 7), st.integers(-70, 64 * 7))
def test_hash_pairs_is_the_same_on_both_sides(level: bytes, start: int, stop: int) -> None:
    for buffer in (level, bytearray(level)):
        same("hash_pairs", native, buffer, start, stop)
    answer = same("hash_pairs", native, level, 0, len(level) - len(level) % 64)
    want = b"".join(hashlib.sha256(b"\x01" + level[o : o + 64]).digest() for o in range(0, len(level) - 63, 64))
    assert answer == ("value", want)


@SETTINGS
@given(st.integers(1, 200), st.data())
def test_the_tree_is_rfc_6962s(n: int, data: st.DataObject) -> None:
    hashes = leaves(n)
    tree = MerkleTree()
    cut = data.draw(st.integers(0, n))
    for leaf in hashes[:cut]:
        tree.append(leaf)
    tree.root()  # part of it built, then the rest
    tree.extend(hashes[cut:])
    size = data.draw(st.integers(1, n))
    assert tree.root(size) == reference_root(hashes[:size])


@SETTINGS
@given(st.integers(1, 200), st.data())
def test_inclusion_root_follows_every_path_alike(n: int, data: st.DataObject) -> None:
    """Real and bent proofs: the right root, or None, on both sides (wrong index or size, a path too long,
    too short or not whole hashes, a leaf of the wrong length, arguments of the wrong types)."""
    tree = MerkleTree(leaves(n))
    size = data.draw(st.integers(1, n))
    index = data.draw(st.integers(0, size - 1))
    proof = tree.inclusion_proof(index, size)
    leaf = bytes(tree.leaf(index))
    path = b"".join(proof)
    assert same("inclusion_root", native, leaf, index, size, path) == ("value", tree.root(size))
    assert root_from_inclusion_proof(leaf, index, size, proof) == tree.root(size)
    odd: list[Any] = [leaf[:31], bytearray(leaf), "leaf", data.draw(st.integers(-2, size + 2)), True, 2**63, 2**70]
    cases = [
        (leaf, data.draw(st.integers(-2, size + 2)), data.draw(st.integers(-1, size + 3)), path),
        (leaf, index, size, path + bytes(32)),
        (leaf, index, size, path[:-32]),
        (leaf, index, size, path + b"\x00"),
        (leaf, index, size, data.draw(st.binary(max_size=8 * 32))),
        (data.draw(st.sampled_from(odd)), index, size, path),
        (leaf, data.draw(st.sampled_from(odd)), size, path),
        (leaf, index, data.draw(st.sampled_from(odd)), path),
        (leaf, index, size, bytearray(path)),
        (leaf, 2**62, 2**63 - 1, bytes(32 * 62)),
    ]
    for case in cases:
        same("inclusion_root", native, *case)
