"""RFC 6962/9162 trees and proofs: the public vectors, a naive reference implementation, and proof mutations."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger import EMPTY_ROOT, MerkleTree, ProofError, leaf_hash, node_hash, verify_consistency, verify_inclusion
from ledger.merkle import root_from_inclusion_proof

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
VECTORS = SHARED / "testvectors" / "merkle"
MISSING = f"{VECTORS} is absent: the public Merkle vectors live in shared/, beside the checkout"

SETTINGS = settings(max_examples=60, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# -- the public vectors (transparency-dev/merkle) ------------------------------------------------------


def vector_params(kind: str) -> list[Any]:
    files = sorted((VECTORS / kind).glob("**/*.json"))
    if not files:
        return [pytest.param(None, marks=pytest.mark.skip(reason=MISSING), id="vectors-absent")]
    return [pytest.param(f, id=str(f.relative_to(VECTORS / kind))) for f in files]


def b64(text: str) -> bytes:
    return base64.b64decode(text)


def test_every_vector_is_found() -> None:
    if not VECTORS.is_dir():
        pytest.skip(MISSING)
    assert len(list((VECTORS / "inclusion").glob("**/*.json"))) == 98
    assert len(list((VECTORS / "consistency").glob("**/*.json"))) == 98


@pytest.mark.parametrize("path", vector_params("inclusion"))
def test_inclusion_vector(path: Path) -> None:
    v = json.loads(path.read_text())
    proof = [b64(h) for h in v["proof"] or []]
    args = (b64(v["leafHash"]), v["leafIdx"], v["treeSize"], proof, b64(v["root"]))
    if v["wantErr"]:
        with pytest.raises(ProofError):
            verify_inclusion(*args)
    else:
        verify_inclusion(*args)


@pytest.mark.parametrize("path", vector_params("consistency"))
def test_consistency_vector(path: Path) -> None:
    v = json.loads(path.read_text())
    proof = [b64(h) for h in v["proof"] or []]
    args = (v["size1"], v["size2"], proof, b64(v["root1"]), b64(v["root2"]))
    if v["wantErr"]:
        with pytest.raises(ProofError):
            verify_consistency(*args)
    else:
        verify_consistency(*args)


# -- a naive recursive reference, straight from RFC 6962 section 2.1 (hashlib only) -------------------


def ref_mth(data: list[bytes]) -> bytes:
    """MTH(D[n])."""
    n = len(data)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + data[0]).digest()
    k = 1 << ((n - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + ref_mth(data[:k]) + ref_mth(data[k:])).digest()


def ref_path(m: int, data: list[bytes]) -> list[bytes]:
    """PATH(m, D[n])."""
    n = len(data)
    if n == 1:
        return []
    k = 1 << ((n - 1).bit_length() - 1)
    if m < k:
        return [*ref_path(m, data[:k]), ref_mth(data[k:])]
    return [*ref_path(m - k, data[k:]), ref_mth(data[:k])]


def ref_subproof(m: int, data: list[bytes], complete: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b)."""
    n = len(data)
    if m == n:
        return [] if complete else [ref_mth(data)]
    k = 1 << ((n - 1).bit_length() - 1)
    if m <= k:
        return [*ref_subproof(m, data[:k], complete), ref_mth(data[k:])]
    return [*ref_subproof(m - k, data[k:], False), ref_mth(data[:k])]


def ref_consistency(m: int, data: list[bytes]) -> list[bytes]:
    """PROOF(m, D[n])."""
    return ref_subproof(m, data, True)


@st.composite
def trees(draw: st.DrawFn, max_size: int = 150) -> tuple[list[bytes], MerkleTree]:
    n = draw(st.integers(1, max_size))
    salt = draw(st.binary(max_size=4))
    data = [i.to_bytes(4, "big") + salt for i in range(n)]  # distinct leaves
    return data, MerkleTree(leaf_hash(d) for d in data)


def test_empty_tree() -> None:
    assert MerkleTree().root() == EMPTY_ROOT == hashlib.sha256(b"").digest()


def test_hash_functions_are_rfc6962() -> None:
    assert leaf_hash(b"") == bytes.fromhex("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")
    assert node_hash(b"a" * 32, b"b" * 32) == hashlib.sha256(b"\x01" + b"a" * 32 + b"b" * 32).digest()


@SETTINGS
@given(trees())
def test_roots_match_reference_at_every_size(case: tuple[list[bytes], MerkleTree]) -> None:
    data, tree = case
    for size in range(len(data) + 1):
        assert tree.root(size) == ref_mth(data[:size])


