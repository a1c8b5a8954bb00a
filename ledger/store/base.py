"""The storage interface behind the log: ordered entry bytes, their leaf hashes, signed checkpoints.

A store knows nothing of Merkle trees or signatures; it keeps rows durable and atomic. `commit`
writes a batch of entries and, optionally, the checkpoint covering them in one atomic, durable
transaction: when it returns, everything in it survives a crash, and nothing half-written does.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import NamedTuple, Protocol, runtime_checkable

__all__ = ["Row", "Store", "StoreError", "StoredCheckpoint"]


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


@runtime_checkable
class Store(Protocol):
    """What the log needs from storage (SQLite embedded; PostgreSQL for large operators)."""

    def size(self) -> int:
        """Number of stored entries."""
        ...

    def commit(self, rows: Sequence[Row], checkpoints: Sequence[StoredCheckpoint] = ()) -> None:
        """Append rows (and checkpoints) atomically and durably."""
        ...

    def rows(self, start: int = 0, end: int | None = None) -> Iterator[Row]:
        """Rows with start <= seq < end, in seq order."""
        ...

    def leaf_hashes(self) -> Iterator[bytes]:
        """Every stored leaf hash, in seq order (to rebuild the tree on open)."""
        ...

    def checkpoints(self) -> list[StoredCheckpoint]:
        """Every stored checkpoint, by increasing size."""
        ...

    def get_meta(self, key: str) -> str | None: ...

    def set_meta(self, key: str, value: str) -> None: ...

    def quarantine(self, start: int, reason: str) -> int:
        """Move rows with seq >= start aside (never deleted); return how many were moved."""
        ...

    def close(self) -> None: ...
