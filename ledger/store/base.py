"""The storage interface behind the log: ordered entry bytes, their leaf hashes, signed checkpoints, tiles.

A store knows nothing of Merkle trees or signatures; it keeps rows durable and atomic. `commit`
writes a batch of entries and, optionally, the checkpoint covering them and the hash tiles they
complete in one atomic, durable transaction: when it returns, everything in it survives a crash,
and nothing half-written does.

Tiles (C2SP tlog-tiles, height 8) are the log's Merkle tree kept in storage so that opening the log
need not rehash every entry: the tile at level L ≥ 1, index N holds the hashes of the complete
aligned subtrees of 256**L leaves numbered 256·N … 256·N+255 (fewer in the partial tile at the
right edge, which is rewritten as it grows). Level 0 is the entries' own `leaf` column. The store
only keeps them; `ledger.stored_tree` computes and reads them, and an audit recomputes them.

A store also keeps a few snapshots for its user (the market engine's state at some ledger size):
opaque blobs beside the ledger, not part of it (not signed, not chained, not audited); losing one
costs only the replay it would have saved.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import NamedTuple, Protocol, runtime_checkable

__all__ = [
    "TILE_HEIGHT",
    "TILE_WIDTH",
    "Row",
    "Store",
    "StoreError",
    "StoredCheckpoint",
    "Tile",
    "check_snapshot_args",
    "hashes_at_level",
]

TILE_HEIGHT = 8  # levels of the tree per tile: a tile's hashes are 2**8 = 256 subtrees wide
TILE_WIDTH = 1 << TILE_HEIGHT


class StoreError(RuntimeError):
    """The store cannot be opened or written; the message says why."""


class Row(NamedTuple):
    """One stored entry: its index, its canonical bytes and its leaf hash."""

    seq: int
    data: bytes
    leaf: bytes


class StoredCheckpoint(NamedTuple):
    """A signed checkpoint note as stored, with the tree size it covers."""

    size: int
    note: str


class Tile(NamedTuple):
    """A stored hash tile: `level` >= 1, index `idx`, and its (1 to 256) 32-byte hashes joined."""

    level: int
    idx: int
    hashes: bytes


def hashes_at_level(size: int, level: int) -> int:
    """How many hashes tile level `level` has in a tree of `size` leaves: its complete subtrees of 256**level leaves."""
    return size >> (TILE_HEIGHT * level)


def check_snapshot_args(size: int, root: bytes, data: bytes, keep: int, lots: Sequence[tuple[str, bytes]] = ()) -> None:
    """Refuse arguments of `put_snapshot` that no store could keep meaningfully (ValueError, nothing written)."""
    if type(size) is not int or size < 0:
        raise ValueError(f"a snapshot's size must be a non-negative integer, not {size!r}")
    if not isinstance(root, bytes) or not isinstance(data, bytes):
        raise ValueError("a snapshot's root and data must be bytes")
    if type(keep) is not int or keep < 1:
        raise ValueError(f"keep must be a positive integer (the snapshot just put is one of them), not {keep!r}")
    seen: set[str] = set()
    for item in lots:
        if type(item) is not tuple or len(item) != 2 or type(item[0]) is not str or not isinstance(item[1], bytes):
            raise ValueError("each closed lot must be a (lot id, bytes) pair")
        if item[0] in seen:
            raise ValueError(f"closed lot {item[0]!r} is given twice")
        seen.add(item[0])


@runtime_checkable
class Store(Protocol):
    """What the log needs from storage (SQLite embedded; PostgreSQL for large operators)."""

    def size(self) -> int:
        """Number of stored entries."""
        ...

    def commit(
        self, rows: Sequence[Row], checkpoints: Sequence[StoredCheckpoint] = (), tiles: Sequence[Tile] = ()
    ) -> None:
        """Append rows (and checkpoints) and write tiles (replacing those of the same level and index),
        atomically and durably."""
        ...

    def rows(self, start: int = 0, end: int | None = None) -> Iterator[Row]:
        """Rows with start <= seq < end, in seq order."""
        ...

    def leaf_hashes(self) -> Iterator[bytes]:
        """Every stored leaf hash, in seq order (to rebuild the tree on open)."""
        ...

    def leaves(self, start: int, end: int) -> list[bytes]:
        """The stored leaf hashes of the entries with start <= seq < end, in seq order (without their bytes)."""
        ...

    def tiles(self, level: int, start: int = 0, end: int | None = None) -> Iterator[Tile]:
        """The stored tiles of `level` with start <= idx < end, by idx (none for a store that has none).

        The hashes are returned as stored, whatever their length: the reader checks them."""
        ...

    def cut_tiles(self, size: int) -> None:
        """Cut the stored tiles to a tree of `size` leaves: drop every hash of a subtree that reaches an
        entry at index >= size (a tile left empty is deleted), in one atomic step."""
        ...

    def checkpoints(self) -> list[StoredCheckpoint]:
        """Every stored checkpoint, by increasing size."""
        ...

    def get_meta(self, key: str) -> str | None: ...

    def set_meta(self, key: str, value: str) -> None: ...

    def quarantine(self, start: int, reason: str) -> int:
        """Move rows with seq >= start aside (never deleted); return how many were moved."""
        ...

    def put_snapshot(
        self, size: int, root: bytes, data: bytes, keep: int = 2, lots: Sequence[tuple[str, bytes]] = ()
    ) -> None:
        """Store an opaque snapshot blob taken at ledger size `size` with tree root `root`, atomically and durably;
        then keep only the `keep` newest (largest size) snapshots, deleting older ones.
        Replaces one of the same size. In the same transaction, store `lots`, (lot id, blob) pairs: closed
        lots as they stood at `size` (a new version of each), and delete the versions no kept snapshot needs
        (those older than a lot's newest version at or before the oldest kept snapshot)."""
        ...

    def closed_lot(self, lot: str, up_to: int) -> tuple[int, bytes] | None:
        """(size, blob) of the lot's newest version at or before ledger size `up_to`, or None."""
        ...

    def closed_lot_size(self, lot: str, up_to: int) -> int | None:
        """The size of the lot's newest version at or before `up_to`, or None."""
        ...

    def closed_lot_count(self, up_to: int) -> int:
        """How many distinct lots have a version at or before `up_to`."""
        ...

    def closed_lot_ids(self, up_to: int) -> Iterator[str]:
        """The ids of the lots with a version at or before `up_to`, in increasing order."""
        ...

    def closed_lots(self, up_to: int) -> Iterator[tuple[str, int, bytes]]:
        """(lot, size, blob) of each lot's newest version at or before `up_to`, by lot id."""
        ...

    def recent_closed_lots(self, up_to: int, limit: int) -> list[str]:
        """Up to `limit` lots whose newest versions at or before `up_to` are the latest written, newest first."""
        ...

    def snapshots(self) -> list[tuple[int, bytes]]:
        """(size, root) of every stored snapshot, by increasing size (empty for a store that has none)."""
        ...

    def get_snapshot(self, size: int) -> bytes | None:
        """The blob of the snapshot at `size`, or None."""
        ...

    def close(self) -> None: ...