@SETTINGS
@given(trees(), st.data())
def test_subtree_hashes_are_the_roots_of_complete_aligned_ranges(
    case: tuple[list[bytes], MerkleTree], draw: st.DataObject
) -> None:
    """What a tlog hash tile serves: MTH of each complete subtree of 2^h leaves, at any earlier size,
    also for leaves appended one by one since the interior was last hashed."""
    data, tree = case
    late = [leaf_hash(i.to_bytes(2, "big") + b"late") for i in range(draw.draw(st.integers(0, 40)))]
    for leaf in late:
        tree.append(leaf)  # the interior levels are not hashed yet
    leaves = [leaf_hash(d) for d in data] + late
    size = draw.draw(st.integers(1, len(leaves)))
    height = draw.draw(st.integers(0, size.bit_length() - 1))
    complete = size >> height
    start = draw.draw(st.integers(0, complete - 1))
    count = draw.draw(st.integers(0, complete - start))
    span = 1 << height
    want = b"".join(ref_mth_hashes(leaves[k * span : (k + 1) * span]) for k in range(start, start + count))
    assert tree.subtree_hashes(height, start, count, size) == want
    with pytest.raises(ValueError, match="not all complete"):
        tree.subtree_hashes(height, start, complete - start + 1, size)


def ref_mth_hashes(leaf_hashes: list[bytes]) -> bytes:
    """MTH of a range given by its leaf hashes (RFC 6962 2.1)."""
    if len(leaf_hashes) == 1:
        return leaf_hashes[0]
    k = 1 << ((len(leaf_hashes) - 1).bit_length() - 1)
    return node_hash(ref_mth_hashes(leaf_hashes[:k]), ref_mth_hashes(leaf_hashes[k:]))


@SETTINGS
@given(trees(), st.data())
def test_inclusion_proofs_match_reference_and_verify(case: tuple[list[bytes], MerkleTree], draw: st.DataObject) -> None:
    data, tree = case
    size = draw.draw(st.integers(1, len(data)))
    index = draw.draw(st.integers(0, size - 1))
    proof = tree.inclusion_proof(index, size)
    assert proof == ref_path(index, data[:size])
    verify_inclusion(leaf_hash(data[index]), index, size, proof, ref_mth(data[:size]))


@SETTINGS
@given(trees(), st.data())
def test_consistency_proofs_match_reference_and_verify(
    case: tuple[list[bytes], MerkleTree], draw: st.DataObject
) -> None:
    data, tree = case
    new = draw.draw(st.integers(1, len(data)))
    old = draw.draw(st.integers(1, new))
    proof = tree.consistency_proof(old, new)
    assert proof == ref_consistency(old, data[:new])
    verify_consistency(old, new, proof, ref_mth(data[:old]), ref_mth(data[:new]))


def test_every_proof_of_small_trees() -> None:
    """Exhaustive for sizes up to 33: every index, every pair of sizes."""
    data = [bytes([i]) for i in range(33)]
    tree = MerkleTree(leaf_hash(d) for d in data)
    roots = [ref_mth(data[:n]) for n in range(34)]
    for n in range(1, 34):
        for i in range(n):
            verify_inclusion(leaf_hash(data[i]), i, n, tree.inclusion_proof(i, n), roots[n])
        for m in range(1, n + 1):
            verify_consistency(m, n, tree.consistency_proof(m, n), roots[m], roots[n])


def test_consistency_from_size_zero_is_an_error() -> None:
    tree = MerkleTree(leaf_hash(bytes([i])) for i in range(5))
    with pytest.raises(ValueError, match="size 0"):
        tree.consistency_proof(0, 5)
    with pytest.raises(ProofError, match="size 0"):
        verify_consistency(0, 5, [], EMPTY_ROOT, tree.root())
    with pytest.raises(ProofError, match="size 0"):
        verify_consistency(0, 0, [], EMPTY_ROOT, EMPTY_ROOT)


def test_tree_rejects_out_of_range_requests() -> None:
    tree = MerkleTree(leaf_hash(bytes([i])) for i in range(5))
    with pytest.raises(ValueError):
        tree.root(6)
    with pytest.raises(ValueError):
        tree.inclusion_proof(5, 5)
    with pytest.raises(ValueError):
        tree.consistency_proof(4, 6)
    with pytest.raises(ValueError):
        tree.consistency_proof(5, 4)
    with pytest.raises(IndexError):
        tree.leaf(5)


@SETTINGS
@given(st.lists(st.integers(0, 40), min_size=1, max_size=8))
def test_extend_equals_append(chunks: list[int]) -> None:
    appended, extended = MerkleTree(), MerkleTree()
    for i, size in enumerate(chunks):
        leaves = [leaf_hash(i.to_bytes(4, "big") + bytes([j])) for j in range(size)]
        for leaf in leaves:
            appended.append(leaf)
        extended.extend(leaves)
        assert extended.size == appended.size
        assert extended.root() == appended.root()
    for size in range(appended.size + 1):
        assert extended.root(size) == appended.root(size)


@SETTINGS
@given(trees(), st.data())
def test_truncate_then_regrow(case: tuple[list[bytes], MerkleTree], draw: st.DataObject) -> None:
    data, tree = case
    cut = draw.draw(st.integers(0, len(data)))
    tree.truncate(cut)
    assert tree.size == cut and tree.root() == ref_mth(data[:cut])
    tree.extend(leaf_hash(d) for d in data[cut:])
    assert tree.root() == ref_mth(data)


