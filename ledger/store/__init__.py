"""Ledger storage: the interface, the in-memory store, the SQLite default and the PostgreSQL store."""

from __future__ import annotations

from .base import Row, Store, StoredCheckpoint, StoreError, Tile
from .memory import MemoryStore
from .postgres import PostgresStore
from .sqlite import SQLiteStore

__all__ = [
    "MemoryStore",
    "PostgresStore",
    "Row",
    "SQLiteStore",
    "Store",
    "StoreError",
    "StoredCheckpoint",
    "Tile",
    "open_store",
]

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def open_store(url: str, *, readonly: bool = False) -> Store:
    """Open a store from a path or URL: a file path, `sqlite:///path`, or `postgresql://…` (`postgres://…`).

    A PostgreSQL URL is handed to libpq as it is (user, password, host or socket directory, port,
    database, and parameters such as `?sslmode=require` or `?options=-csearch_path%3Dledger`).
    """
    if url.startswith(POSTGRES_SCHEMES):
        return PostgresStore(url, readonly=readonly)
    if url.startswith("sqlite:///"):
        url = url[len("sqlite:///") :]
    elif "://" in url:
        raise StoreError(f"unsupported ledger URL {url!r} (use a SQLite file path or a postgresql:// URL)")
    return SQLiteStore(url, readonly=readonly)
