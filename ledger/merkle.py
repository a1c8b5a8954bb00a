"""RFC 6962 / RFC 9162 Merkle tree hashing, proofs, and their verification (SHA-256).

`MerkleTree` keeps every complete, aligned subtree hash (2n hashes for n leaves, in flat
bytearrays), so appending is amortised O(1) and the root, inclusion proof and consistency proof
of any earlier size are O(log n) without rebuilding anything. Appending only records the leaf:
the interior hashes are computed in one batch when a root or a proof next needs them (each node
is still hashed exactly once). The verification functions are pure and follow RFC 9162 sections
2.1.3.2 and 2.1.4.2 step by step.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

from ._accel import kernels

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "MerkleTree",
    "ProofError",
    "inclusion_root",
    "leaf_hash",
    "node_hash",
    "root_from_inclusion_proof",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
_sha256 = hashlib.sha256
EMPTY_ROOT = _sha256(b"").digest()


class ProofError(ValueError):
    """A proof is malformed or does not verify; the message says which check failed."""


def leaf_hash(data: bytes) -> bytes:
    """RFC 6962 leaf hash: SHA-256(0x00 ‖ data)."""
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 interior node hash: SHA-256(0x01 ‖ left ‖ right)."""
    return _sha256(b"\x01" + left + right).digest()


_hash_pairs = kernels.hash_pairs
# The root an RFC 9162 inclusion path (its 32-byte hashes joined) leads to from `leaf` at `index` in a
# tree of `size`; None for anything malformed: an index outside the tree, a leaf or path not made of
# whole hashes, a path too long or too short (`root_from_inclusion_proof` says which).
inclusion_root = kernels.inclusion_root


