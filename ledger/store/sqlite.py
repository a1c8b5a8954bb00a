"""The embedded default store: one SQLite file in WAL mode, every commit fsynced.

`commit` writes a whole batch (group commit) in one transaction with `synchronous=FULL`, so an
acknowledged batch survives a process kill or power loss, and a batch torn by a crash is rolled
back by SQLite's own WAL recovery. Reads may run concurrently from other connections.

The log is the single writer. A writable store holds an exclusive lock (`flock`) on the file
`<database>.lock` beside the database for as long as it is open, and writes into that file who
holds it (pid, host, since when); a second writer — another process, or another writable store in
this one — is refused with a StoreError naming the holder. The kernel releases the lock when the
holder exits, however it exits, so a lock file left behind never blocks anyone. A read-only store
takes no lock (WAL lets it read while the writer writes).

Every SQLite error (a damaged file: "database disk image is malformed", an unwritable one, …) comes
out as a one-line StoreError naming the file and the operation.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import functools
import os
import socket
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import quote

from .base import TILE_HEIGHT, Row, StoredCheckpoint, StoreError, Tile, check_snapshot_args

__all__ = ["SQLiteStore", "lock_path"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (seq INTEGER PRIMARY KEY, data BLOB NOT NULL, leaf BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS checkpoints (size INTEGER PRIMARY KEY, note TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS quarantine (
    seq INTEGER NOT NULL, data BLOB NOT NULL, leaf BLOB NOT NULL, reason TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS snapshots (size INTEGER PRIMARY KEY, root BLOB NOT NULL, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS tiles (
    level INTEGER NOT NULL, idx INTEGER NOT NULL, hashes BLOB NOT NULL, PRIMARY KEY (level, idx)
);
CREATE TABLE IF NOT EXISTS closed_lots (
    lot TEXT NOT NULL, size INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (lot, size)
);
CREATE INDEX IF NOT EXISTS closed_lots_by_size ON closed_lots (size);
"""

_CHUNK = 4096
_TILE_CHUNK = 256  # tiles (up to 8 KiB each) per query in tiles()
_END = 1 << 62
_make_row = functools.partial(tuple.__new__, Row)


DAMAGED = "; the file is damaged: restore it from a backup"


def _damaged(exc: sqlite3.Error) -> bool:
    """SQLite's word for a file whose pages do not hold what they should (SQLITE_CORRUPT)."""
    return "malformed" in str(exc)


def lock_path(path: str | Path) -> Path:
    """The writer's lock file of the SQLite ledger at `path`: `<path>.lock`, beside it."""
    path = Path(path)
    return path.with_name(path.name + ".lock")


