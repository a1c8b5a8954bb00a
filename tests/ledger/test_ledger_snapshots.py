"""Snapshot storage in every store: opaque blobs beside the ledger (put, list, get, keep the newest).

Run against MemoryStore, SQLiteStore and PostgresStore (a throwaway server of its own, started by the
fixtures of tests/store/conftest.py). Snapshots are not part of the ledger: a log opens, appends
and audits the same with or without them.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ledger import CheckpointPolicy, Log, Signer, audit_store
from ledger.store import MemoryStore, SQLiteStore, Store, StoreError
from tests.store.conftest import PgCluster, pg_url, postgres_server  # noqa: F401 - fixtures used below

ORIGIN = "snapshots.test.example"
SIGNER = Signer(ORIGIN, bytes(range(32)))
ROOT = bytes(range(32))

Opener = Callable[..., Store]


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """Opens the same storage again on each call (the memory store is just itself); closes them all at the end."""
    opened: list[Store] = []
    if request.param == "memory":
        memory = MemoryStore()

        def open_store(readonly: bool = False) -> Store:
            return memory
    elif request.param == "sqlite":

        def open_store(readonly: bool = False) -> Store:
            store = SQLiteStore(tmp_path / "ledger.db", readonly=readonly)
            opened.append(store)
            return store
    else:
        from ledger.store import PostgresStore

        url = request.getfixturevalue("pg_url")

        def open_store(readonly: bool = False) -> Store:
            store = PostgresStore(url, readonly=readonly)
            opened.append(store)
            return store

    yield open_store
    for store in opened:
        with contextlib.suppress(Exception):
            store.close()


def test_an_empty_store_has_no_snapshots(opener: Opener) -> None:
    store = opener()
    assert store.snapshots() == []
    assert store.get_snapshot(0) is None
    assert store.get_snapshot(10) is None


def test_put_get_replace_and_keep_the_newest(opener: Opener) -> None:
    store = opener()
    store.put_snapshot(10, ROOT, b"state at 10")
    assert store.snapshots() == [(10, ROOT)]
    assert store.get_snapshot(10) == b"state at 10"
    assert type(store.get_snapshot(10)) is bytes
    store.put_snapshot(20, b"\x01" * 32, b"state at 20")
    assert store.snapshots() == [(10, ROOT), (20, b"\x01" * 32)]
    # The default keep=2: a third drops the oldest.
    store.put_snapshot(30, b"\x02" * 32, b"state at 30")
    assert store.snapshots() == [(20, b"\x01" * 32), (30, b"\x02" * 32)]
    assert store.get_snapshot(10) is None
    # The same size again replaces it (root and data).
    store.put_snapshot(30, b"\x03" * 32, b"state at 30, again")
    assert store.snapshots() == [(20, b"\x01" * 32), (30, b"\x03" * 32)]
    assert store.get_snapshot(30) == b"state at 30, again"
    # An older one than those kept is put, then is itself the oldest beyond `keep`: gone at once.
    store.put_snapshot(5, ROOT, b"old")
    assert [size for size, _ in store.snapshots()] == [20, 30]
    # A larger keep keeps more; keep=1 only the newest.
    store.put_snapshot(40, ROOT, b"", keep=3)
    assert [size for size, _ in store.snapshots()] == [20, 30, 40]
    assert store.get_snapshot(40) == b""
    store.put_snapshot(50, ROOT, bytes(range(256)) * 4000, keep=1)  # ~1 MB blob
    assert store.snapshots() == [(50, ROOT)]
    assert store.get_snapshot(50) == bytes(range(256)) * 4000


def test_bad_arguments_are_refused_and_nothing_is_written(opener: Opener) -> None:
    store = opener()
    store.put_snapshot(1, ROOT, b"one")
    for size, root, data, keep in [
        (-1, ROOT, b"x", 2),
        (True, ROOT, b"x", 2),
        (2, "root", b"x", 2),
        (2, ROOT, "data", 2),
        (2, ROOT, b"x", 0),
        (2, ROOT, b"x", -3),
    ]:
        with pytest.raises(ValueError):
            store.put_snapshot(size, root, data, keep)  # type: ignore[arg-type]
    assert store.snapshots() == [(1, ROOT)]


def test_snapshots_are_not_part_of_the_ledger(opener: Opener) -> None:
    log = Log(opener(), SIGNER, policy=CheckpointPolicy(every_entries=3, every_ms=None))
    for i in range(7):
        log.append("test.entry", {"i": i}, t=i)
    log.commit()
    log.store.put_snapshot(6, log.tree.root(6), b"engine state")
    log.close()
    store = opener()
    assert store.snapshots()[0][0] == 6
    report = audit_store(store, SIGNER.verifier)
    assert report.ok, report.problems
    again = Log(store, SIGNER)
    assert again.size == 7
    assert again.store.get_snapshot(6) == b"engine state"


def test_snapshots_survive_reopening(opener: Opener) -> None:
    store = opener()
    store.put_snapshot(3, ROOT, b"three")
    store.put_snapshot(4, ROOT, b"four")
    store.close()
    again = opener()
    assert again.snapshots() == [(3, ROOT), (4, ROOT)]
    assert again.get_snapshot(4) == b"four"
    reader = opener(readonly=True)
    assert reader.snapshots() == [(3, ROOT), (4, ROOT)]
    assert reader.get_snapshot(3) == b"three"


# -- SQLite: read-only stores, older files, errors ----------------------------------------------


def _drop_snapshots_table(path: Path) -> None:
    """Make the file look like one written before snapshots existed."""
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.execute("DROP TABLE snapshots")


def test_sqlite_readonly_store_of_an_older_file_has_none(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    SQLiteStore(path).close()
    _drop_snapshots_table(path)
    reader = SQLiteStore(path, readonly=True)
    assert reader.snapshots() == []
    assert reader.get_snapshot(1) is None
    with pytest.raises(StoreError, match=r"old\.db: storing the snapshot of size 1 .*failed"):
        reader.put_snapshot(1, ROOT, b"x")
    reader.close()
    writer = SQLiteStore(path)  # a writer creates the missing table
    writer.put_snapshot(1, ROOT, b"x")
    writer.close()
    reader = SQLiteStore(path, readonly=True)
    assert reader.snapshots() == [(1, ROOT)]
    reader.close()


def test_sqlite_readonly_store_refuses_to_write_a_snapshot(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    SQLiteStore(path).close()
    reader = SQLiteStore(path, readonly=True)
    with pytest.raises(StoreError, match=r"storing the snapshot of size 7 \(nothing written\) failed .*readonly"):
        reader.put_snapshot(7, ROOT, b"x")
    reader.close()


def test_sqlite_errors_name_the_file_and_the_operation(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    store = SQLiteStore(path)
    store.put_snapshot(2, ROOT, b"x")
    store.close()
    for call, what in [
        (lambda: store.snapshots(), "reading the snapshots"),
        (lambda: store.get_snapshot(2), "reading the snapshot of size 2"),
        (lambda: store.put_snapshot(3, ROOT, b"y"), "storing the snapshot of size 3"),
    ]:
        with pytest.raises(StoreError, match=rf"ledger\.db: {what}.* failed"):
            call()


def test_sqlite_a_damaged_snapshot_row_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    SQLiteStore(path).close()
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        # A foreign writer with a schema of its own: the store's NOT NULL does not hold.
        db.execute("DROP TABLE snapshots")
        db.execute("CREATE TABLE snapshots (size INTEGER PRIMARY KEY, root BLOB, data BLOB)")
        db.execute("INSERT INTO snapshots VALUES (4, NULL, NULL)")
    store = SQLiteStore(path)
    with pytest.raises(StoreError, match="snapshot of size 4 has no root; damaged"):
        store.snapshots()
    with pytest.raises(StoreError, match="snapshot of size 4 has no data; damaged"):
        store.get_snapshot(4)
    store.close()


# -- PostgreSQL: the table on an older database -------------------------------------------------


def test_postgres_creates_the_table_on_an_older_database(pg_url: str, postgres_server: PgCluster) -> None:  # noqa: F811
    from ledger.store import PostgresStore

    PostgresStore(pg_url).close()
    schema = pg_url.rsplit("search_path%3D", 1)[1]
    postgres_server.sql(f"DROP TABLE {schema}.snapshots")
    reader = PostgresStore(pg_url, readonly=True)  # an older database still opens read-only, without snapshots
    assert reader.snapshots() == []
    assert reader.get_snapshot(1) is None
    with pytest.raises(StoreError, match=r"storing the snapshot of size 1 failed, nothing written"):
        reader.put_snapshot(1, ROOT, b"x")
    writer = PostgresStore(pg_url)  # a writer creates the missing table
    writer.put_snapshot(1, ROOT, b"x")
    writer.put_snapshot(2, ROOT, b"y")
    writer.put_snapshot(3, ROOT, b"z")
    assert reader.snapshots() == [(2, ROOT), (3, ROOT)]
    columns = postgres_server.sql(
        "SELECT column_name, data_type, is_nullable FROM information_schema.columns"
        " WHERE table_schema = %s AND table_name = 'snapshots' ORDER BY ordinal_position",
        (schema,),
    )
    assert columns == [("size", "bigint", "NO"), ("root", "bytea", "NO"), ("data", "bytea", "NO")]
    writer.close()
    reader.close()
    with pytest.raises(StoreError, match="closed"):
        reader.snapshots()
