"""The embedded default store: one SQLite file in WAL mode, every commit fsynced.

`commit` writes a whole batch (group commit) in one transaction with `synchronous=FULL`, so an
acknowledged batch survives a process kill or power loss, and a batch torn by a crash is rolled
back by SQLite's own WAL recovery. Reads may run concurrently from other connections.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from urllib.parse import quote

from .base import Row, StoredCheckpoint, StoreError

__all__ = ["SQLiteStore"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (seq INTEGER PRIMARY KEY, data BLOB NOT NULL, leaf BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS checkpoints (size INTEGER PRIMARY KEY, note TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS quarantine (
    seq INTEGER NOT NULL, data BLOB NOT NULL, leaf BLOB NOT NULL, reason TEXT NOT NULL
);
"""

_CHUNK = 4096
_make_row = functools.partial(tuple.__new__, Row)


class SQLiteStore:
    """A ledger store in one SQLite file (`path`); `readonly` opens without creating or writing."""

    def __init__(self, path: str | Path, *, readonly: bool = False) -> None:
        self.path = Path(path)
        if readonly:
            if not self.path.exists():
                raise StoreError(f"{self.path}: no such ledger database")
            uri = f"file:{quote(str(self.path.resolve()))}?mode=ro"  # quoted: '?', '#', '%' in a path
            try:
                self._db = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
                for table in ("entries", "checkpoints", "meta"):
                    self._db.execute(f"SELECT count(*) FROM {table}").fetchone()
            except sqlite3.DatabaseError as exc:
                raise StoreError(f"{self.path}: not a ledger database ({exc})") from None
            return
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: cannot open as a ledger database ({exc})") from None

    def size(self) -> int:
        row = self._db.execute("SELECT max(seq) FROM entries").fetchone()
        return 0 if row[0] is None else row[0] + 1

    def commit(self, rows: Sequence[Row], checkpoints: Sequence[StoredCheckpoint] = ()) -> None:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany("INSERT INTO entries (seq, data, leaf) VALUES (?, ?, ?)", rows)
            if checkpoints:
                db.executemany("INSERT INTO checkpoints (size, note) VALUES (?, ?)", checkpoints)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def rows(self, start: int = 0, end: int | None = None) -> Iterator[Row]:
        for batch in self.row_batches(start, end):
            # sqlite3 returns BLOBs as bytes already; build the Row tuples in C.
            yield from map(_make_row, batch)

    def row_batches(self, start: int = 0, end: int | None = None) -> Iterator[list[tuple[int, bytes, bytes]]]:
        """The rows of `rows(start, end)` as lists of up to 4,096 plain (seq, data, leaf) tuples (for bulk readers)."""
        stop = (1 << 62) if end is None else end
        at = start
        while at < stop:
            batch = self._db.execute(
                # CAST: a value some other writer stored as TEXT or a number still reads as bytes.
                "SELECT seq, CAST(data AS BLOB), CAST(leaf AS BLOB) FROM entries"
                " WHERE seq >= ? AND seq < ? ORDER BY seq LIMIT ?",
                (at, stop, _CHUNK),
            ).fetchall()
            if not batch:
                return
            yield batch
            at = batch[-1][0] + 1

    def leaf_hashes(self) -> Iterator[bytes]:
        for (leaf,) in self._db.execute("SELECT CAST(leaf AS BLOB) FROM entries ORDER BY seq"):
            yield bytes(leaf)

    def checkpoints(self) -> list[StoredCheckpoint]:
        return [StoredCheckpoint(s, n) for s, n in self._db.execute("SELECT size, note FROM checkpoints ORDER BY size")]

    def get_meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def set_meta(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def quarantine(self, start: int, reason: str) -> int:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            cur = db.execute(
                "INSERT INTO quarantine (seq, data, leaf, reason)"
                " SELECT seq, data, leaf, ? FROM entries WHERE seq >= ?",
                (reason, start),
            )
            moved = cur.rowcount
            db.execute("DELETE FROM entries WHERE seq >= ?", (start,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return moved

    def close(self) -> None:
        self._db.close()
