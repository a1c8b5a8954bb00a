"""The PostgreSQL store, for operators who outgrow one SQLite file (`--db postgresql://…`).

Same tables and the same semantics as `SQLiteStore`: `entries (seq, data, leaf)`, `checkpoints
(size, note)`, `meta (key, value)`, `quarantine` and `snapshots (size, root, data)`, in the
connection's current schema (choose another one with `?options=-csearch_path%3Dname` in the URL).
`commit` writes a whole batch in one transaction — the entries by binary `COPY`, the checkpoints by
a pipelined `executemany` — with `synchronous_commit=on`, so when it returns the batch is flushed
to the server's WAL and survives a crash of this process, of the server or of its machine; a batch
torn by a crash is rolled back by the server. Everything else runs in autocommit, one statement
per transaction, like SQLite's.

The log is the single writer. A writable store holds a session-level advisory lock
(`pg_try_advisory_lock`, keyed by the schema) for as long as it is open, so a second writer on the
same ledger is refused with a `StoreError` (`WriterLocked`) that names the lock and the session
holding it. A standby (`serve --standby`) watches the lock with a `WriterLockWatch`, which never takes
it, and opens the store once the lock is free (the server frees it when the holder's session ends,
a killed process's as soon as the server sees its connection close). A read-only store takes no
lock and runs every statement in a read-only transaction (`default_transaction_read_only=on`), so
the server itself refuses writes through it.

psycopg 3 is imported on first use: install it with the `postgres` extra
(`pip install 'auction-engine[postgres]'`).
"""

from __future__ import annotations

import functools
import hashlib
import threading
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from .base import TILE_HEIGHT, Row, StoredCheckpoint, StoreError, Tile, check_snapshot_args

if TYPE_CHECKING:
    import psycopg

_CLOSED_CHUNK = 4096

__all__ = ["SCHEMA", "TABLES", "PostgresStore", "WriterLockWatch", "WriterLocked", "describe_url", "writer_lock_key"]

# The DDL of each ledger table (the SQLite layout, in PostgreSQL types); only missing ones are created.
TABLES: dict[str, str] = {
    "entries": "CREATE TABLE entries (seq bigint PRIMARY KEY, data bytea NOT NULL, leaf bytea NOT NULL)",
    "checkpoints": "CREATE TABLE checkpoints (size bigint PRIMARY KEY, note text NOT NULL)",
    "meta": "CREATE TABLE meta (key text PRIMARY KEY, value text NOT NULL)",
    "quarantine": (
        "CREATE TABLE quarantine (seq bigint NOT NULL, data bytea NOT NULL, leaf bytea NOT NULL, reason text NOT NULL)"
    ),
    "snapshots": "CREATE TABLE snapshots (size bigint PRIMARY KEY, root bytea NOT NULL, data bytea NOT NULL)",
    "tiles": (
        "CREATE TABLE tiles"
        " (level bigint NOT NULL, idx bigint NOT NULL, hashes bytea NOT NULL, PRIMARY KEY (level, idx))"
    ),
    "closed_lots": (
        "CREATE TABLE closed_lots"
        " (lot text NOT NULL, size bigint NOT NULL, data bytea NOT NULL, PRIMARY KEY (lot, size));"
        " CREATE INDEX closed_lots_by_size ON closed_lots (size)"
    ),
}
SCHEMA = ";\n".join(TABLES.values()) + ";\n"

# The columns each ledger table must have, in order, as format_type() names their types.
EXPECTED_COLUMNS: dict[str, list[tuple[str, str]]] = {
    "entries": [("seq", "bigint"), ("data", "bytea"), ("leaf", "bytea")],
    "checkpoints": [("size", "bigint"), ("note", "text")],
    "meta": [("key", "text"), ("value", "text")],
    "quarantine": [("seq", "bigint"), ("data", "bytea"), ("leaf", "bytea"), ("reason", "text")],
    "snapshots": [("size", "bigint"), ("root", "bytea"), ("data", "bytea")],
    "closed_lots": [("lot", "text"), ("size", "bigint"), ("data", "bytea")],
    "tiles": [("level", "bigint"), ("idx", "bigint"), ("hashes", "bytea")],
}
# Tables added after the first release: a writer creates them on an older database; a read-only
# store does without them (an older database simply has no snapshots, and no tiles: a read-only
# log then builds its tree in memory).
OPTIONAL_TABLES = frozenset({"snapshots", "tiles", "closed_lots"})

