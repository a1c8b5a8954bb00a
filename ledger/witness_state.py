"""The witness's durable state: per log origin, the last cosigned checkpoint (size, root hash, note text).

One SQLite file in WAL mode with ``synchronous=FULL``: an update is one ``BEGIN IMMEDIATE`` …
``COMMIT`` transaction, durable when the commit returns, so a cosignature is answered only after the
state it promises is on disk, and a crash leaves either the old record or the new one. The file also
records the cosigner's verifier key: a state opened with another key is refused. One process at a
time: an exclusive ``flock`` on ``<db>.lock``, held while the state is open, refuses a second witness.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

__all__ = ["CosignedHead", "StateError", "StateLocked", "WitnessState"]

FORMAT = "auction-engine witness state v1"
MAX_SIZE = (1 << 63) - 1  # SQLite's INTEGER; also the largest tree a checkpoint may claim here

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS heads (
    origin TEXT PRIMARY KEY,
    size INTEGER NOT NULL CHECK (size >= 0),
    root BLOB NOT NULL CHECK (length(root) = 32),
    timestamp INTEGER NOT NULL CHECK (timestamp >= 0),
    note TEXT NOT NULL
);
"""

T = TypeVar("T")


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class StateError(Exception):
    """The state file cannot be opened, is not a witness state, or belongs to another cosigner key."""


class StateLocked(StateError):
    """Another witness process holds this state."""


@dataclass(frozen=True)
class CosignedHead:
    """The latest checkpoint cosigned for one log: its size and root, the cosignature time and its note text."""

    origin: str
    size: int
    root: bytes
    timestamp: int
    note: str


class WitnessState:
    """The heads cosigned so far, one per log origin, in a locked SQLite file."""

    def __init__(self, path: str | os.PathLike[str], cosigner_vkey: str) -> None:
        self.path = Path(path)
        self._lock_fd = self._lock(Path(f"{self.path}.lock"))
        try:
            # check_same_thread=False: requests run on worker threads, one at a time (the witness's lock).
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            os.close(self._lock_fd)
            raise StateError(f"cannot open witness state {str(self.path)!r}: {exc}") from None
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
            self._bind_cosigner(cosigner_vkey)
            # The database and its write-ahead log (created by the transaction above, kept until close) are
            # in the directory for good: a commit's fsync of the log cannot be lost with its directory entry.
            _fsync_directory(self.path.parent)
        except (sqlite3.Error, StateError, OSError) as exc:
            self.close()
            if isinstance(exc, StateError):
                raise
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            raise StateError(f"cannot open witness state {str(self.path)!r}: {reason}") from None

    @staticmethod
    def _lock(lock_path: Path) -> int:
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StateError(f"cannot open lock file {str(lock_path)!r}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise StateLocked(
                f"another witness holds the state (lock {str(lock_path)!r}); two witnesses on one state could"
                " cosign two inconsistent checkpoints"
            ) from None
        return fd

    def _bind_cosigner(self, cosigner_vkey: str) -> None:
        def bind(db: sqlite3.Connection) -> None:
            rows = dict(db.execute("SELECT key, value FROM meta").fetchall())
            if not rows:
                db.executemany("INSERT INTO meta VALUES (?, ?)", [("format", FORMAT), ("cosigner", cosigner_vkey)])
                return
            if rows.get("format") != FORMAT:
                raise StateError(f"{str(self.path)!r} is not a witness state ({FORMAT})")
            if rows.get("cosigner") != cosigner_vkey:
                raise StateError(
                    f"the witness state {str(self.path)!r} belongs to cosigner {rows.get('cosigner')!r}, not"
                    f" {cosigner_vkey!r}"
                )

        self.transaction(bind)

    def transaction(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run `work` in one write transaction (BEGIN IMMEDIATE … COMMIT); roll back if it raises."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            result = work(self._db)
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
        return result

    @staticmethod
    def read_head(db: sqlite3.Connection, origin: str) -> CosignedHead | None:
        """The head recorded for `origin`, or None if none was ever cosigned (inside a transaction)."""
        row = db.execute("SELECT size, root, timestamp, note FROM heads WHERE origin = ?", (origin,)).fetchone()
        if row is None:
            return None
        return CosignedHead(origin, row[0], bytes(row[1]), row[2], row[3])

    @staticmethod
    def write_head(db: sqlite3.Connection, head: CosignedHead) -> None:
        """Record `head` as the latest cosigned for its origin (inside a transaction)."""
        db.execute(
            "INSERT INTO heads VALUES (?, ?, ?, ?, ?) ON CONFLICT (origin) DO UPDATE SET size = excluded.size,"
            " root = excluded.root, timestamp = excluded.timestamp, note = excluded.note",
            (head.origin, head.size, head.root, head.timestamp, head.note),
        )

    def head(self, origin: str) -> CosignedHead | None:
        """The head last cosigned for `origin` (None if none)."""
        return self.read_head(self._db, origin)

    def heads(self) -> list[CosignedHead]:
        rows = self._db.execute("SELECT origin, size, root, timestamp, note FROM heads ORDER BY origin").fetchall()
        return [CosignedHead(r[0], r[1], bytes(r[2]), r[3], r[4]) for r in rows]

    @staticmethod
    def latest_timestamp_in(db: sqlite3.Connection) -> int:
        """The latest cosignature time recorded for any log (0 if none): the witness's clock never goes below it."""
        (value,) = db.execute("SELECT coalesce(max(timestamp), 0) FROM heads").fetchone()
        return int(value)

    def close(self) -> None:
        self._db.close()
        os.close(self._lock_fd)
