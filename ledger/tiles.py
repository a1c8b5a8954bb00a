"""Hash tiles (C2SP tlog-tiles, height 8) as the store keeps them: their geometry, hashing, and how to build them.

The tile at level L, index N holds the hashes of the complete aligned subtrees of 256**L leaves
numbered 256·N … 256·N+255, joined (level 0: the leaf hashes themselves). A tree of `size` leaves
has `size >> 8L` hashes at level L: full tiles of 256, then a partial tile of `(size >> 8L) % 256`
at the right edge (none if that is 0). The store keeps the tiles of levels >= 1 (`Store.tiles`);
level 0 is the entries' `leaf` column.

This module is what the stored tree (`ledger.stored_tree`), the upgrade of an older store and the
audit share: `read_edge` (do a store's tiles cover its entries, and what is at their right edge),
`TileBuilder` (every tile of a stream of leaf hashes, O(log n) memory) and `build_tiles` (write the
tiles of a store that has none, in chunks).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

from ._accel import kernels
from .store.base import TILE_HEIGHT, TILE_WIDTH, Store, StoreError, Tile

__all__ = [
    "HASH_SIZE",
    "TILE_BYTES",
    "TILE_HEIGHT",
    "TILE_WIDTH",
    "Edge",
    "TileBuilder",
    "build_tiles",
    "hash_up",
    "read_edge",
    "tile_root",
]

HASH_SIZE = 32
TILE_BYTES = TILE_WIDTH * HASH_SIZE  # a full tile: 8,192 bytes
UPGRADE_WINDOW = 65536  # leaf hashes read per query while building the tiles of an older store
UPGRADE_BATCH = 512  # tiles (up to 4 MiB) written per commit while building them
_hash_pairs = kernels.hash_pairs


def hash_up(hashes: bytes | bytearray, rounds: int) -> bytes:
    """Hash adjacent pairs `rounds` times: 2**rounds·k joined hashes become the k subtree hashes above them."""
    out = bytes(hashes)
    for _ in range(rounds):
        out = _hash_pairs(out, 0, len(out))
    return out


def tile_root(tile: bytes | bytearray) -> bytes:
    """The hash of the subtree a full tile spans: its one hash at the level above."""
    return hash_up(tile, TILE_HEIGHT)


class Edge(NamedTuple):
    """What `read_edge` found: the partial tile of every level (0 first, empty there), and two verdicts."""

    partials: list[bytearray]  # partials[L]: the first (size >> 8L) % 256 hashes of the edge tile at level L
    covered: bool  # the stored tiles hold every hash of levels >= 1 the tree of `size` has
    beyond: bool  # some stored tile holds a hash of a subtree reaching past `size` (to be cut)


def read_edge(store: Store, size: int) -> Edge:
    """The right edge of the stored tiles for a tree of `size` leaves: a few queries, one or two per level.

    Tiles are written in the same transaction as the entries that complete them, and the upgrade of an
    older store writes the edge last, so a store whose edge tiles are all there has every tile: only the
    edge needs reading to know that the tiles cover the entries (`covered`). A stored edge tile narrower
    than the tree needs (entries appended by an older version, or an upgrade cut short) or one that is
    not whole hashes leaves the store uncovered; its tiles are then rebuilt from the leaf hashes.
    """
    partials = [bytearray()]
    covered = True
    beyond = False
    level = 1
    while level < 64:
        count = size >> (TILE_HEIGHT * level)  # hashes at this level
        edge_idx, width = divmod(count, TILE_WIDTH)
        edge = b""
        for tile in store.tiles(level, edge_idx):  # the partial edge tile, and anything stored past it
            if tile.idx == edge_idx and width:
                edge = tile.hashes
                if len(edge) > width * HASH_SIZE:
                    beyond = True
            else:
                beyond = True
        if count == 0:
            if not beyond:
                break  # nothing at this level, hence nothing above it
        elif width:
            if len(edge) < width * HASH_SIZE or len(edge) % HASH_SIZE:
                covered = False
            partials.append(bytearray(edge[: width * HASH_SIZE]))
        else:
            # No partial tile here: the last full one must be stored (the level above holds its hash).
            last = next(iter(store.tiles(level, edge_idx - 1, edge_idx)), None)
            if last is None or len(last.hashes) != TILE_BYTES:
                covered = False
            partials.append(bytearray())
        level += 1
    return Edge(partials, covered, beyond)


class TileBuilder:
    """Every tile of a stream of leaf hashes, as they complete: `add` leaves, take `full` tiles, then `edge`.

    Keeps only the partial tile of each level (O(log n) memory) and the full tiles not yet taken.
    Level-0 tiles are not kept (they are the entries' leaf column).
    """

    def __init__(self) -> None:
        self.size = 0
        self._partials: list[bytearray] = [bytearray()]
        self.full: list[Tile] = []  # completed tiles of levels >= 1 not yet taken (the caller empties it)

    def add(self, leaves: bytes) -> None:
        """Append leaf hashes, joined (32 bytes each)."""
        if len(leaves) % HASH_SIZE:
            raise ValueError(f"leaf hashes must be {HASH_SIZE} bytes each")
        at = 0
        while at < len(leaves):
            level0 = self._partials[0]
            take = min(TILE_BYTES - len(level0), len(leaves) - at)
            level0 += leaves[at : at + take]
            at += take
            self.size += take // HASH_SIZE
            if len(level0) == TILE_BYTES:
                self._complete(0)

    def _complete(self, level: int) -> None:
        """The partial tile of `level` just became full: its hash goes up a level (and so on, while full)."""
        partials = self._partials
        while len(partials[level]) == TILE_BYTES:
            tile = bytes(partials[level])
            partials[level] = bytearray()
            if level:
                idx = (self.size >> (TILE_HEIGHT * level)) // TILE_WIDTH - 1
                self.full.append(Tile(level, idx, tile))
            level += 1
            if level == len(partials):
                partials.append(bytearray())
            partials[level] += tile_root(tile)

    def edge(self) -> list[Tile]:
        """The partial tiles of levels >= 1 (those with at least one hash), lowest level first."""
        out = []
        for level in range(1, len(self._partials)):
            hashes = self._partials[level]
            if hashes:
                idx = (self.size >> (TILE_HEIGHT * level)) // TILE_WIDTH
                out.append(Tile(level, idx, bytes(hashes)))
        return out


def _stored_leaves(store: Store, size: int) -> Iterator[tuple[int, bytes]]:
    """(start, joined leaf hashes) windows of entries 0 … size-1, stopping before the first missing entry."""
    at = 0
    while at < size:
        end = min(at + UPGRADE_WINDOW, size)
        leaves = store.leaves(at, end)
        if len(leaves) != end - at or any(len(leaf) != HASH_SIZE for leaf in leaves):
            # A missing entry (a gap), or a leaf hash that is not one: keep what comes before it.
            seqs = [row.seq for row in store.rows(at, end)]
            good = 0
            while good < len(seqs) and seqs[good] == at + good and len(leaves[good]) == HASH_SIZE:
                good += 1
            if good:
                yield at, b"".join(leaves[:good])
            return
        yield at, b"".join(leaves)
        at = end


def build_tiles(store: Store, size: int) -> int:
    """Write every tile of the first `size` entries of a store whose tiles do not cover them (an older one).

    Streams the stored leaf hashes once and writes the full tiles in chunks as they complete, the partial
    edge tiles last (so that `read_edge` finds the store covered only once everything is written: an
    upgrade cut short is done again), then cuts any stored hash past the tree. Stops before a missing
    entry or a malformed leaf hash; returns how many entries the tiles cover (`size`, unless one was).
    """
    builder = TileBuilder()
    for _, leaves in _stored_leaves(store, size):
        builder.add(leaves)
        while len(builder.full) >= UPGRADE_BATCH:
            store.commit([], (), builder.full[:UPGRADE_BATCH])
            del builder.full[:UPGRADE_BATCH]
    store.commit([], (), [*builder.full, *builder.edge()])
    builder.full.clear()
    store.cut_tiles(builder.size)
    if not read_edge(store, builder.size).covered:  # only a store that does not keep what it is given
        raise StoreError(f"the tiles just written for {builder.size} entries do not read back")
    return builder.size
