"""Closed lots leave memory (issue 17): each snapshot writes them to the store and drops them; they are read back.

- after a snapshot, a closed lot is no longer in memory, yet its view, its place in the listing and a
  command naming it answer as before (the command's refusal is the one a replay of the ledger gives);
- every snapshot, with the closed lots stored beside it, equals the fold of the ledger prefix it claims,
  and a restart gives the state of a replay of everything;
- a restart from an older snapshot than the newest reads each closed lot as it stood then, not a
  version written after;
- a damaged closed lot makes its snapshot unusable (the next one back, or the full replay, is used).
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from click.testing import CliRunner
from starlette.testclient import TestClient

from auction_engine.cli import main
from auction_engine.lot_table import LotTable
from auction_engine.server.live import LiveMarket

from .conftest import Market, english, make_app, signer
from .test_snapshots import check_all, live_state, market_of, whole_state


def lots_of(market: LiveMarket) -> LotTable:
    lots = market.engine.lots
    assert isinstance(lots, LotTable)
    return lots


def some_closed(m: Market, closed: int = 3, open_: int = 2) -> None:
    """Lots C0.. withdrawn (closed: no sale, no deadline), lots O0.. open with a bid each."""
    m.admit("acme", "birch")
    for i in range(closed):
        m.open_lot(f"C{i}", params=english(), deposits={"acme": 1000})
        m.ok(f"/api/lots/C{i}/withdraw", {"grounds": "the seller withdrew it"})
    for i in range(open_):
        m.open_lot(f"O{i}", params=english(), deposits={"acme": 1000, "birch": 1000})
        m.ok(f"/api/lots/O{i}/bids", {"amount": 10_000}, who="acme")


def snapshot_now(client: TestClient) -> None:
    market = market_of(client)
    taken = market.snapshots.taken
    client.portal.call(market.snapshots.take)  # type: ignore[union-attr]
    assert market.snapshots.taken == taken + 1


def test_a_snapshot_takes_closed_lots_out_of_memory_and_they_still_answer(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    with TestClient(make_app(db)) as client:
        m = Market(client, db, client.app)
        some_closed(m)
        market = market_of(client)
        before = m.view("C1")
        listed = {v["lot"] for v in client.get("/api/lots").json()["lots"]}
        snapshot_now(client)
        lots = lots_of(market)
        assert sorted(lots.live) == ["O0", "O1"]  # the closed ones left memory
        assert len(lots) == 5 and "C1" in lots and "C9" not in lots
        assert m.view("C1") == before  # read back from the store, the same view
        assert {v["lot"] for v in client.get("/api/lots").json()["lots"]} == listed
        assert client.get("/api/market").json()["lots"] == 5
        refused = m.post("/api/lots/C1/bids", {"amount": 10_000}, who="acme")
        assert refused.status_code == 409 and refused.json()["code"] == "lot_closed", refused.text
        assert "C1" in lots.live  # named again: back in memory until the next snapshot writes it out
        snapshot_now(client)
        assert sorted(lots.live) == ["O0", "O1"]
        m.ok("/api/lots/O0/bids", {"amount": 10_100}, who="birch")
        tokens = dict(m.tokens)
    assert check_all(db)
    with TestClient(make_app(db)) as client:
        market = market_of(client)
        assert market.restored_from is not None
        assert sorted(lots_of(market).live) == ["O0", "O1"]
        assert live_state(market) == whole_state(db)
        m = Market(client, db, client.app, tokens=tokens)
        refused = m.post("/api/lots/C2/deposits", {"party": "birch", "amount": 1000})
        assert refused.status_code == 409 and refused.json()["code"] == "lot_closed", refused.text
    assert check_all(db)
    result = CliRunner().invoke(main, ["ledger", "replay", str(db), "--vkey", _vkey(tmp_path), "--key", _key(tmp_path)])
    assert result.exit_code == 0, result.output


def test_a_restart_from_an_older_snapshot_reads_closed_lots_as_they_stood_then(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    with TestClient(make_app(db)) as client:
        m = Market(client, db, client.app)
        some_closed(m)
        snapshot_now(client)  # C0..C2 stored at this size
        for _ in range(2):  # C0 named again twice: a newer version of it comes with the next snapshot
            m.post("/api/lots/C0/bids", {"amount": 10_000}, who="acme")
        snapshot_now(client)
        tokens = dict(m.tokens)
    with contextlib.closing(sqlite3.connect(db)) as con, con:
        versions = [row[0] for row in con.execute("SELECT size FROM closed_lots WHERE lot = 'C0' ORDER BY size")]
        assert len(versions) == 2
        newest = con.execute("SELECT MAX(size) FROM snapshots").fetchone()[0]
        con.execute("DELETE FROM snapshots WHERE size = ?", (newest,))  # as if it was damaged, or never written
    with TestClient(make_app(db)) as client:
        market = market_of(client)
        assert market.restored_from == versions[0]  # the older snapshot: C0 as it stood then, then the tail
        assert live_state(market) == whole_state(db)
        m = Market(client, db, client.app, tokens=tokens)
        refused = m.post("/api/lots/C0/bids", {"amount": 10_000}, who="acme")
        assert refused.json()["code"] == "lot_closed"
    assert check_all(db)


def test_a_damaged_closed_lot_stops_the_market_and_the_next_start_rebuilds_from_the_ledger(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    with TestClient(make_app(db)) as client:
        m = Market(client, db, client.app)
        some_closed(m)
        snapshot_now(client)
        tokens = dict(m.tokens)
    with contextlib.closing(sqlite3.connect(db)) as con, con:
        for size, data in con.execute("SELECT size, data FROM closed_lots WHERE lot = 'C1'").fetchall():
            damaged = bytearray(data)
            damaged[-1] ^= 1
            con.execute("UPDATE closed_lots SET data = ? WHERE lot = 'C1' AND size = ?", (bytes(damaged), size))
    with TestClient(make_app(db)) as client:
        market = market_of(client)
        assert market.restored_from is not None  # nothing in its tail needs C1
        r = client.get("/api/lots/C1")
        assert r.status_code == 503 and "C1" in r.text, r.text  # found on use: the market stops, precisely
        m = Market(client, db, client.app, tokens=tokens)
        assert m.post("/api/lots/O0/bids", {"amount": 10_100}, who="birch").status_code == 503
    with TestClient(make_app(db)) as client:
        market = market_of(client)
        assert market.restored_from is None and market.distrusted  # the whole ledger replayed
        assert live_state(market) == whole_state(db)
        assert client.get("/api/lots/C1").status_code == 200
    with TestClient(make_app(db)) as client:  # the stop's snapshot wrote every closed lot again
        market = market_of(client)
        assert market.restored_from is not None and not market.distrusted
        assert "C1" not in lots_of(market).live and client.get("/api/lots/C1").status_code == 200
    assert check_all(db)


def _key(tmp_path: Path) -> str:
    path = tmp_path / "market.key"
    path.write_text(signer().encode() + "\n")
    return str(path)


def _vkey(tmp_path: Path) -> str:
    path = tmp_path / "market.vkey"
    path.write_text(signer().verifier.encode() + "\n")
    return str(path)
