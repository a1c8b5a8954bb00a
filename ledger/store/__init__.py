"""Ledger storage: the interface, the in-memory store and the SQLite default."""

from __future__ import annotations

from .base import Row, Store, StoredCheckpoint, StoreError
from .memory import MemoryStore
from .sqlite import SQLiteStore

__all__ = ["MemoryStore", "Row", "SQLiteStore", "Store", "StoreError", "StoredCheckpoint", "open_store"]


def open_store(url: str, *, readonly: bool = False) -> Store:
    """Open a store from a path or URL: a file path or `sqlite:///path` (PostgreSQL URLs later)."""
    if url.startswith("sqlite:///"):
        url = url[len("sqlite:///") :]
    elif "://" in url:
        raise StoreError(f"unsupported ledger URL {url!r} (use a SQLite file path)")
    return SQLiteStore(url, readonly=readonly)