# -- mutations: every change to a proof makes it fail -------------------------------------------------


def flip(proof: list[bytes], which: int, bit: int) -> list[bytes]:
    out = list(proof)
    h = bytearray(out[which])
    h[bit // 8] ^= 1 << (bit % 8)
    out[which] = bytes(h)
    return out


def fails(fn: Any, *args: Any) -> bool:
    try:
        fn(*args)
    except ProofError:
        return True
    return False


@SETTINGS
@given(trees(), st.data())
def test_mutated_inclusion_proofs_fail(case: tuple[list[bytes], MerkleTree], draw: st.DataObject) -> None:
    data, tree = case
    size = draw.draw(st.integers(1, len(data)))
    index = draw.draw(st.integers(0, size - 1))
    leaf, root = leaf_hash(data[index]), tree.root(size)
    proof = tree.inclusion_proof(index, size)
    verify_inclusion(leaf, index, size, proof, root)
    if proof:
        which = draw.draw(st.integers(0, len(proof) - 1))
        bit = draw.draw(st.integers(0, 255))
        assert fails(verify_inclusion, leaf, index, size, flip(proof, which, bit), root), "flipped bit"
        drop = draw.draw(st.integers(0, len(proof) - 1))
        assert fails(verify_inclusion, leaf, index, size, proof[:drop] + proof[drop + 1 :], root), "dropped hash"
    extra = draw.draw(st.binary(min_size=32, max_size=32))
    at = draw.draw(st.integers(0, len(proof)))
    assert fails(verify_inclusion, leaf, index, size, [*proof[:at], extra, *proof[at:]], root), "added hash"
    other = draw.draw(st.integers(0, size + 2).filter(lambda i: i != index))
    assert fails(verify_inclusion, leaf, other, size, proof, root), "changed index"
    # A proof does not bind the size by itself: the signed checkpoint binds size and root together,
    # so a changed size is checked against the genuine root of that size.
    if len(data) > 1:
        new_size = draw.draw(st.integers(1, len(data)).filter(lambda n: n != size))
        assert fails(verify_inclusion, leaf, index, new_size, proof, tree.root(new_size)), "changed size"
    assert fails(verify_inclusion, leaf_hash(data[index] + b"!"), index, size, proof, root), "changed leaf"
    assert fails(verify_inclusion, leaf, index, size, proof, node_hash(root, root)), "changed root"


@SETTINGS
@given(trees(), st.data())
def test_mutated_consistency_proofs_fail(case: tuple[list[bytes], MerkleTree], draw: st.DataObject) -> None:
    data, tree = case
    new = draw.draw(st.integers(1, len(data)))
    old = draw.draw(st.integers(1, new))
    roots = [tree.root(n) for n in range(len(data) + 1)]
    proof = tree.consistency_proof(old, new)
    verify_consistency(old, new, proof, roots[old], roots[new])
    if proof:
        which = draw.draw(st.integers(0, len(proof) - 1))
        bit = draw.draw(st.integers(0, 255))
        assert fails(verify_consistency, old, new, flip(proof, which, bit), roots[old], roots[new]), "flipped bit"
        drop = draw.draw(st.integers(0, len(proof) - 1))
        shorter = proof[:drop] + proof[drop + 1 :]
        assert fails(verify_consistency, old, new, shorter, roots[old], roots[new]), "dropped hash"
    extra = draw.draw(st.binary(min_size=32, max_size=32))
    at = draw.draw(st.integers(0, len(proof)))
    longer = [*proof[:at], extra, *proof[at:]]
    assert fails(verify_consistency, old, new, longer, roots[old], roots[new]), "added hash"
    old2 = draw.draw(st.integers(0, new + 2).filter(lambda m: m != old))
    root1 = roots[old2] if old2 <= len(data) else roots[old]
    assert fails(verify_consistency, old2, new, proof, root1, roots[new]), "changed old size"
    new2 = draw.draw(st.integers(0, len(data)).filter(lambda n: n != new))
    assert fails(verify_consistency, old, new2, proof, roots[old], roots[new2]), "changed new size"
    if old != new:
        assert fails(verify_consistency, old, new, proof, roots[new], roots[old]), "swapped roots"


def test_root_from_inclusion_proof_rejects_malformed_input() -> None:
    leaf = leaf_hash(b"x")
    with pytest.raises(ProofError, match="not below"):
        root_from_inclusion_proof(leaf, 1, 1, [])
    with pytest.raises(ProofError, match="negative"):
        root_from_inclusion_proof(leaf, -1, 1, [])
    with pytest.raises(ProofError, match="31 bytes"):
        root_from_inclusion_proof(leaf[:31], 0, 1, [])
    with pytest.raises(ProofError, match="hash 0 is 33 bytes"):
        root_from_inclusion_proof(leaf, 0, 2, [leaf + b"!"])
    assert root_from_inclusion_proof(leaf, 0, 1, []) == leaf