def split_size(n: int) -> int:
    """The largest power of two strictly smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def inclusion_path(subtree_hash: Callable[[int, int], bytes], index: int, size: int) -> list[bytes]:
    """RFC 6962 PATH(index, D[0:size]) from `subtree_hash(lo, hi)` = MTH(D[lo:hi]) (arguments checked)."""
    path: list[bytes] = []
    lo, hi, m = 0, size, index
    while hi - lo > 1:
        k = split_size(hi - lo)
        if m < k:
            path.append(subtree_hash(lo + k, hi))
            hi = lo + k
        else:
            path.append(subtree_hash(lo, lo + k))
            lo, m = lo + k, m - k
    path.reverse()
    return path


def consistency_path(subtree_hash: Callable[[int, int], bytes], old_size: int, new_size: int) -> list[bytes]:
    """RFC 6962 PROOF(old_size, D[0:new_size]) from `subtree_hash(lo, hi)` (arguments checked: 0 < old <= new)."""
    path: list[bytes] = []
    lo, hi, m, complete = 0, new_size, old_size, True
    while True:
        n = hi - lo
        if m == n:
            if not complete:
                path.append(subtree_hash(lo, hi))
            break
        k = split_size(n)
        if m <= k:
            path.append(subtree_hash(lo + k, hi))
            hi = lo + k
        else:
            path.append(subtree_hash(lo, lo + k))
            lo, m, complete = lo + k, m - k, False
    path.reverse()
    return path


class MerkleTree:
    """An append-only Merkle tree over leaf hashes that can answer for any earlier size."""

    __slots__ = ("_built", "_levels", "_size")

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        self._levels: list[bytearray] = [bytearray()]
        self._size = 0
        self._built = 0  # the interior levels are complete for this many leaves
        self.extend(leaf_hashes)

    @property
    def size(self) -> int:
        """Number of leaves."""
        return self._size

    def __len__(self) -> int:
        return self._size

    def append(self, leaf: bytes) -> int:
        """Append one leaf hash; return its index (its parents are hashed when next needed)."""
        index = self._size
        self._levels[0] += leaf
        self._size = index + 1
        return index

    def extend(self, leaves: Iterable[bytes]) -> None:
        """Append many leaf hashes at once (the same tree as appending them one by one)."""
        levels = self._levels
        added = b"".join(leaves)
        if len(added) % HASH_SIZE:
            raise ValueError(f"leaf hashes must be {HASH_SIZE} bytes each")
        levels[0] += added
        self._size = len(levels[0]) // HASH_SIZE
        self._build()

    def extend_joined(self, leaves: bytes) -> None:
        """`extend` for leaf hashes already joined into one bytes object (32 bytes each)."""
        if len(leaves) % HASH_SIZE:
            raise ValueError(f"leaf hashes must be {HASH_SIZE} bytes each")
        level = self._levels[0]
        level += leaves
        self._size = len(level) // HASH_SIZE
        self._build()

    def _build(self) -> None:
        """Hash every complete, aligned subtree not hashed yet, level by level (one list per level).

        Only the thread that appends needs to call this: a reader asking about a size that has
        been built (a signed checkpoint's, say) reads the levels and changes nothing.
        """
        levels = self._levels
        size = self._size
        k = 0
        while size >> (k + 1):
            if k + 1 == len(levels):
                levels.append(bytearray())
            below, above = levels[k], levels[k + 1]
            start, stop = len(above) * 2, (size >> (k + 1)) * 2 * HASH_SIZE
            if start >= stop:
                break  # no new node at this level, hence none above it
            above += _hash_pairs(below, start, stop)
            k += 1
        self._built = size

    def leaf(self, index: int) -> bytes:
        """The leaf hash at index."""
        if not 0 <= index < self._size:
            raise IndexError(f"leaf index {index} out of range for tree size {self._size}")
        return bytes(self._levels[0][index * HASH_SIZE : (index + 1) * HASH_SIZE])

    def truncate(self, size: int) -> None:
        """Drop every leaf at index >= size (used only to cut a torn, never-acknowledged tail)."""
        if not 0 <= size <= self._size:
            raise ValueError(f"cannot truncate a tree of size {self._size} to {size}")
        for k, level in enumerate(self._levels):
            del level[(size >> k) * HASH_SIZE :]
        self._size = size
        self._built = min(self._built, size)

    def _hash(self, lo: int, hi: int) -> bytes:
        """MTH(D[lo:hi]) for a range the RFC 6962 recursion produces."""
        n = hi - lo
        if n & (n - 1) == 0 and lo % n == 0:
            k = n.bit_length() - 1
            o = (lo >> k) * HASH_SIZE
            return bytes(self._levels[k][o : o + HASH_SIZE])
        k = split_size(n)
        return node_hash(self._hash(lo, lo + k), self._hash(lo + k, hi))

    def _check_size(self, size: int | None) -> int:
        """Validate a size (None: the current one) and make sure the levels cover it."""
        if size is None:
            size = self._size
        elif not 0 <= size <= self._size:
            raise ValueError(f"tree size {size} out of range (the tree has {self._size} leaves)")
        if size > self._built:
            self._build()
        return size

    def subtree_hashes(self, height: int, start: int, count: int, size: int | None = None) -> bytes:
        """The hashes of the complete, aligned subtrees of 2**height leaves numbered start … start+count−1
        in the tree of `size` leaves (default: the current size), joined: what a tlog hash tile holds."""
        size = self._check_size(size)
        if height < 0 or start < 0 or count < 0 or (start + count) << height > size:
            last = start + count - 1
            raise ValueError(f"subtrees {start}…{last} of 2^{height} leaves are not all complete in a tree of {size}")
        if count == 0:
            return b""
        return bytes(self._levels[height][start * HASH_SIZE : (start + count) * HASH_SIZE])

    def root(self, size: int | None = None) -> bytes:
        """The tree head (root hash) at the given size (default: current size).

        The tree of `size` leaves is its complete aligned subtrees, one per set bit of `size`, largest
        first; RFC 6962's recursion hashes them together from the right. Each is already in the levels,
        so the root is a loop over those bits (what `_hash(0, size)` computes, without its recursion).
        """
        size = self._check_size(size)
        if size == 0:
            return EMPTY_ROOT
        levels = self._levels
        k = (size & -size).bit_length() - 1  # the smallest subtree, rightmost: 2**k leaves
        o = ((size >> k) - 1) * HASH_SIZE
        acc = bytes(levels[k][o : o + HASH_SIZE])
        rest = size >> (k + 1)
        while rest:
            k += 1
            if rest & 1:  # a larger subtree to the left of those folded so far
                o = ((size >> k) - 1) * HASH_SIZE
                acc = node_hash(bytes(levels[k][o : o + HASH_SIZE]), acc)
            rest >>= 1
        return acc

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """RFC 6962 PATH(index, D[0:size]): sibling hashes from the leaf up to the root."""
        size = self._check_size(size)
        if not 0 <= index < size:
            raise ValueError(f"leaf index {index} is not in a tree of size {size}")
        return inclusion_path(self._hash, index, size)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """RFC 6962 PROOF(old_size, D[0:new_size]); a proof from size 0 is an error."""
        new_size = self._check_size(new_size)
        if old_size <= 0:
            raise ValueError("a consistency proof from size 0 is undefined (every tree extends the empty one)")
        if old_size > new_size:
            raise ValueError(f"old size {old_size} is larger than new size {new_size}")
        return consistency_path(self._hash, old_size, new_size)


_is_hash_size = HASH_SIZE.__eq__


def _check_hashes(proof: Sequence[bytes], what: str) -> None:
    if all(map(_is_hash_size, map(len, proof))):  # the common case: every hash the right length
        return
    for i, h in enumerate(proof):
        if len(h) != HASH_SIZE:
            raise ProofError(f"{what} hash {i} is {len(h)} bytes, not {HASH_SIZE}")


def _path_length(index: int, size: int) -> int:
    """How many hashes the inclusion path of `index` in a tree of `size` has (the loop above, unhashed)."""
    fn, sn, n = index, size - 1, 0
    while sn:
        if fn & 1 or fn == sn:
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        fn >>= 1
        sn >>= 1
        n += 1
    return n


def root_from_inclusion_proof(leaf: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    """Recompute the root an inclusion proof commits to (RFC 9162 2.1.3.2)."""
    if index < 0 or size < 0:
        raise ProofError("index and size must not be negative")
    if index >= size:
        raise ProofError(f"index {index} is not below tree size {size}")
    if len(leaf) != HASH_SIZE:
        raise ProofError(f"leaf hash is {len(leaf)} bytes, not {HASH_SIZE}")
    _check_hashes(proof, "inclusion proof")
    root = inclusion_root(leaf, index, size, b"".join(proof))
    if root is not None:
        return root
    if len(proof) > _path_length(index, size):
        raise ProofError("inclusion proof is longer than the tree is deep")
    raise ProofError("inclusion proof is shorter than the tree is deep")


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> None:
    """Check that leaf is at index in the tree of the given size and root; raise ProofError if not."""
    if root_from_inclusion_proof(leaf, index, size, proof) != root:
        raise ProofError("inclusion proof does not lead to the expected root")


def verify_consistency(size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes) -> None:
    """Check that the tree (size2, root2) extends (size1, root1) (RFC 9162 2.1.4.2)."""
    if size1 < 0 or size2 < 0:
        raise ProofError("sizes must not be negative")
    if size1 > size2:
        raise ProofError(f"old size {size1} is larger than new size {size2}")
    if size1 == 0:
        raise ProofError("a consistency proof from size 0 is undefined")
    if size1 == size2:
        if proof:
            raise ProofError("sizes are equal but the proof is not empty")
        if root1 != root2:
            raise ProofError("sizes are equal but the roots differ")
        return
    if not proof:
        raise ProofError("consistency proof is empty")
    _check_hashes(proof, "consistency proof")
    path = list(proof)
    if size1 & (size1 - 1) == 0:
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is longer than needed")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("consistency proof is shorter than needed")
    if fr != root1:
        raise ProofError("consistency proof does not lead to the old root")
    if sr != root2:
        raise ProofError("consistency proof does not lead to the new root")