APPLICATION_NAME = "auction-engine-ledger"
WATCH_APPLICATION_NAME = "auction-engine-standby"  # a standby's session, watching the writer lock
LOCK_NAME = "auction-engine ledger writer"
_CHUNK = 4096  # rows per round trip in rows()
_LEAF_CHUNK = 65536  # leaf hashes per round trip in leaf_hashes()
_TILE_CHUNK = 256  # tiles (up to 8 KiB each) per round trip in tiles()
_END = 1 << 62
_make_row = functools.partial(tuple.__new__, Row)


def _psycopg() -> Any:
    """Import psycopg 3, or say how to install it."""
    try:
        import psycopg
    except ImportError:
        raise StoreError(
            "a postgresql:// ledger needs psycopg 3: pip install 'auction-engine[postgres]' (or 'psycopg[binary]')"
        ) from None
    return psycopg


def describe_url(url: str) -> str:
    """The URL without its password or parameters, for messages: `postgresql://user@host:port/dbname`."""
    try:
        from psycopg.conninfo import conninfo_to_dict

        parts = conninfo_to_dict(url)
    except Exception:  # an unparsable URL, or no psycopg: say no more than the scheme
        return url.split("://", 1)[0] + "://…"
    user = f"{parts['user']}@" if parts.get("user") else ""
    host = str(parts.get("host", ""))
    port = f":{parts['port']}" if parts.get("port") else ""
    if host.startswith("/"):  # a Unix socket directory
        return f"postgresql://{user}{port}/{parts.get('dbname', '')}?host={host}"
    return f"postgresql://{user}{host}{port}/{parts.get('dbname', '')}"


