"""The deadline race: hundreds of bidders bidding at the close of a real server.

No bid is accepted after the close; every acknowledgement names the ledger entry that records
exactly that bid and outcome; and the ledger's order agrees with the acknowledgements: a bid sent
after another bid's acknowledgement arrived comes later in the ledger.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from auction_engine.replay import replay
from ledger import audit_store, canonical, open_store

from .conftest import LiveServer, english, http_json, signer
from .loadclient import Answer, Conn

START, INCREMENT = 10_000, 100


def _ledger(db: Path) -> list[bytes]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return [r[0] for r in con.execute("SELECT data FROM entries ORDER BY seq")]
    finally:
        con.close()


async def _admit(server: LiveServer, n: int, lot: str) -> list[tuple[str, str]]:
    conn = Conn(server.port)
    bidders = []
    for i in range(n):
        name = f"r{i:03d}"
        a = await conn.request("POST", "/api/bidders", {"bidder": name}, token="test-operator-token-0123456789")
        assert a.status == 200, a.body
        d = await conn.request(
            "POST", f"/api/lots/{lot}/deposits", {"party": name, "amount": 1000}, token="test-operator-token-0123456789"
        )
        assert d.status == 200, d.body
        bidders.append((name, a.body["token"]))
    conn.close()
    return bidders


async def _race(server: LiveServer, bidders: list[tuple[str, str]], close_at_ms: int, window_ms: int, per_bidder: int):
    """Every bidder sends `per_bidder` bids at random instants in [close - window, close + window]."""
    base = time.time()
    rng = random.Random(7)
    conns = [Conn(server.port) for _ in bidders]
    await asyncio.gather(*(c.open() for c in conns))
    results: list[tuple[str, int, Answer]] = []

    async def bidder(conn: Conn, name: str, token: str) -> None:
        times = sorted(close_at_ms / 1000 + rng.uniform(-window_ms, window_ms) / 1000 for _ in range(per_bidder))
        for at in times:
            delay = at - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            # amounts rise with the wall clock (µs), so later bids outbid earlier ones
            amount = START + INCREMENT * (int((time.time() - base) * 1e6) * 10 + rng.randrange(10) + 1)
            answer = await conn.request("POST", "/api/lots/RACE/bids", {"amount": amount}, token=token)
            results.append((name, amount, answer))

    await asyncio.gather(*(bidder(c, n, t) for c, (n, t) in zip(conns, bidders, strict=True)))
    for c in conns:
        c.close()
    return results


def _check(db: Path, results: list[tuple[str, int, Answer]], close_at: int) -> dict[str, Any]:
    raw = _ledger(db)
    entries = [canonical.decode(d) for d in raw]
    close = next(e for e in entries if e["kind"] == "close" and e.get("lot") == "RACE")
    assert close["t"] == close_at  # the close is stamped with the deadline itself
    bids = [e for e in entries if e["kind"] == "bid" and e.get("lot") == "RACE"]
    accepted = [e for e in bids if e["ok"]]
    assert accepted, "no bid was accepted before the close"
    assert all(e["seq"] < close["seq"] and e["t"] < close["t"] for e in accepted), "a bid was accepted after the close"
    assert all(not e["ok"] for e in bids if e["seq"] > close["seq"])
    late = [e for e in bids if e["seq"] > close["seq"]]
    assert late, "no bid arrived after the close: the race did not straddle it"
    assert {e["reason"] for e in late} <= {"lot_closed", "late_bid"}
    # every acknowledgement is the entry that records it
    seqs = set()
    for name, amount, answer in results:
        assert answer.status in (200, 409), answer.body
        seq = answer.body["seq"]
        assert seq not in seqs
        seqs.add(seq)
        e = entries[seq]
        assert e["kind"] == "bid" and e["actor"] == name and e["amount"] == amount, (answer.body, e)
        assert e["ok"] is (answer.status == 200)
        if answer.status != 200:
            assert e["reason"] == answer.body["code"]
    assert len(seqs) == len(bids) == len(results)
    # the ledger's order agrees with the acknowledgements
    events = sorted(
        [(a.received, 1, a.body["seq"]) for _, _, a in results] + [(a.sent, 0, a.body["seq"]) for _, _, a in results]
    )
    highest_acked = -1
    for _, kind, seq in events:
        if kind == 0:
            assert seq > highest_acked, f"entry {seq} was sent after entry {highest_acked} was acknowledged"
        else:
            highest_acked = max(highest_acked, seq)
    deal = next(e for e in entries if e["kind"] == "deal" and e["lot"] == "RACE")
    best = max(accepted, key=lambda e: e["amount"])
    assert (deal["buyer"], deal["price"]) == (best["actor"], best["amount"])
    assert replay(raw).ok
    store = open_store(str(db), readonly=True)
    try:
        assert audit_store(store, signer().verifier).ok
    finally:
        store.close()
    return {"accepted": len(accepted), "late": len(late), "bids": len(bids)}


def _run_race(tmp_path: Path, n_bidders: int, per_bidder: int, window_ms: int) -> dict[str, Any]:
    server = LiveServer(tmp_path)
    server.start()
    try:
        setup_ms = 4000 + 12 * n_bidders
        params = english(free_ms=setup_ms, hard_close_ms=setup_ms, leader_may_raise=True)
        status, opened = http_json(
            "POST", f"{server.url}/api/lots", {"lot": "RACE", "mode": "english", "params": params}
        )
        assert status == 200, opened
        status, view = http_json("GET", f"{server.url}/api/lots/RACE")
        close_at = view["view"]["deadline"]
        bidders = asyncio.run(_admit(server, n_bidders, "RACE"))
        assert time.time() * 1000 < close_at - window_ms, "setting the bidders up took longer than the free period"
        results = asyncio.run(_race(server, bidders, close_at, window_ms, per_bidder))
        time.sleep(0.5)
    finally:
        server.stop()
    return _check(server.db, results, close_at)


def test_deadline_race_with_hundreds_of_bidders(tmp_path: Path) -> None:
    stats = _run_race(tmp_path, n_bidders=300, per_bidder=3, window_ms=400)
    assert stats["bids"] == 900 and stats["accepted"] >= 10 and stats["late"] >= 10


@pytest.mark.slow
def test_deadline_race_soak(tmp_path: Path) -> None:
    for i in range(5):
        run = tmp_path / f"run{i}"
        run.mkdir()
        stats = _run_race(run, n_bidders=500, per_bidder=6, window_ms=800)
        assert stats["bids"] == 3000
