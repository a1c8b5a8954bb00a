"""The log's Merkle tree kept in the store as hash tiles, with only its right edge in memory.

`MerkleTree` keeps every level of the tree in memory (64 bytes per entry, and a rehash of every
entry on open). `StoredTree` answers the same questions from the store's tiles (C2SP tlog-tiles,
`ledger.tiles`): in memory it keeps, per level, the partial tile at the right edge (at most 255
hashes: O(log n) in all), the full tiles completed by entries that are not yet durable (the store
does not have them yet), and a bounded LRU cache of tiles it has read. The node at height h, index i
is the hash of 2**(h % 8) consecutive hashes of one tile of level h // 8, hashed up h % 8 levels.

Appending is amortised O(1): a leaf joins the level-0 partial tile; only at a 256-entry boundary is
the full tile hashed into the level above. The tiles that the appended entries change are handed to
the commit that makes those entries durable (`pending_tiles`, `hand_off`), so the store writes them
in the same transaction. Opening reads only the edge: the stored partial tiles of levels >= 1 and
the <= 255 leaf hashes after the last full level-0 tile (`open_tree`).

Readers on other threads (a certificate issued on a worker thread while the event loop appends)
are safe: everything a read looks up in memory is looked up under one lock, which appending takes
only when it completes a tile; the store's tiles and entries below the durable size never change.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from ._accel import kernels
from .merkle import EMPTY_ROOT, MerkleTree, consistency_path, inclusion_path, node_hash, split_size
from .store.base import Store, StoreError, Tile
from .tiles import HASH_SIZE, TILE_BYTES, TILE_HEIGHT, TILE_WIDTH, build_tiles, hash_up, read_edge, tile_root

__all__ = ["CACHE_TILES", "StoredTree", "open_tree"]

CACHE_TILES = 256  # full tiles kept after reading them: at most 2 MiB of hashes
_hash_pairs = kernels.hash_pairs
_LAST_IN_TILE = TILE_BYTES - HASH_SIZE  # a level-0 partial tile this long is completed by the next leaf


def open_tree(store: Store, *, readonly: bool = False) -> StoredTree | MerkleTree:
    """The tree of the entries in `store`, from its tiles; a store whose tiles do not cover its entries
    (written before tiles existed) has them built first — or, read-only, gets an in-memory `MerkleTree`."""
    size = store.size()
    edge = read_edge(store, size)
    if not edge.covered:
        if readonly:
            return MerkleTree(store.leaf_hashes())
        size = build_tiles(store, size)
        edge = read_edge(store, size)
    elif edge.beyond and not readonly:
        store.cut_tiles(size)  # hashes past the entries (a tail cut behind the log's back): not ours to keep
    return StoredTree._opened(store, size, edge.partials, readonly=readonly)


class StoredTree:
    """An append-only Merkle tree over a store's tiles that can answer for any earlier size.

    The same interface, results and errors as `MerkleTree` (size, append, leaf, truncate, root,
    inclusion_proof, consistency_proof, subtree_hashes), plus the hand-off of tiles to commits.
    """

    __slots__ = ("_cache", "_durable", "_edges", "_fresh", "_handed", "_lock", "_size", "_store", "readonly")

    def __init__(self, store: Store, *, readonly: bool = False) -> None:
        """An empty tree over `store` (use `open_tree` for a store that has entries)."""
        self._store = store
        self.readonly = readonly
        self._size = 0
        self._edges: list[bytearray] = [bytearray()]  # _edges[L]: the partial tile of level L
        self._fresh: dict[tuple[int, int], bytes] = {}  # full tiles (any level) whose entries are not durable
        self._cache: OrderedDict[tuple[int, int], bytes] = OrderedDict()  # full tiles read, least recent first
        self._durable = 0  # the store has the tiles of this many entries
        self._handed = 0  # the tiles of this many entries have been handed to a commit
        self._lock = threading.Lock()

    @classmethod
    def _opened(cls, store: Store, size: int, partials: list[bytearray], *, readonly: bool) -> StoredTree:
        """The tree of `size` stored entries whose level >= 1 partial tiles are `partials` (from `read_edge`)."""
        tree = cls(store, readonly=readonly)
        first = size - size % TILE_WIDTH
        leaves = store.leaves(first, size) if size > first else []
        if len(leaves) != size - first or any(len(leaf) != HASH_SIZE for leaf in leaves):
            # A missing entry among the last ones (or a leaf that is not a hash): the tree ends before it,
            # and the log sets aside what follows (Log._repair_tail).
            seqs = [row.seq for row in store.rows(first, size)]
            good = 0
            while good < len(seqs) and seqs[good] == first + good and len(leaves[good]) == HASH_SIZE:
                good += 1
            leaves, size = leaves[:good], first + good
        tree._edges = [bytearray(b"".join(leaves)), *partials[1:]]
        tree._size = tree._durable = tree._handed = size
        return tree

    @property
    def size(self) -> int:
        """Number of leaves."""
        return self._size

    def __len__(self) -> int:
        return self._size

    # -- appending ------------------------------------------------------------------------------

    def append(self, leaf: bytes) -> int:
        """Append one leaf hash; return its index (a tile is hashed only when it is completed)."""
        if len(leaf) != HASH_SIZE:
            raise ValueError(f"leaf hashes must be {HASH_SIZE} bytes each")
        index = self._size
        edge = self._edges[0]
        if len(edge) != _LAST_IN_TILE:
            edge += leaf  # grown before the size is, so a reader of this size finds the leaf
            self._size = index + 1
            return index
        with self._lock:  # this leaf completes a tile: readers must see the tile move as one step
            edge += leaf
            self._size = index + 1
            self._complete()
        return index

    def _complete(self) -> None:
        """The level-0 partial tile is full: keep it until durable, hash it into level 1 (and so on up)."""
        edges, size = self._edges, self._size
        level = 0
        while len(edges[level]) == TILE_BYTES:
            tile = bytes(edges[level])
            idx = (size >> (TILE_HEIGHT * level)) // TILE_WIDTH - 1
            self._fresh[level, idx] = tile
            edges[level] = bytearray()
            level += 1
            if level == len(edges):
                edges.append(bytearray())
            edges[level] += tile_root(tile)

    def pending_tiles(self) -> list[Tile]:
        """The tiles of levels >= 1 changed by the entries appended since the last `hand_off`, as they are now.

        They go into the commit that makes those entries durable (a partial tile is written again as
        it grows; level 0 is the entries' own leaf column). Only at 256-entry boundaries are there any.
        """
        out: list[Tile] = []
        lo, hi = self._handed, self._size
        level = 1
        while True:
            shift = TILE_HEIGHT * level
            before, now = lo >> shift, hi >> shift
            if now == before:
                return out  # no new hash at this level, hence none above it
            for idx in range(before // TILE_WIDTH, (now - 1) // TILE_WIDTH + 1):
                if idx == now // TILE_WIDTH:
                    out.append(Tile(level, idx, bytes(self._edges[level])))
                else:
                    out.append(Tile(level, idx, self._fresh[level, idx]))
            level += 1

    def hand_off(self) -> None:
        """The tiles `pending_tiles` returned are in a commit (being written): the next ones start here."""
        self._handed = self._size

    def mark_durable(self, size: int) -> None:
        """The entries below `size` (and the tiles handed with them) are in the store: stop keeping their tiles."""
        if size <= self._durable:
            return
        with self._lock:
            self._durable = min(size, self._size)
            done = [key for key in self._fresh if (key[1] + 1) << (TILE_HEIGHT * (key[0] + 1)) <= self._durable]
            for key in done:
                self._remember(key, self._fresh.pop(key))

    # -- reading tiles --------------------------------------------------------------------------

    def _remember(self, key: tuple[int, int], tile: bytes) -> None:
        """Put a full tile in the LRU cache (the caller holds the lock)."""
        cache = self._cache
        cache[key] = tile
        cache.move_to_end(key)
        if len(cache) > CACHE_TILES:
            cache.popitem(last=False)

    def _in_memory(self, level: int, idx: int) -> bytes | None:
        """The tile (level, idx) at the current size if it is in memory: the partial edge (perhaps empty),
        a full tile not yet durable, or one in the cache; None if it must be read from the store."""
        key = (level, idx)
        with self._lock:
            if idx == (self._size >> (TILE_HEIGHT * level)) // TILE_WIDTH:
                return bytes(self._edges[level]) if level < len(self._edges) else b""
            tile = self._fresh.get(key)
            if tile is None:
                tile = self._cache.get(key)
                if tile is not None:
                    self._cache.move_to_end(key)
            return tile

    def _tile(self, level: int, idx: int) -> bytes:
        """The tile (level, idx) as it is at the current size: full, or the partial edge (perhaps empty)."""
        tile = self._in_memory(level, idx)
        if tile is None:
            tile = self._read(level, idx)  # a full tile below the durable size: it never changes
            with self._lock:
                self._remember((level, idx), tile)
        return tile

    def _read(self, level: int, idx: int) -> bytes:
        """A full tile from the store: level 0 from 256 entries' leaf hashes, others from the tiles."""
        if level == 0:
            start = idx * TILE_WIDTH
            leaves = self._store.leaves(start, start + TILE_WIDTH)
            tile = b"".join(leaves)
            if len(leaves) != TILE_WIDTH or len(tile) != TILE_BYTES:
                raise StoreError(
                    f"entries {start} to {start + TILE_WIDTH - 1}: {TILE_WIDTH - len(leaves)} missing or a leaf hash"
                    " is not 32 bytes; the ledger is damaged"
                )
            return tile
        found = next(iter(self._store.tiles(level, idx, idx + 1)), None)
        if found is None:
            raise StoreError(f"tile {level}/{idx} is missing from the store; the ledger is damaged")
        if len(found.hashes) != TILE_BYTES:
            raise StoreError(
                f"tile {level}/{idx} holds {len(found.hashes)} bytes, not the {TILE_BYTES} of a full tile;"
                " the ledger is damaged"
            )
        return found.hashes

    def _node(self, height: int, index: int) -> bytes:
        """The hash of the complete aligned subtree of 2**height leaves number `index` (inside the tree)."""
        level, rounds = divmod(height, TILE_HEIGHT)
        first = index << rounds  # the first of its 2**rounds hashes at height 8·level
        tile = self._tile(level, first // TILE_WIDTH)
        o = (first % TILE_WIDTH) * HASH_SIZE
        hashes = tile[o : o + (HASH_SIZE << rounds)]
        if len(hashes) != HASH_SIZE << rounds:  # a read past what the tile holds: not a node of this tree
            raise StoreError(f"tile {level}/{first // TILE_WIDTH} is shorter than the tree needs; damaged")
        return hash_up(hashes, rounds) if rounds else bytes(hashes)

    def _hash(self, lo: int, hi: int) -> bytes:
        """MTH(D[lo:hi]) for a range the RFC 6962 recursion produces."""
        n = hi - lo
        if n & (n - 1) == 0 and lo % n == 0:
            k = n.bit_length() - 1
            return self._node(k, lo >> k)
        k = split_size(n)
        return node_hash(self._hash(lo, lo + k), self._hash(lo + k, hi))

    # -- the MerkleTree interface ---------------------------------------------------------------

    def leaf(self, index: int) -> bytes:
        """The leaf hash at index."""
        if not 0 <= index < self._size:
            raise IndexError(f"leaf index {index} out of range for tree size {self._size}")
        o = (index % TILE_WIDTH) * HASH_SIZE
        tile = self._in_memory(0, index // TILE_WIDTH)
        if tile is None:
            try:
                tile = self._tile(0, index // TILE_WIDTH)
            except StoreError:
                # Its tile is not whole (an entry missing: a damaged store the log is repairing): this leaf alone.
                got = self._store.leaves(index, index + 1)
                if len(got) != 1 or len(got[0]) != HASH_SIZE:
                    raise StoreError(f"entry {index} is missing or its leaf hash is not 32 bytes; damaged") from None
                return got[0]
        return bytes(tile[o : o + HASH_SIZE])

    def truncate(self, size: int) -> None:
        """Drop every leaf at index >= size, and the stored tiles' hashes beyond it (only to cut a torn,
        never-acknowledged tail when the log is opened)."""
        if not 0 <= size <= self._size:
            raise ValueError(f"cannot truncate a tree of size {self._size} to {size}")
        if size == self._size:
            return
        edges: list[bytearray] = []
        level = 0
        while True:
            count = size >> (TILE_HEIGHT * level)
            width = count % TILE_WIDTH
            edges.append(bytearray(self._prefix(level, count // TILE_WIDTH, width)))
            if count < TILE_WIDTH:
                break
            level += 1
        with self._lock:
            self._size = size
            self._edges = edges
            self._durable = min(self._durable, size)
            self._handed = min(self._handed, size)
            for tiles in (self._fresh, self._cache):
                for key in [k for k in tiles if (k[1] + 1) << (TILE_HEIGHT * (k[0] + 1)) > size]:
                    del tiles[key]
        if not self.readonly:
            self._store.cut_tiles(size)

    def _prefix(self, level: int, idx: int, width: int) -> bytes:
        """The first `width` hashes of the tile (level, idx) (for `truncate`: level 0 from just those leaves,
        so that a missing entry after them, the reason for truncating, does not stand in the way)."""
        if width == 0:
            return b""
        tile = self._in_memory(level, idx)
        if tile is None and level == 0:
            start = idx * TILE_WIDTH
            tile = b"".join(self._store.leaves(start, start + width))
        elif tile is None:
            tile = self._tile(level, idx)
        if len(tile) < width * HASH_SIZE:
            raise StoreError(f"tile {level}/{idx} holds fewer hashes than the tree of this size needs; damaged")
        return tile[: width * HASH_SIZE]

    def _check_size(self, size: int | None) -> int:
        if size is None:
            return self._size
        if not 0 <= size <= self._size:
            raise ValueError(f"tree size {size} out of range (the tree has {self._size} leaves)")
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
        level, rounds = divmod(height, TILE_HEIGHT)
        lo, hi = start << rounds, (start + count) << rounds  # the hashes at height 8·level beneath them
        parts = []
        for idx in range(lo // TILE_WIDTH, (hi - 1) // TILE_WIDTH + 1):
            a = max(lo - idx * TILE_WIDTH, 0) * HASH_SIZE
            b = min(hi - idx * TILE_WIDTH, TILE_WIDTH) * HASH_SIZE
            part = self._tile(level, idx)[a:b]
            if len(part) != b - a:
                raise StoreError(f"tile {level}/{idx} is shorter than the tree needs; damaged")
            parts.append(part)
        return hash_up(b"".join(parts), rounds)

    def root(self, size: int | None = None) -> bytes:
        """The tree head (root hash) at the given size (default: current size): its complete aligned
        subtrees, one per set bit of `size`, hashed together from the right (as `MerkleTree.root`)."""
        size = self._check_size(size)
        if size == 0:
            return EMPTY_ROOT
        k = (size & -size).bit_length() - 1  # the smallest subtree, rightmost: 2**k leaves
        acc = self._node(k, (size >> k) - 1)
        rest = size >> (k + 1)
        while rest:
            k += 1
            if rest & 1:  # a larger subtree to the left of those folded so far
                acc = node_hash(self._node(k, (size >> k) - 1), acc)
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