def writer_lock_key(schema: str) -> int:
    """The signed 64-bit advisory-lock key guarding the ledger tables in `schema`."""
    digest = hashlib.sha256(f"{LOCK_NAME}:{schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class WriterLocked(StoreError):
    """A writer was refused: another session holds the ledger's single-writer advisory lock."""


def _lock_holder(db: psycopg.Connection[Any], key: int) -> str | None:
    """Who holds the writer lock `key` in this database (backend pid, application, client, since when); None: nobody."""
    unsigned = key & 0xFFFF_FFFF_FFFF_FFFF
    holder = db.execute(
        "SELECT l.pid, a.application_name, a.client_addr::text, a.backend_start"
        " FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid"
        " WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1"
        " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        " AND l.classid = %s::bigint::oid AND l.objid = %s::bigint::oid",
        (unsigned >> 32, unsigned & 0xFFFF_FFFF),
    ).fetchone()
    if holder is None:
        return None
    pid, app, addr, started = holder
    about = [f"application {app!r}" if app is not None else "", f"client {addr}" if addr else ""]
    about.append(f"connected {started:%Y-%m-%d %H:%M:%S%z}" if started is not None else "")
    details = ", ".join(a for a in about if a)
    return f"backend pid {pid}" + (f" ({details})" if details else "")


def _connect_options(url: str, application_name: str) -> dict[str, Any]:
    """The connection parameters the store adds unless the URL gives them: an application name, a connect timeout."""
    pg = _psycopg()
    try:
        from psycopg.conninfo import conninfo_to_dict

        given = conninfo_to_dict(url)
    except pg.Error as exc:
        raise StoreError(f"{describe_url(url)}: not a PostgreSQL URL ({exc})") from None
    extra: dict[str, Any] = {}
    if "application_name" not in given:
        extra["application_name"] = application_name
    if "connect_timeout" not in given:
        extra["connect_timeout"] = 10
    return extra


class WriterLockWatch:
    """A read-only session that watches the single-writer lock of the ledger at `url` (`serve --standby`).

    `holder()` names the session holding the lock now, or None when nobody does. The watch never takes
    the lock: the store that then opens the ledger takes it in its own session before it reads anything
    (`PostgresStore._take_lock`), so the lock stays the only arbiter of who writes, and a standby that
    loses the race to another one is refused with `WriterLocked` and may watch again. Each `holder()` is
    one short query; a lost connection is reopened on the next call (a StoreError says why it failed).
    """

    def __init__(self, url: str) -> None:
        self._dsn = url
        self.url = describe_url(url)
        self.schema = ""
        self.key = 0
        self._db: psycopg.Connection[Any] | None = None
        self._connect()

    def _connect(self) -> psycopg.Connection[Any]:
        pg = _psycopg()
        extra = _connect_options(self._dsn, WATCH_APPLICATION_NAME)
        try:
            db = pg.connect(self._dsn, autocommit=True, **extra)
        except pg.Error as exc:
            raise StoreError(f"{self.url}: cannot connect ({_reason(exc)})") from None
        try:
            db.execute("SET default_transaction_read_only = on")
            schema = db.execute("SELECT current_schema()").fetchone()
        except pg.Error as exc:
            db.close()
            raise StoreError(f"{self.url}: cannot watch the writer lock ({_reason(exc)})") from None
        if schema is None or schema[0] is None:
            db.close()
            raise StoreError(f"{self.url}: no schema for the ledger tables (none of the search_path exists)")
        if self._db is not None and schema[0] != self.schema:  # the URL is the same: only a DBA could do this
            db.close()
            raise StoreError(f"{self.url}: the current schema changed from {self.schema!r} to {schema[0]!r}")
        self.schema = schema[0]
        self.key = writer_lock_key(self.schema)
        self._db = db
        return db

    def holder(self) -> str | None:
        """Who holds the writer lock now (see `_lock_holder`); None: nobody, a writer may open the ledger."""
        pg = _psycopg()
        db = self._db
        if db is None or db.closed or db.broken:
            if db is not None:
                db.close()
            db = self._connect()
        try:
            return _lock_holder(db, self.key)
        except pg.Error as exc:
            db.close()
            raise StoreError(f"{self.url}: watching the writer lock failed ({_reason(exc)})") from None

    def close(self) -> None:
        if self._db is not None and not self._db.closed:
            self._db.close()


class PostgresStore:
    """A ledger store in a PostgreSQL database (`url`, a libpq URL or key=value string).

    `readonly` opens without creating, locking or writing anything. A writer waits up to
    `lock_wait` seconds for another writer's advisory lock (0: refuse at once) — useful right
    after a crash, while the server is still ending the dead process's session.
    """

    def __init__(self, url: str, *, readonly: bool = False, lock_wait: float = 0.0) -> None:
        pg = _psycopg()
        self.url = describe_url(url)
        self.readonly = readonly
        self.schema = ""
        self.lock_key: int | None = None
        self._mutex = threading.RLock()
        self._db: psycopg.Connection[Any] | None = None
        extra = _connect_options(url, APPLICATION_NAME)
        try:
            self._db = pg.connect(url, autocommit=True, **extra)
        except pg.Error as exc:
            raise StoreError(f"{self.url}: cannot connect ({_reason(exc)})") from None
        try:
            self._open(lock_wait)
        except BaseException:
            self._db.close()
            raise

    # -- opening ------------------------------------------------------------------------------

    def _open(self, lock_wait: float) -> None:
        pg = _psycopg()
        db = self._conn()
        try:
            if self.readonly:
                db.execute("SET default_transaction_read_only = on")
            schema = db.execute("SELECT current_schema()").fetchone()
            if schema is None or schema[0] is None:
                search_path = db.execute("SHOW search_path").fetchone()
                raise StoreError(
                    f"{self.url}: no schema to {'read' if self.readonly else 'create'} the ledger tables in"
                    f" (search_path is {search_path[0] if search_path else '?'!r} and none of it exists)"
                )
            self.schema = schema[0]
            if self.readonly:
                self._check_schema(require_all=True)
                return
            fsync = db.execute("SHOW fsync").fetchone()
            if fsync is not None and fsync[0] != "on":
                raise StoreError(
                    f"{self.url}: the server runs with fsync={fsync[0]}, so a commit would not survive a crash;"
                    " a ledger needs fsync=on"
                )
            db.execute("SET synchronous_commit = on")
            self._take_lock(lock_wait)
            with db.transaction():
                # Only what is missing: CREATE needs a privilege that a writer of existing tables may lack.
                for table in self._check_schema(require_all=False):
                    db.execute(TABLES[table])
        except pg.Error as exc:
            raise StoreError(f"{self.url}: cannot open as a ledger database ({_reason(exc)})") from None

    def _take_lock(self, lock_wait: float) -> None:
        """Take the single-writer advisory lock, waiting up to `lock_wait` seconds for it."""
        db = self._conn()
        key = writer_lock_key(self.schema)
        deadline = time.monotonic() + max(lock_wait, 0.0)
        while True:
            got = db.execute("SELECT pg_try_advisory_lock(%s::bigint)", (key,)).fetchone()
            if got is not None and got[0]:
                self.lock_key = key
                return
            if time.monotonic() >= deadline:
                break
            time.sleep(0.05)
        who = _lock_holder(db, key) or "another session"
        raise WriterLocked(
            f"{self.url}: another writer has this ledger open: the advisory lock {LOCK_NAME!r}"
            f" (pg_try_advisory_lock({key}), schema {self.schema!r}) is held by {who}; the log must have"
            " a single writer (if that process is gone, end its session with pg_terminate_backend)"
        )

    def _check_schema(self, *, require_all: bool) -> list[str]:
        """Refuse tables that share a ledger table's name but not its columns (another application's).

        Returns the ledger tables that are missing (all of them must be there if `require_all`).
        """
        found: dict[str, list[tuple[str, str]]] = {}
        # pg_catalog, not information_schema: it shows every relation, whatever this role may access.
        cur = self._conn().execute(
            "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod)"
            " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped"
            " WHERE n.nspname = current_schema() AND c.relname = ANY(%s)"
            " ORDER BY c.relname, a.attnum",
            (list(EXPECTED_COLUMNS),),
        )
        for table, column, data_type in cur:
            found.setdefault(table, []).append((column, data_type))
        for table, expected in EXPECTED_COLUMNS.items():
            have = found.get(table)
            if have is None:
                continue
            if have != expected:
                raise StoreError(
                    f"{self.url}: table {self.schema}.{table} is not a ledger table (another application's?):"
                    f" it has columns ({_columns(have)}), a ledger's has ({_columns(expected)})"
                )
        missing = [t for t in EXPECTED_COLUMNS if t not in found]
        required = [t for t in missing if t not in OPTIONAL_TABLES]
        if require_all and required:
            none = len(required) == len(EXPECTED_COLUMNS) - len(OPTIONAL_TABLES)
            what = "no ledger tables" if none else f"no table {', '.join(required)}"
            raise StoreError(f"{self.url}: not a ledger database ({what} in schema {self.schema!r})")
        return missing

    def _conn(self) -> psycopg.Connection[Any]:
        if self._db is None or self._db.closed:
            raise StoreError(f"{self.url}: the store is closed")
        return self._db

    # -- the Store protocol -------------------------------------------------------------------

    def size(self) -> int:
        row = self._fetchone("size", "SELECT max(seq) FROM entries", ())
        return 0 if row is None or row[0] is None else row[0] + 1

    def commit(
        self, rows: Sequence[Row], checkpoints: Sequence[StoredCheckpoint] = (), tiles: Sequence[Tile] = ()
    ) -> None:
        pg = _psycopg()
        with self._mutex:
            db = self._conn()
            try:
                with db.transaction(), db.cursor() as cur:
                    if rows:
                        with cur.copy("COPY entries (seq, data, leaf) FROM STDIN (FORMAT BINARY)") as copy:
                            copy.set_types(["int8", "bytea", "bytea"])
                            for row in rows:
                                copy.write_row(row)
                    if checkpoints:
                        cur.executemany("INSERT INTO checkpoints (size, note) VALUES (%s, %s)", checkpoints)
                    if tiles:
                        cur.executemany(
                            "INSERT INTO tiles (level, idx, hashes) VALUES (%s, %s, %s)"
                            " ON CONFLICT (level, idx) DO UPDATE SET hashes = EXCLUDED.hashes",
                            tiles,
                        )
            except pg.Error as exc:
                if db.broken:
                    # The COMMIT may have reached the server before the connection died.
                    raise StoreError(
                        f"{self.url}: the connection was lost during a commit; whether the batch was written is"
                        f" unknown until the log is reopened ({_reason(exc)})"
                    ) from None
                raise StoreError(f"{self.url}: commit failed, nothing written ({_reason(exc)})") from None

    def rows(self, start: int = 0, end: int | None = None) -> Iterator[Row]:
        stop = _END if end is None else end
        for chunk in self._windows("rows", "seq, data, leaf", start, stop, _CHUNK):
            yield from map(_make_row, chunk)

    def leaf_hashes(self) -> Iterator[bytes]:
        for chunk in self._windows("leaf_hashes", "seq, leaf", 0, _END, _LEAF_CHUNK):
            for _, leaf in chunk:
                yield leaf

    def leaves(self, start: int, end: int) -> list[bytes]:
        got = self._fetchall(
            f"reading the leaf hashes of entries {start} to {end - 1}",
            "SELECT leaf FROM entries WHERE seq >= %s AND seq < %s ORDER BY seq",
            (start, end),
        )
        return [bytes(leaf) for (leaf,) in got]

    def _windows(self, what: str, columns: str, start: int, stop: int, width: int) -> Iterator[list[tuple[Any, ...]]]:
        """The entries with start <= seq < stop, one window of `width` seq values per query, in seq order.

        Windows of seq values, not LIMIT pages: each query touches at most `width` rows whatever
        plan the server picks (a fresh, unanalysed table gets a bad one for `ORDER BY … LIMIT`). An
        empty window (a gap in a damaged ledger) jumps to the next stored seq.
        """
        sql = f"SELECT {columns} FROM entries WHERE seq >= %s AND seq < %s ORDER BY seq"
        at = start
        while at < stop:
            upto = min(at + width, stop)
            chunk = self._fetchall(what, sql, (at, upto))
            if chunk:
                yield chunk
                at = upto
                continue
            after = self._fetchone(what, "SELECT min(seq) FROM entries WHERE seq >= %s AND seq < %s", (upto, stop))
            if after is None or after[0] is None:
                return
            at = after[0]

    def checkpoints(self) -> list[StoredCheckpoint]:
        got = self._fetchall("checkpoints", "SELECT size, note FROM checkpoints ORDER BY size", ())
        return [StoredCheckpoint(s, n) for s, n in got]

    def get_meta(self, key: str) -> str | None:
        row = self._fetchone("get_meta", "SELECT value FROM meta WHERE key = %s", (key,))
        return None if row is None else row[0]

    def set_meta(self, key: str, value: str) -> None:
        self._execute(
            "set_meta",
            "INSERT INTO meta (key, value) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            (key, value),
        )

    def quarantine(self, start: int, reason: str) -> int:
        # One statement, so one atomic step: the rows leave `entries` and land in `quarantine` together.
        cur = self._execute(
            "quarantine",
            "WITH moved AS (DELETE FROM entries WHERE seq >= %s RETURNING seq, data, leaf)"
            " INSERT INTO quarantine (seq, data, leaf, reason) SELECT seq, data, leaf, %s FROM moved",
            (start, reason),
        )
        return max(cur.rowcount, 0)

    # -- tiles: the Merkle tree in storage (ledger.stored_tree) ------------------------------------------

    def tiles(self, level: int, start: int = 0, end: int | None = None) -> Iterator[Tile]:
        stop = _END if end is None else end
        what = f"reading tiles of level {level}"
        if stop == start + 1:  # one tile (a proof's lookup): by key, whatever plan LIMIT would get
            got = self._fetch_optional(
                "tiles", what, "SELECT idx, hashes FROM tiles WHERE level = %s AND idx = %s", (level, start)
            )
            yield from (Tile(level, idx, bytes(hashes)) for idx, hashes in got)
            return
        at = start
        while at < stop:
            batch = self._fetch_optional(
                "tiles",
                what,
                "SELECT idx, hashes FROM tiles WHERE level = %s AND idx >= %s AND idx < %s ORDER BY idx LIMIT %s",
                (level, at, stop, _TILE_CHUNK),
            )
            yield from (Tile(level, idx, bytes(hashes)) for idx, hashes in batch)
            if len(batch) < _TILE_CHUNK:
                return
            at = batch[-1][0] + 1

    def cut_tiles(self, size: int) -> None:
        pg = _psycopg()
        with self._mutex:
            db = self._conn()
            try:
                with db.transaction(), db.cursor(binary=True) as cur:
                    top = cur.execute("SELECT max(level) FROM tiles").fetchone()
                    for level in range(1, (top[0] if top and top[0] is not None else 0) + 1):
                        count = size >> (TILE_HEIGHT * level)  # the hashes this level keeps
                        first_gone = -(-count >> TILE_HEIGHT)  # the first tile all of whose hashes go
                        cur.execute("DELETE FROM tiles WHERE level = %s AND idx >= %s", (level, first_gone))
                        if count % (1 << TILE_HEIGHT):  # the partial tile left at the edge: its first hashes stay
                            cur.execute(
                                "UPDATE tiles SET hashes = substring(hashes FROM 1 FOR %s)"
                                " WHERE level = %s AND idx = %s",
                                ((count % (1 << TILE_HEIGHT)) * 32, level, count >> TILE_HEIGHT),
                            )
            except pg.Error as exc:
                raise StoreError(
                    f"{self.url}: cutting the tiles to {size} entries failed, nothing changed ({_reason(exc)})"
                ) from None

    # -- snapshots: blobs beside the ledger, not part of it ------------------------------------------

    def put_snapshot(
        self, size: int, root: bytes, data: bytes, keep: int = 2, lots: Sequence[tuple[str, bytes]] = ()
    ) -> None:
        check_snapshot_args(size, root, data, keep, lots)
        pg = _psycopg()
        with self._mutex:
            db = self._conn()
            try:
                with db.transaction(), db.cursor(binary=True) as cur:
                    cur.execute(
                        "INSERT INTO snapshots (size, root, data) VALUES (%s, %s, %s)"
                        " ON CONFLICT (size) DO UPDATE SET root = EXCLUDED.root, data = EXCLUDED.data",
                        (size, root, data),
                    )
                    cur.execute(
                        "DELETE FROM snapshots WHERE size NOT IN"
                        " (SELECT size FROM snapshots ORDER BY size DESC LIMIT %s)",
                        (keep,),
                    )
                    if lots:
                        cur.executemany(
                            "INSERT INTO closed_lots (lot, size, data) VALUES (%s, %s, %s)"
                            " ON CONFLICT (lot, size) DO UPDATE SET data = EXCLUDED.data",
                            [(lot, size, blob) for lot, blob in lots],
                        )
                        # Versions no kept snapshot can need: older than the newest at or before the oldest snapshot.
                        cur.execute(
                            "DELETE FROM closed_lots c WHERE c.lot = ANY(%s) AND c.size <"
                            " (SELECT MAX(v.size) FROM closed_lots v WHERE v.lot = c.lot"
                            " AND v.size <= (SELECT MIN(size) FROM snapshots))",
                            ([lot for lot, _ in lots],),
                        )
            except pg.Error as exc:
                if db.broken:
                    raise StoreError(
                        f"{self.url}: the connection was lost while storing the snapshot of size {size}; whether it"
                        f" was stored is unknown ({_reason(exc)})"
                    ) from None
                raise StoreError(
                    f"{self.url}: storing the snapshot of size {size} failed, nothing written ({_reason(exc)})"
                ) from None

    def snapshots(self) -> list[tuple[int, bytes]]:
        got = self._fetch_optional("snapshots", "snapshots", "SELECT size, root FROM snapshots ORDER BY size", ())
        return [(size, bytes(root)) for size, root in got]

    def get_snapshot(self, size: int) -> bytes | None:
        got = self._fetch_optional(
            "snapshots", f"reading the snapshot of size {size}", "SELECT data FROM snapshots WHERE size = %s", (size,)
        )
        return bytes(got[0][0]) if got else None

    # -- closed lots: sealed blobs versioned by the snapshot they were written with ----------------

    def _closed(self, what: str, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        return self._fetch_optional("closed_lots", what, sql, params)

    def closed_lot(self, lot: str, up_to: int) -> tuple[int, bytes] | None:
        got = self._closed(
            f"reading closed lot {lot!r}",
            "SELECT size, data FROM closed_lots WHERE lot = %s AND size <= %s ORDER BY size DESC LIMIT 1",
            (lot, up_to),
        )
        return (int(got[0][0]), bytes(got[0][1])) if got else None

    def closed_lot_size(self, lot: str, up_to: int) -> int | None:
        got = self._closed(
            f"looking up closed lot {lot!r}",
            "SELECT MAX(size) FROM closed_lots WHERE lot = %s AND size <= %s",
            (lot, up_to),
        )
        return int(got[0][0]) if got and got[0][0] is not None else None

    def closed_lot_count(self, up_to: int) -> int:
        got = self._closed(
            "counting the closed lots", "SELECT COUNT(DISTINCT lot) FROM closed_lots WHERE size <= %s", (up_to,)
        )
        return int(got[0][0]) if got else 0

    def closed_lot_ids(self, up_to: int) -> Iterator[str]:
        after = ""
        while True:
            got = self._closed(
                "listing the closed lots",
                "SELECT DISTINCT lot FROM closed_lots WHERE lot > %s AND size <= %s ORDER BY lot LIMIT %s",
                (after, up_to, _CLOSED_CHUNK),
            )
            for (lot,) in got:
                yield lot
            if len(got) < _CLOSED_CHUNK:
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
            "SELECT lot FROM closed_lots WHERE size <= %s ORDER BY size DESC, lot LIMIT %s",
            (up_to, 2 * limit),
        )
        return list(dict.fromkeys(lot for (lot,) in got))[:limit]

    def _fetch_optional(self, table: str, what: str, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        """Rows of a table of OPTIONAL_TABLES; none for a read-only store on a database without the table."""
        pg = _psycopg()
        with self._mutex:
            try:
                return self._conn().cursor(binary=True).execute(sql, params).fetchall()
            except pg.errors.UndefinedTable:
                if self.readonly:
                    return []
                raise StoreError(f"{self.url}: {what} failed (the table {self.schema}.{table} is missing)") from None
            except pg.Error as exc:
                raise StoreError(f"{self.url}: {what} failed ({_reason(exc)})") from None

    def close(self) -> None:
        """Close the connection (ending the session releases the writer's advisory lock)."""
        with self._mutex:
            if self._db is not None and not self._db.closed:
                self._db.close()

    def __repr__(self) -> str:
        mode = "readonly" if self.readonly else "writer"
        return f"PostgresStore({self.url!r}, schema={self.schema!r}, {mode})"

    # -- statements ---------------------------------------------------------------------------

    def _execute(self, what: str, sql: str, params: Sequence[Any]) -> psycopg.Cursor[Any]:
        pg = _psycopg()
        with self._mutex:
            try:
                return self._conn().cursor(binary=True).execute(sql, params)
            except pg.Error as exc:
                raise StoreError(f"{self.url}: {what} failed ({_reason(exc)})") from None

    def _fetchall(self, what: str, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        pg = _psycopg()
        with self._mutex:
            try:
                return self._conn().cursor(binary=True).execute(sql, params).fetchall()
            except pg.Error as exc:
                raise StoreError(f"{self.url}: {what} failed ({_reason(exc)})") from None

    def _fetchone(self, what: str, sql: str, params: Sequence[Any]) -> tuple[Any, ...] | None:
        pg = _psycopg()
        with self._mutex:
            try:
                return self._conn().cursor(binary=True).execute(sql, params).fetchone()
            except pg.Error as exc:
                raise StoreError(f"{self.url}: {what} failed ({_reason(exc)})") from None


def _columns(spec: list[tuple[str, str]]) -> str:
    return ", ".join(f"{name} {kind}" for name, kind in spec)


def _reason(exc: BaseException) -> str:
    """psycopg's message on one line (the server's primary message, without its context lines)."""
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag is not None else None
    text = primary or str(exc).strip() or type(exc).__name__
    return " ".join(text.split())
