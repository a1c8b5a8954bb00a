"""Snapshots (issue 17): a restart replays only the entries after the latest snapshot, and never trusts it.

- every snapshot the suite's live markets write equals the fold of the ledger prefix it claims;
- a restart from a snapshot gives the same market as a replay of everything (state bytes equal), and
  answers a repeated idempotency key with its first answer;
- a damaged, foreign or stale snapshot is ignored with a warning, and the full replay runs;
- an altered entry before the snapshot is caught by the background audit, which stops the market.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from auction_engine.lot_table import LotTable
from auction_engine.server.live import LiveMarket
from auction_engine.snapshot import check_snapshot, fold_state
from auction_engine.state_codec import encode_state
from auction_engine.vault import MarketVault
from ledger import CheckpointPolicy, SQLiteStore, canonical, leaf_hash
from ledger.merkle import MerkleTree
from ledger.startup import IntegrityError

from .conftest import Market, english, make_app, signer


def market_of(client: TestClient) -> LiveMarket:
    return client.app.state.market  # type: ignore[attr-defined, no-any-return]


def trade(m: Market, lots: int = 3) -> None:
    """Some market: bidders, English lots with deposits, bids (one under an idempotency key), a proxy."""
    m.admit("acme", "birch")
    for i in range(lots):
        m.open_lot(f"L{i}", params=english(), deposits={"acme": 1000, "birch": 1000})
        m.ok(f"/api/lots/L{i}/bids", {"amount": 10_000}, who="acme", idem=f"bid-{i}")
        m.ok(f"/api/lots/L{i}/proxy", {"max": 20_000}, who="birch")


def stored_snapshots(db: Path) -> list[tuple[int, bytes, bytes]]:
    store = SQLiteStore(db, readonly=True)
    try:
        return [(size, root, store.get_snapshot(size) or b"") for size, root in store.snapshots()]
    finally:
        store.close()


def stored_closed(db: Path, size: int) -> list[tuple[str, int, bytes]]:
    """The closed lots the store keeps for the snapshot at `size` (each one's newest version at or before it)."""
    store = SQLiteStore(db, readonly=True)
    try:
        return list(store.closed_lots(size))
    finally:
        store.close()


def check_all(db: Path) -> list[int]:
    """Check every stored snapshot against the fold of its prefix; the sizes checked."""
    store = SQLiteStore(db, readonly=True)
    try:
        raw = [row.data for row in store.rows()]
    finally:
        store.close()
    vault = MarketVault.from_signer(signer())
    sizes = []
    for size, root, blob in stored_snapshots(db):
        prefix_root = MerkleTree(map(leaf_hash, raw[:size])).root()
        verdict = check_snapshot(
            vault, signer().name, size, root, blob, raw[:size], prefix_root, stored_closed(db, size)
        )
        assert verdict.ok, verdict.message
        sizes.append(size)
    return sizes


def whole_state(db: Path) -> bytes:
    store = SQLiteStore(db, readonly=True)
    try:
        raw = [row.data for row in store.rows()]
    finally:
        store.close()
    state = fold_state(raw, MarketVault.from_signer(signer()))
    lots = state["engine"]["market"]["lots"]
    state["engine"]["market"]["lots"] = {lot_id: lots[lot_id] for lot_id in sorted(lots)}
    return encode_state(state)


def live_state(market: LiveMarket) -> bytes:
    """The live market's state with every lot, those in memory and the closed ones its store keeps."""
    state = market.engine.state()
    lots = market.engine.lots
    every = {lot_id: lots.peek(lot_id) for lot_id in lots} if isinstance(lots, LotTable) else dict(lots)
    state["market"]["lots"] = {lot_id: every[lot_id] for lot_id in sorted(every)}  # as whole_state orders them
    return encode_state({"engine": state, "indexes": market.indexes.state(market.log.last_time)})


def test_a_clean_stop_snapshots_and_the_restart_replays_nothing(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    with TestClient(make_app(db)) as client:
        m = Market(client, db, client.app)
        trade(m)
        first = m.ok("/api/lots/L0/bids", {"amount": 10_500}, who="acme", idem="again")
        size = market_of(client).log.size
    assert [s for s, _, _ in stored_snapshots(db)][-1] >= size
    assert check_all(db)
    with TestClient(make_app(db)) as client:
        market = market_of(client)
        assert market.restored_from == market.log.size and market.replayed == 0
        assert live_state(market) == whole_state(db)
        m = Market(client, db, client.app, tokens=dict(m.tokens))
        again = m.ok("/api/lots/L0/bids", {"amount": 10_500}, who="acme", idem="again")
        assert again["seq"] == first["seq"]  # its first answer, from the snapshot's keys
        market.background_audit.done.wait(10)  # type: ignore[union-attr]
        assert market.background_audit.ok is True  # type: ignore[union-attr]


def test_a_restart_replays_only_the_entries_after_the_snapshot(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    with TestClient(make_app(db, snapshot_every_entries=10)) as client:
        m = Market(client, db, client.app)
        trade(m, lots=4)
        market = market_of(client)
        m.wait_for(lambda: market.snapshots.taken > 0, what="a snapshot by entry count")
        tokens = dict(m.tokens)
    killed = db  # as after a kill -9: the stop's own snapshot removed, the one before covers less
    with contextlib.closing(sqlite3.connect(db)) as con, con:
        sizes = [row[0] for row in con.execute("SELECT size FROM snapshots ORDER BY size")]
        con.execute("DELETE FROM snapshots WHERE size = ?", (sizes[-1],))
    check_all(killed)
    with TestClient(make_app(killed)) as client:
        market = market_of(client)
        assert market.restored_from == sizes[-2] if len(sizes) > 1 else market.restored_from is None
        assert market.replayed == market.log.size - (market.restored_from or 0) > 0
        assert live_state(market) == whole_state(killed)
        m = Market(client, killed, client.app, tokens=tokens)
        m.ok("/api/lots/L1/bids", {"amount": 11_000}, who="acme")


def _flip_snapshot_byte(db: Path) -> None:
    with contextlib.closing(sqlite3.connect(db)) as con, con:
        size, data = con.execute("SELECT size, data FROM snapshots ORDER BY size DESC LIMIT 1").fetchone()
        damaged = bytearray(data)
        damaged[len(damaged) // 2] ^= 1
        con.execute("UPDATE snapshots SET data = ? WHERE size = ?", (bytes(damaged), size))


def _retarget_snapshot(db: Path) -> None:
    """The newest snapshot's blob moved to one entry less, under that size's true root: the seal names its
    own size and root, so it does not open there."""
    with contextlib.closing(sqlite3.connect(db)) as con, con:
        size, data = con.execute("SELECT size, data FROM snapshots ORDER BY size DESC LIMIT 1").fetchone()
        leaves = [
            bytes(leaf) for (leaf,) in con.execute("SELECT leaf FROM entries WHERE seq < ? ORDER BY seq", (size - 1,))
        ]
        con.execute("DELETE FROM snapshots")
        root = MerkleTree(leaves).root()
        con.execute("INSERT INTO snapshots (size, root, data) VALUES (?, ?, ?)", (size - 1, root, data))


@pytest.mark.parametrize("damage", [_flip_snapshot_byte, _retarget_snapshot])
def test_a_snapshot_that_does_not_open_or_match_is_ignored_with_a_warning(
    tmp_path: Path, damage: Any, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "ledger.db"
    with TestClient(make_app(db)) as client:
        trade(Market(client, db, client.app), lots=2)
    damage(db)
    caplog.set_level(logging.WARNING, logger="auction_engine.server")
    with TestClient(make_app(db)) as client:
        market = market_of(client)
        assert market.restored_from is None and market.replayed == market.log.size
        assert live_state(market) == whole_state(db)
    assert any("snapshot ignored" in r.getMessage() for r in caplog.records)


def alter_entry(db: Path, seq: int) -> None:
    with contextlib.closing(sqlite3.connect(db)) as con, con:
        (data,) = con.execute("SELECT data FROM entries WHERE seq = ?", (seq,)).fetchone()
        entry = canonical.decode(data)
        entry["note"] = "altered"
        con.execute("UPDATE entries SET data = ? WHERE seq = ?", (canonical.encode(entry), seq))


def test_an_entry_altered_after_the_latest_checkpoint_is_refused_before_serving(tmp_path: Path) -> None:
    """The entries the log's tail repair would read (after the latest checkpoint) are checked before it opens."""
    db = tmp_path / "ledger.db"
    with TestClient(make_app(db, policy=CheckpointPolicy(every_entries=None, every_ms=None))) as client:
        trade(Market(client, db, client.app), lots=2)
    size = stored_snapshots(db)[-1][0]
    alter_entry(db, size - 2)
    with pytest.raises(IntegrityError, match=f"entry {size - 2}: its bytes do not match the stored leaf hash"):
        make_app(db)


def test_an_entry_altered_before_the_snapshot_stops_the_market_once_the_background_audit_finds_it(
    tmp_path: Path,
) -> None:
    db = tmp_path / "ledger.db"
    with TestClient(make_app(db)) as client:
        m = Market(client, db, client.app)
        trade(m, lots=2)
        tokens = dict(m.tokens)
    with TestClient(make_app(db)):
        pass  # a start signs a checkpoint of everything: the snapshot and entry 3 are before it
    alter_entry(db, 3)
    with TestClient(make_app(db)) as client:
        market = market_of(client)
        assert market.restored_from is not None  # served at once, from the snapshot
        market.background_audit.done.wait(10)  # type: ignore[union-attr]
        assert market.background_audit.ok is False  # type: ignore[union-attr]
        deadline = time.monotonic() + 5
        while market.stopped is None and time.monotonic() < deadline:
            client.get("/api/health")
            time.sleep(0.05)
        assert market.stopped is not None and "entry 3" in market.stopped
        m = Market(client, db, client.app, tokens=tokens)
        r = m.post("/api/lots/L0/bids", {"amount": 12_000}, who="acme")
        assert r.status_code == 503


def test_ledger_replay_with_the_key_checks_every_snapshot_and_fails_on_a_damaged_one(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from auction_engine.cli import main

    db = tmp_path / "ledger.db"
    with TestClient(make_app(db)) as client:
        trade(Market(client, db, client.app), lots=1)
    key = tmp_path / "market.key"
    key.write_text(signer().encode() + "\n")
    args = ["ledger", "replay", str(db), "--vkey", signer().verifier.encode(), "--key", str(key)]
    done = CliRunner().invoke(main, args)
    assert done.exit_code == 0 and "OK: equals the fold" in done.output, done.output
    _flip_snapshot_byte(db)
    done = CliRunner().invoke(main, args)
    assert done.exit_code == 1 and "FAILED: the snapshot at" in done.output, done.output
