"""The right edge of an RFC 6962 Merkle tree over a stream of leaf hashes: O(log n) memory.

A tree of `size` leaves is its complete aligned subtrees, one per set bit of `size`, largest first.
`Frontier` keeps only those subtrees' hashes (a "compact range" from 0 to `size`: at most 64 hashes),
so it can give the root at the size it has reached, and nothing earlier. A reader that needs the root
at several sizes (the audit: every signed checkpoint's) feeds the leaves up to each size in turn and
asks then.

Appending hashes every new interior node exactly once, as `MerkleTree` does, and in the same batches:
the new nodes of one height are hashed in pairs by the byte kernel `hash_pairs` (`ledger._accel`), the
left sibling waiting at the edge (if any) joining the first pair. The complete nodes at every
`every`-th height (by default the tile heights 8, 16, …) can be handed, as they are made, to a callback
(the audit compares them with the stored hash tiles, `ledger.tiles`), so a whole tree of tiles is
checked without keeping it.
"""

from __future__ import annotations

from collections.abc import Callable

from ._accel import kernels
from .merkle import EMPTY_ROOT, HASH_SIZE, node_hash
from .store.base import TILE_HEIGHT

__all__ = ["Frontier", "NodeSink"]

_hash_pairs = kernels.hash_pairs
_PAIR = 2 * HASH_SIZE

# Called with (height, index of the first node, the new nodes' hashes joined) for the complete aligned
# subtrees of 2**height leaves that one `extend_joined` completed, in order (`height` a multiple of `every`).
NodeSink = Callable[[int, int, bytes], None]


class Frontier:
    """The compact range [0, size) of a Merkle tree: one subtree hash per set bit of `size`."""

    __slots__ = ("_every", "_nodes", "_sink", "_size")

    def __init__(self, sink: NodeSink | None = None, *, every: int = TILE_HEIGHT) -> None:
        if every < 1:
            raise ValueError("every must be at least 1")
        # _nodes[k]: the hash of the complete subtree of 2**k leaves at the right edge if bit k of the size
        # is set (the left half of a pair not yet complete), else b"".
        self._nodes: list[bytes] = []
        self._size = 0
        self._sink = sink
        self._every = every

    @property
    def size(self) -> int:
        """Number of leaves."""
        return self._size

    def __len__(self) -> int:
        return self._size

    def extend_joined(self, leaves: bytes | memoryview) -> None:
        """Append leaf hashes joined into one bytes-like object (32 bytes each; a memoryview is not copied)."""
        if len(leaves) % HASH_SIZE:
            raise ValueError(f"leaf hashes must be {HASH_SIZE} bytes each")
        if not leaves:
            return
        nodes, sink, every = self._nodes, self._sink, self._every
        size = self._size
        fresh = leaves  # the new nodes at height k, in order (the leaves, at k = 0)
        k = 0
        while True:
            have = size >> k  # nodes at height k before these
            if sink is not None and k and k % every == 0:
                sink(k, have, fresh)  # type: ignore[arg-type]  # bytes: made by hash_pairs (k >= 1)
            if k == len(nodes):
                nodes.append(b"")
            # An odd count before: the last of them waits at the edge for its right sibling, the first new one.
            row = nodes[k] + fresh if have & 1 else fresh
            pairs = len(row) - len(row) % _PAIR
            nodes[k] = bytes(row[pairs:])  # an odd count now: the last waits (b"" if the count is even)
            if not pairs:
                break  # no new node above this height, so nothing changes above it
            fresh = _hash_pairs(row, 0, pairs)
            k += 1
        self._size = size + len(leaves) // HASH_SIZE

    def append(self, leaf: bytes) -> None:
        """Append one leaf hash."""
        if len(leaf) != HASH_SIZE:
            raise ValueError(f"leaf hashes must be {HASH_SIZE} bytes each")
        self.extend_joined(leaf)

    def root(self) -> bytes:
        """The tree head at the current size: the edge's subtrees hashed together from the right (RFC 6962)."""
        acc = b""
        for h in self._nodes:  # the smallest subtree first: it is the rightmost
            if h:
                acc = node_hash(h, acc) if acc else h
        return acc or EMPTY_ROOT

    def edge(self) -> list[tuple[int, bytes]]:
        """The (height, hash) of each complete aligned subtree the tree of the current size is made of,
        largest (leftmost) first."""
        return [(k, h) for k, h in reversed(list(enumerate(self._nodes))) if h]