class WriterLock:
    """An exclusive, non-blocking `flock` on a lock file, held until `release`; the file says who holds it."""

    def __init__(self, path: Path, database: Path) -> None:
        self.path = path
        self._fd: int | None = None
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise StoreError(f"{database}: cannot open the writer lock file {path} ({exc.strerror})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _read_holder(fd)
            os.close(fd)
            raise StoreError(
                f"{database}: another writer has this ledger open: its lock {path} is held by {holder};"
                " the log must have a single writer (stop that process first)"
            ) from None
        since = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on host {socket.gethostname()}, since {since}\n".encode(), 0)
        self._fd = fd

    def __del__(self) -> None:  # a store dropped without close() must not keep its ledger locked
        self.release()

    def release(self) -> None:
        """Say no one holds it any more, and let it go (closing the file releases the lock)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            try:
                os.ftruncate(fd, 0)
            finally:
                os.close(fd)


def _read_holder(fd: int) -> str:
    try:
        text = os.pread(fd, 500, 0).decode("utf-8", "replace").strip()
    except OSError:
        text = ""
    return text.splitlines()[0] if text else "a process that has not yet written who it is"


class SQLiteStore:
    """A ledger store in one SQLite file (`path`); `readonly` opens without creating, locking or writing."""

    def __init__(self, path: str | Path, *, readonly: bool = False) -> None:
        self.path = Path(path)
        self.readonly = readonly
        self._lock: WriterLock | None = None
        if readonly:
            if not self.path.exists():
                raise StoreError(f"{self.path}: no such ledger database")
            uri = f"file:{quote(str(self.path.resolve()))}?mode=ro"  # quoted: '?', '#', '%' in a path
            try:
                self._db = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
                for table in ("entries", "checkpoints", "meta"):
                    self._db.execute(f"SELECT count(*) FROM {table}").fetchone()
            except sqlite3.DatabaseError as exc:
                if _damaged(exc):
                    raise StoreError(f"{self.path}: reading it failed ({exc}){DAMAGED}") from None
                raise StoreError(f"{self.path}: not a ledger database ({exc})") from None
            return
        if self.path.is_dir():
            raise StoreError(f"{self.path}: is a directory, not a ledger database")
        self._lock = WriterLock(lock_path(self.path), self.path)
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(SCHEMA)
        except sqlite3.Error as exc:
            self._lock.release()
            hint = DAMAGED if _damaged(exc) else ""
            raise StoreError(f"{self.path}: cannot open as a ledger database ({exc}){hint}") from None

    def _failed(self, what: str, exc: sqlite3.Error) -> NoReturn:
        raise StoreError(f"{self.path}: {what} failed ({exc}){DAMAGED if _damaged(exc) else ''}") from None

    def check_structure(self) -> None:
        """SQLite's own structural check of the whole file (`PRAGMA quick_check`: every table's and index's
        pages, also those the log never reads); StoreError naming the first damage found."""
        try:
            found = [row[0] for row in self._db.execute("PRAGMA quick_check(5)")]
        except sqlite3.Error as exc:
            self._failed("checking the file", exc)
        if found != ["ok"]:
            # Its report spans lines ("*** in database main ***", then one per damage): the first damage.
            lines = [line.strip() for text in found for line in str(text).splitlines()]
            first = next((line for line in lines if line and not line.startswith("***")), "damaged")
            raise StoreError(
                f"{self.path}: the file is damaged (SQLite's quick_check: {first}); restore it from a backup"
            )

    def size(self) -> int:
        try:
            row = self._db.execute("SELECT max(seq) FROM entries").fetchone()
        except sqlite3.Error as exc:
            self._failed("reading the size", exc)
        return 0 if row[0] is None else row[0] + 1

    def commit(
        self, rows: Sequence[Row], checkpoints: Sequence[StoredCheckpoint] = (), tiles: Sequence[Tile] = ()
    ) -> None:
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            self._failed("commit (nothing written)", exc)
        try:
            db.executemany("INSERT INTO entries (seq, data, leaf) VALUES (?, ?, ?)", rows)
            if checkpoints:
                db.executemany("INSERT INTO checkpoints (size, note) VALUES (?, ?)", checkpoints)
            if tiles:
                db.executemany("INSERT OR REPLACE INTO tiles (level, idx, hashes) VALUES (?, ?, ?)", tiles)
            db.execute("COMMIT")
        except BaseException as exc:
            self._rollback()
            if isinstance(exc, sqlite3.Error):
                self._failed("commit (nothing written)", exc)
            raise

    def _rollback(self) -> None:
        """End a failed transaction (SQLite may have ended it already, e.g. after an I/O error)."""
        if self._db.in_transaction:
            with contextlib.suppress(sqlite3.Error):  # the error that made us roll back is the one to report
                self._db.execute("ROLLBACK")

    def rows(self, start: int = 0, end: int | None = None) -> Iterator[Row]:
        for batch in self.row_batches(start, end):
            # sqlite3 returns BLOBs as bytes already; build the Row tuples in C.
            yield from map(_make_row, batch)

    def row_batches(self, start: int = 0, end: int | None = None) -> Iterator[list[tuple[int, bytes, bytes]]]:
        """The rows of `rows(start, end)` as lists of up to 4,096 plain (seq, data, leaf) tuples (for bulk readers)."""
        stop = (1 << 62) if end is None else end
        at = start
        while at < stop:
            try:
                batch = self._db.execute(
                    # CAST: a value some other writer stored as TEXT or a number still reads as bytes.
                    "SELECT seq, CAST(data AS BLOB), CAST(leaf AS BLOB) FROM entries"
                    " WHERE seq >= ? AND seq < ? ORDER BY seq LIMIT ?",
                    (at, stop, _CHUNK),
                ).fetchall()
            except sqlite3.Error as exc:
                self._failed(f"reading entries from {at}", exc)
            if not batch:
                return
            yield batch
            at = batch[-1][0] + 1

    def leaf_hashes(self) -> Iterator[bytes]:
        try:
            for seq, leaf in self._db.execute("SELECT seq, CAST(leaf AS BLOB) FROM entries ORDER BY seq"):
                if leaf is None:  # NOT NULL in the schema: only a damaged file or a foreign writer has this
                    raise StoreError(f"{self.path}: entry {seq} has no leaf hash; the file is damaged")
                yield bytes(leaf)
        except sqlite3.Error as exc:
            self._failed("reading the leaf hashes", exc)

    def leaves(self, start: int, end: int) -> list[bytes]:
        try:
            got = self._db.execute(
                "SELECT CAST(leaf AS BLOB) FROM entries WHERE seq >= ? AND seq < ? ORDER BY seq", (start, end)
            ).fetchall()
        except sqlite3.Error as exc:
            self._failed(f"reading the leaf hashes of entries {start} to {end - 1}", exc)
        return [b"" if leaf is None else bytes(leaf) for (leaf,) in got]

    # -- tiles: the Merkle tree in storage (ledger.stored_tree) ------------------------------------------

    def _no_table(self, exc: sqlite3.Error, table: str) -> bool:
        """A read-only store on a database written before `table` existed: it simply has no such rows."""
        return self.readonly and f"no such table: {table}" in str(exc)

    def tiles(self, level: int, start: int = 0, end: int | None = None) -> Iterator[Tile]:
        stop = _END if end is None else end
        at = start
        while at < stop:
            try:
                batch = self._db.execute(
                    "SELECT idx, CAST(hashes AS BLOB) FROM tiles WHERE level = ? AND idx >= ? AND idx < ?"
                    " ORDER BY idx LIMIT ?",
                    (level, at, stop, _TILE_CHUNK),
                ).fetchall()
            except sqlite3.Error as exc:
                if self._no_table(exc, "tiles"):
                    return
                self._failed(f"reading tiles of level {level} from {at}", exc)
            for idx, hashes in batch:
                yield Tile(level, idx, b"" if hashes is None else bytes(hashes))
            if len(batch) < _TILE_CHUNK:
                return
            at = batch[-1][0] + 1

    def cut_tiles(self, size: int) -> None:
        db = self._db
        what = f"cutting the tiles to {size} entries (nothing changed)"
        try:
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            self._failed(what, exc)
        try:
            (top,) = db.execute("SELECT max(level) FROM tiles").fetchone()
            for level in range(1, (top or 0) + 1):
                count = size >> (TILE_HEIGHT * level)  # the hashes this level keeps
                first_gone = -(-count >> TILE_HEIGHT)  # the first tile all of whose hashes go
                db.execute("DELETE FROM tiles WHERE level = ? AND idx >= ?", (level, first_gone))
                if count % (1 << TILE_HEIGHT):  # the partial tile left at the edge: its first hashes stay
                    db.execute(
                        "UPDATE tiles SET hashes = substr(CAST(hashes AS BLOB), 1, ?) WHERE level = ? AND idx = ?",
                        ((count % (1 << TILE_HEIGHT)) * 32, level, count >> TILE_HEIGHT),
                    )
            db.execute("COMMIT")
        except BaseException as exc:
            self._rollback()
            if isinstance(exc, sqlite3.Error):
                self._failed(what, exc)
            raise

    def checkpoints(self) -> list[StoredCheckpoint]:
        try:
            got = self._db.execute("SELECT size, note FROM checkpoints ORDER BY size").fetchall()
        except sqlite3.Error as exc:
            self._failed("reading the checkpoints", exc)
        for size, note in got:
            if type(size) is not int or type(note) is not str:
                raise StoreError(f"{self.path}: the stored checkpoint of size {size!r} is not a text note; damaged")
        return [StoredCheckpoint(s, n) for s, n in got]

    def get_meta(self, key: str) -> str | None:
        try:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        except sqlite3.Error as exc:
            self._failed(f"reading meta {key!r}", exc)
        return None if row is None else row[0]

    def set_meta(self, key: str, value: str) -> None:
        try:
            self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))
        except sqlite3.Error as exc:
            self._failed(f"writing meta {key!r}", exc)

    def quarantine(self, start: int, reason: str) -> int:
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
            cur = db.execute(
                "INSERT INTO quarantine (seq, data, leaf, reason)"
                " SELECT seq, data, leaf, ? FROM entries WHERE seq >= ?",
                (reason, start),
            )
            moved = cur.rowcount
            db.execute("DELETE FROM entries WHERE seq >= ?", (start,))
            db.execute("COMMIT")
        except BaseException as exc:
            self._rollback()
            if isinstance(exc, sqlite3.Error):
                self._failed(f"moving entries from {start} to quarantine", exc)
            raise
        return moved

    # -- snapshots: blobs beside the ledger, not part of it ------------------------------------------

    def put_snapshot(
        self, size: int, root: bytes, data: bytes, keep: int = 2, lots: Sequence[tuple[str, bytes]] = ()
    ) -> None:
        check_snapshot_args(size, root, data, keep, lots)
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            self._failed(f"storing the snapshot of size {size} (nothing written)", exc)
        try:
            db.execute("INSERT OR REPLACE INTO snapshots (size, root, data) VALUES (?, ?, ?)", (size, root, data))
            db.execute(
                "DELETE FROM snapshots WHERE size NOT IN (SELECT size FROM snapshots ORDER BY size DESC LIMIT ?)",
                (keep,),
            )
            if lots:
                db.executemany(
                    "INSERT OR REPLACE INTO closed_lots (lot, size, data) VALUES (?, ?, ?)",
                    [(lot, size, blob) for lot, blob in lots],
                )
                # Versions no kept snapshot can need: older than the newest one at or before the oldest snapshot.
                oldest = db.execute("SELECT MIN(size) FROM snapshots").fetchone()[0]
                db.executemany(
                    "DELETE FROM closed_lots WHERE lot = ?1 AND size <"
                    " (SELECT MAX(size) FROM closed_lots WHERE lot = ?1 AND size <= ?2)",
                    [(lot, oldest) for lot, _ in lots],
                )
            db.execute("COMMIT")
        except BaseException as exc:
            self._rollback()
            if isinstance(exc, sqlite3.Error):
                self._failed(f"storing the snapshot of size {size} (nothing written)", exc)
            raise

    def snapshots(self) -> list[tuple[int, bytes]]:
        try:
            got = self._db.execute("SELECT size, CAST(root AS BLOB) FROM snapshots ORDER BY size").fetchall()
        except sqlite3.Error as exc:
            if self._no_table(exc, "snapshots"):
                return []
            self._failed("reading the snapshots", exc)
        for size, root in got:
            if type(size) is not int or root is None:
                raise StoreError(f"{self.path}: the stored snapshot of size {size!r} has no root; damaged")
        return [(size, bytes(root)) for size, root in got]

    def get_snapshot(self, size: int) -> bytes | None:
        try:
            row = self._db.execute("SELECT CAST(data AS BLOB) FROM snapshots WHERE size = ?", (size,)).fetchone()
        except sqlite3.Error as exc:
            if self._no_table(exc, "snapshots"):
                return None
            self._failed(f"reading the snapshot of size {size}", exc)
        if row is None:
            return None
        if row[0] is None:
            raise StoreError(f"{self.path}: the stored snapshot of size {size} has no data; damaged")
        return bytes(row[0])

    # -- closed lots: sealed blobs versioned by the snapshot they were written with ----------------

    def _closed(self, what: str, sql: str, args: tuple[object, ...]) -> list[tuple[Any, ...]]:
        try:
            return self._db.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            if self._no_table(exc, "closed_lots"):
                return []
            self._failed(what, exc)

    def closed_lot(self, lot: str, up_to: int) -> tuple[int, bytes] | None:
        got = self._closed(
            f"reading closed lot {lot!r}",
            "SELECT size, CAST(data AS BLOB) FROM closed_lots WHERE lot = ? AND size <= ? ORDER BY size DESC LIMIT 1",
            (lot, up_to),
        )
        if not got:
            return None
        size, data = got[0]
        if type(size) is not int or data is None:
            raise StoreError(f"{self.path}: the stored closed lot {lot!r} is damaged (size {size!r})")
        return size, bytes(data)

    def closed_lot_size(self, lot: str, up_to: int) -> int | None:
        got = self._closed(
            f"looking up closed lot {lot!r}",
            "SELECT MAX(size) FROM closed_lots WHERE lot = ? AND size <= ?",
            (lot, up_to),
        )
        return got[0][0] if got and got[0][0] is not None else None

    def closed_lot_count(self, up_to: int) -> int:
        got = self._closed(
            "counting the closed lots", "SELECT COUNT(DISTINCT lot) FROM closed_lots WHERE size <= ?", (up_to,)
        )
        return int(got[0][0]) if got else 0

    def closed_lot_ids(self, up_to: int) -> Iterator[str]:
        after = ""
        while True:
            got = self._closed(
                "listing the closed lots",
                "SELECT DISTINCT lot FROM closed_lots WHERE lot > ? AND size <= ? ORDER BY lot LIMIT ?",
                (after, up_to, _CHUNK),
            )
            for (lot,) in got:
                yield lot
            if len(got) < _CHUNK:
                return
            after = got[-1][0]

    def closed_lots(self, up_to: int) -> Iterator[tuple[str, int, bytes]]:
        for lot in self.closed_lot_ids(up_to):
            got = self.closed_lot(lot, up_to)
            if got is not None:
                yield lot, got[0], got[1]

    def recent_closed_lots(self, up_to: int, limit: int) -> list[str]:
        got = self._closed(
            "listing the recent closed lots",
            "SELECT lot FROM closed_lots WHERE size <= ? ORDER BY size DESC, lot LIMIT ?",
            (up_to, 2 * limit),
        )
        return list(dict.fromkeys(lot for (lot,) in got))[:limit]

    def close(self) -> None:
        """Close the database, then release the writer's lock (a reader holds none)."""
        try:
            self._db.close()
        finally:
            if self._lock is not None:
                self._lock.release()
