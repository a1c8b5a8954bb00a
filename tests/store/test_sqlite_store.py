"""What only the SQLite store does: its writer's lock file, and one-line errors for a damaged file."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ledger import CheckpointPolicy, Log, Signer, audit_store
from ledger.store import SQLiteStore, StoreError
from ledger.store.sqlite import lock_path

from .conftest import make_rows

SIGNER = Signer("store.test.example", bytes(range(32)))

HOLDER = """
import sys, time
from ledger.store import SQLiteStore
store = SQLiteStore(sys.argv[1])
print("holding", flush=True)
time.sleep(60)
"""


def test_the_lock_file_names_its_holder_and_a_second_writer_is_told(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    writer = SQLiteStore(db)
    holder = lock_path(db).read_text()
    assert lock_path(db) == tmp_path / "ledger.db.lock"
    assert holder.startswith(f"pid {os.getpid()} on host {socket.gethostname()}, since 20")
    with pytest.raises(StoreError) as refused:
        SQLiteStore(db)
    message = str(refused.value)
    assert message.startswith(f"{db}: another writer has this ledger open: its lock {lock_path(db)} is held by")
    assert f"pid {os.getpid()} on host {socket.gethostname()}" in message and "\n" not in message
    writer.close()
    assert lock_path(db).read_text() == ""  # closed: no one holds it, and the file says so
    SQLiteStore(db).close()


def test_a_writer_in_another_process_is_named_and_its_death_frees_the_ledger(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    SQLiteStore(db).close()
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(db)], stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == b"holding\n"
        with pytest.raises(StoreError, match=f"is held by pid {proc.pid} on host "):
            SQLiteStore(db)
        reader = SQLiteStore(db, readonly=True)  # a reader needs no lock
        assert reader.size() == 0
        reader.close()
    finally:
        os.kill(proc.pid, signal.SIGKILL)  # no clean-up at all: the kernel drops the lock
        proc.wait(10)
    assert f"pid {proc.pid}" in lock_path(db).read_text()  # the stale file stays, and is no obstacle
    SQLiteStore(db).close()


def test_a_store_dropped_without_close_releases_its_lock(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    SQLiteStore(db).commit(make_rows(0, 2))  # never closed, garbage at once
    store = SQLiteStore(db)
    assert store.size() == 2
    store.close()


def test_a_failed_commit_is_one_store_error_and_the_store_stays_usable(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "ledger.db")
    store.commit(make_rows(0, 3))
    with pytest.raises(StoreError, match=r"commit \(nothing written\) failed \(UNIQUE constraint failed: entries\.seq"):
        store.commit(make_rows(2, 2))
    store.commit(make_rows(3, 1))
    assert store.size() == 4
    store.close()


def _ledger(path: Path, n: int) -> None:
    log = Log(SQLiteStore(path), SIGNER, policy=CheckpointPolicy(every_entries=500, every_ms=None))
    for i in range(n):
        log.append("test.entry", {"i": i, "text": f"entry number {i} " * 8}, t=i)
    log.sign_checkpoint()
    log.close()


def test_a_damaged_page_is_one_line_naming_the_file_never_a_driver_error(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    _ledger(db, 3000)
    size = db.stat().st_size
    assert size > 100_000
    with open(db, "r+b") as f:  # a run of garbage over a few pages in the middle of the file
        f.seek(size // 2)
        f.write(b"\xa5" * 9000)
    for readonly in (True, False):
        with pytest.raises(StoreError) as failed:  # at open (a reader counts the rows) or at the first read
            store = SQLiteStore(db, readonly=readonly)
            try:
                audit_store(store, SIGNER.verifier)
            finally:
                store.close()
        message = str(failed.value)
        assert message.startswith(f"{db}: ") and "\n" not in message
        assert "(database disk image is malformed); the file is damaged: restore it from a backup" in message


def test_a_file_that_is_no_database_is_refused_at_open(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    db.write_bytes(b"not a database at all " * 300)
    with pytest.raises(StoreError, match=r"cannot open as a ledger database \(file is not a database\)"):
        SQLiteStore(db)
    assert lock_path(db).read_text() == ""  # refused: the lock was let go again
    with pytest.raises(StoreError, match="not a ledger database"):
        SQLiteStore(db, readonly=True)


def test_writes_wait_for_a_foreign_write_lock_then_fail_as_a_store_error(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    store = SQLiteStore(db)
    store._db.execute("PRAGMA busy_timeout = 200")  # not the default 5 s: keep the test short
    intruder = sqlite3.connect(db, isolation_level=None)
    intruder.execute("BEGIN IMMEDIATE")  # a foreign process holding SQLite's own write lock
    started = time.monotonic()
    with pytest.raises(StoreError, match="database is locked"):
        store.commit(make_rows(0, 1))
    assert time.monotonic() - started < 5
    intruder.execute("ROLLBACK")
    intruder.close()
    store.commit(make_rows(0, 1))
    assert store.size() == 1
    store.close()


def test_damage_where_the_log_never_reads_is_found_by_the_structural_check(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    _ledger(db, 200)
    with contextlib.closing(sqlite3.connect(db)) as con:
        page_size = con.execute("PRAGMA page_size").fetchone()[0]
        (root,) = con.execute("SELECT rootpage FROM sqlite_master WHERE name = 'quarantine'").fetchone()
    with open(db, "r+b") as f:  # garbage over the (empty) quarantine table's only page
        f.seek((root - 1) * page_size)
        f.write(b"\x5a" * page_size)
    store = SQLiteStore(db, readonly=True)
    assert audit_store(store, SIGNER.verifier).ok  # every entry and checkpoint still reads and verifies
    with pytest.raises(StoreError) as damaged:
        store.check_structure()
    message = str(damaged.value)
    assert message.startswith(f"{db}: ") and "\n" not in message and "restore it from a backup" in message
    store.close()
    intact = tmp_path / "intact.db"
    _ledger(intact, 10)
    SQLiteStore(intact, readonly=True).check_structure()  # an intact file passes
