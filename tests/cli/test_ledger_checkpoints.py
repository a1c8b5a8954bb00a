"""`auction-engine ledger checkpoints DB [--json]` lists the signed sizes; a `--size` never signed names them."""

from __future__ import annotations

import base64
import json
import sqlite3
from pathlib import Path

from click.testing import CliRunner, Result

from auction_engine.cli import main
from auction_engine.clock import ManualClock
from auction_engine.engine import Engine
from auction_engine.model import HOUR
from ledger import CheckpointPolicy, Log, Signer, SQLiteStore

SIGNER = Signer("test.market", bytes(32))
T0 = 1_796_627_445_000  # 2026-12-07 15:10:45 +08:00 (07:10:45 UTC)


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def ledger(tmp_path: Path, params: dict[str, int] | None = None) -> tuple[Path, dict[int, str]]:
    """A market's ledger with checkpoints at 3 and 5 entries (and the last, 6); its roots by size, base64."""
    path = tmp_path / "market.db"
    log = Log(SQLiteStore(path), SIGNER, policy=CheckpointPolicy(every_entries=3, every_ms=None))
    clock = ManualClock(T0)
    engine = Engine(market="test.market", clock=clock, log=log, params=params)
    for i in range(5):  # genesis, then five refused commands: entries 1-5, one a second apart
        clock.advance(T0 + (i + 1) * 1000)
        engine.submit({"op": "bid", "actor": "A", "lot": "L1", "amount": 100})
    log.sign_checkpoint()
    log.commit()
    roots = {c.size: base64.b64encode(log.tree.root(c.size)).decode() for c in log.checkpoints}
    log.close()
    return path, roots


def test_lists_every_signed_size_with_its_last_entry_time_and_root(tmp_path: Path) -> None:
    path, roots = ledger(tmp_path)
    assert sorted(roots) == [3, 6]
    result = run("ledger", "checkpoints", str(path))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"ledger {path}: 2 signed checkpoints of its 6 entries"
    assert lines[1].split() == ["size", "covers", "entries", "last", "entry", "at", "root"]
    # entry 2 was written at T0 + 2 s, entry 5 at T0 + 5 s: shown in the market's time (UTC+08:00)
    assert lines[2].split() == ["3", "0–2", "2026-12-07", "15:10:47", "+08:00", roots[3]]
    assert lines[3].split() == ["6", "0–5", "2026-12-07", "15:10:50", "+08:00", roots[6]]


def test_json_keeps_machine_fields(tmp_path: Path) -> None:
    path, roots = ledger(tmp_path)
    result = run("ledger", "checkpoints", str(path), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {
        "origin": "test.market",
        "entries": 6,
        "checkpoints": [
            {"size": 3, "root": roots[3], "last_entry_t": T0 + 2000},
            {"size": 6, "root": roots[6], "last_entry_t": T0 + 5000},
        ],
    }


def test_times_follow_the_markets_offset(tmp_path: Path) -> None:
    path, _ = ledger(tmp_path, params={"utc_offset_ms": HOUR})
    result = run("ledger", "checkpoints", str(path))
    assert result.exit_code == 0, result.output
    assert "2026-12-07 08:10:47 +01:00" in result.output


def test_a_size_never_signed_names_the_nearest_and_the_listing(tmp_path: Path) -> None:
    path, _ = ledger(tmp_path)
    for args in (["checkpoint", str(path), "--size", "4"], ["prove", str(path), "1", "--size", "4"]):
        result = run("ledger", *args)
        assert result.exit_code == 2, result.output
        assert "no signed checkpoint of size 4 (the nearest signed sizes are 3 and 6, of 2" in result.stderr
        assert f"`auction-engine ledger checkpoints {path}` lists the sizes signed" in result.stderr
    below = run("ledger", "checkpoint", str(path), "--size", "2")
    assert below.exit_code == 2 and "the nearest signed size is 3, of 2 signed checkpoints" in below.stderr


def test_an_unreadable_stored_checkpoint_fails_naming_it(tmp_path: Path) -> None:
    path, _ = ledger(tmp_path)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE checkpoints SET note = 'not a note' WHERE size = 3")
    result = run("ledger", "checkpoints", str(path))
    assert result.exit_code == 1, result.output
    assert "FAIL the checkpoint stored for size 3 is not a checkpoint note" in result.output


def test_an_empty_ledger_has_none_and_a_missing_one_exits_2(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    Log(SQLiteStore(empty), SIGNER).close()
    result = run("ledger", "checkpoints", str(empty))
    assert result.exit_code == 0 and result.output == f"ledger {empty}: 0 signed checkpoints of its 0 entries\n"
    assert run("ledger", "checkpoints", str(tmp_path / "absent.db")).exit_code == 2
