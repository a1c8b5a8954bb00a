"""The stored tiles are audited: a damaged, missing or left-over tile is a problem naming `tile L/N`.

The audit recomputes every tile from the entries' bytes; the live server's start-up check
(`ledger.startup.verify_stored`) is that audit, so it refuses a ledger whose tiles are damaged.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from auction_engine.cli import main
from ledger import CheckpointPolicy, Log, Signer, audit_store
from ledger.startup import IntegrityError, verify_stored
from ledger.store import SQLiteStore

SIGNER = Signer("tiles-audit.test.example", bytes(range(32)))
N = 70_000  # level 1: 273 hashes (tile 1/0 full, 1/1 partial of 17); level 2: tile 2/0 of 1 hash


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tiles") / "ledger.db"
    log = Log(SQLiteStore(path), SIGNER, policy=CheckpointPolicy(every_entries=10_000, every_ms=None))
    for i in range(N):
        log.append("x", {"i": i}, t=i)
        if i % 4096 == 0:
            log.commit()
    log.sign_checkpoint()
    log.close()
    return path


@pytest.fixture
def ledger(built: Path, tmp_path: Path) -> Path:
    """A fresh copy of the built ledger, for a test to damage."""
    copy = tmp_path / "ledger.db"
    with contextlib.closing(sqlite3.connect(built)) as src, contextlib.closing(sqlite3.connect(copy)) as dst:
        src.backup(dst)
    return copy


def problems(path: Path) -> list[tuple[str, str]]:
    store = SQLiteStore(path, readonly=True)
    try:
        return [(p.code, p.message) for p in audit_store(store, SIGNER.verifier).problems]
    finally:
        store.close()


def sql(path: Path, statement: str, params: tuple[object, ...] = ()) -> None:
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.execute(statement, params)


def test_intact_tiles_pass(ledger: Path) -> None:
    assert problems(ledger) == []
    with contextlib.closing(sqlite3.connect(ledger)) as db:
        stored = db.execute("SELECT level, idx, length(hashes) FROM tiles ORDER BY level, idx").fetchall()
    assert stored == [(1, 0, 8192), (1, 1, 17 * 32), (2, 0, 32)]


@pytest.mark.parametrize(("level", "idx", "offset"), [(1, 0, 5000), (1, 1, 0), (2, 0, 31)])
def test_a_damaged_tile_is_caught(ledger: Path, level: int, idx: int, offset: int) -> None:
    sql(
        ledger,
        "UPDATE tiles SET hashes = substr(hashes, 1, ?) || ? || substr(hashes, ?) WHERE level = ? AND idx = ?",
        (offset, b"\xff", offset + 2, level, idx),
    )
    found = problems(ledger)
    assert [code for code, _ in found] == ["tile"]
    assert found[0][1].startswith(f"tile {level}/{idx} (entries ")
    assert "do not match the entries (damaged)" in found[0][1]
    # The live server's start-up check refuses it, naming the tile.
    store = SQLiteStore(ledger, readonly=True)
    with pytest.raises(IntegrityError, match=rf"tile {level}/{idx} \(entries \d+…\d+\): its hashes do not match"):
        verify_stored(store, SIGNER)
    store.close()


def test_a_missing_and_a_left_over_tile_are_caught(ledger: Path) -> None:
    sql(ledger, "DELETE FROM tiles WHERE level = 1 AND idx = 0")
    sql(ledger, "INSERT INTO tiles VALUES (1, 7, zeroblob(64))")
    found = problems(ledger)
    assert [m.split(":")[0] for _, m in found] == ["tile 1/0 (entries 0…65535)", "tile 1/7 (entries 458752…524287)"]
    assert "missing from the store" in found[0][1]
    assert "entries do not reach it" in found[1][1]


def test_a_tile_of_the_wrong_length_is_caught(ledger: Path) -> None:
    sql(ledger, "UPDATE tiles SET hashes = substr(hashes, 1, 100) WHERE level = 1 AND idx = 0")
    sql(ledger, "UPDATE tiles SET hashes = hashes || x'00' WHERE level = 2 AND idx = 0")
    found = problems(ledger)
    assert [m for _, m in found] == [
        "tile 1/0 (entries 0…65535): holds 100 bytes where the entries make 8192",
        "tile 2/0 (entries 0…16777215): holds 33 bytes where the entries make 32",
    ]


def test_tiles_left_by_a_tail_cut_behind_the_logs_back(ledger: Path) -> None:
    sql(ledger, "DELETE FROM entries WHERE seq >= 69000")
    sql(ledger, "DELETE FROM checkpoints WHERE size > 69000")
    found = problems(ledger)
    assert [m.split(":")[0] for _, m in found] == ["tile 1/1 (entries 65536…131071)"]
    assert "beyond the 69000 entries (entries removed?)" in found[0][1]


def test_the_cli_names_the_tile(ledger: Path) -> None:
    sql(ledger, "UPDATE tiles SET hashes = zeroblob(8192) WHERE level = 1 AND idx = 0")
    vkey = SIGNER.verifier.encode()
    result = CliRunner().invoke(main, ["ledger", "verify", str(ledger), "--vkey", vkey])
    assert result.exit_code == 1
    assert "FAIL [tile] entry 0: tile 1/0 (entries 0…65535): its hashes do not match the entries" in result.stdout


def test_a_store_without_tiles_is_no_problem(ledger: Path) -> None:
    """An older ledger (no tiles yet) audits clean: the next writer builds them."""
    sql(ledger, "DELETE FROM tiles")
    assert problems(ledger) == []
    sql(ledger, "DROP TABLE tiles")
    assert problems(ledger) == []


def test_a_damaged_tile_makes_a_writer_refuse_to_sign_on_it(ledger: Path) -> None:
    """The writer trusts the stored tree when it opens; it checks the latest checkpoints against it."""
    sql(ledger, "UPDATE tiles SET hashes = zeroblob(8192) WHERE level = 1 AND idx = 0")
    with pytest.raises(Exception, match="does not match the entries \\(or their stored tiles\\)"):
        Log(SQLiteStore(ledger), SIGNER)
