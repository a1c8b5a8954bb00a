"""A store that fails or hangs makes the market unhealthy (503, /api/health) instead of hanging requests.

In process: a store whose writes can be made to fail or to hang, under the real application
(fast lane and routes). As a real process: writes held by a foreign SQLite write lock, then
SIGTERM, which must stop the server within a few seconds. Also the command size limit.
"""

from __future__ import annotations

import contextlib
import signal
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from auction_engine.server import create_app
from auction_engine.server.live import MAX_COMMAND_BYTES, LiveMarket
from ledger import CheckpointPolicy, EntryTooLarge, SQLiteStore, StoreError, canonical
from ledger.store import Row, StoredCheckpoint, Tile

from .conftest import OP_TOKEN, LiveServer, Market, english, http_json, signer


class FlakyStore:
    """A SQLite store whose commits fail while `fail` is set, and wait while `hold` is clear."""

    def __init__(self, path: Path) -> None:
        self.inner = SQLiteStore(path)
        self.fail = False
        self.hold = threading.Event()
        self.hold.set()

    def commit(
        self, rows: Sequence[Row], checkpoints: Sequence[StoredCheckpoint] = (), tiles: Sequence[Tile] = ()
    ) -> None:
        self.hold.wait(30)
        if self.fail:
            raise StoreError("simulated: No space left on device")
        self.inner.commit(rows, checkpoints, tiles)

    def __getattr__(self, name: str) -> Any:  # everything else is the SQLite store's
        return getattr(self.inner, name)


@pytest.fixture
def flaky(tmp_path: Path) -> Iterator[tuple[Market, FlakyStore]]:
    store = FlakyStore(tmp_path / "ledger.db")
    app = create_app(
        store,  # type: ignore[arg-type]
        signer(),
        operator_token=OP_TOKEN,
        tick_ms=100,
        policy=CheckpointPolicy(every_entries=50, every_ms=200),
        heartbeat_s=0.2,
    )
    try:
        with TestClient(app) as client:
            m = Market(client, tmp_path / "ledger.db", app)
            m.admit("acme", "birch")
            m.open_lot("L1", deposits={"acme": 1000, "birch": 1000})
            yield m, store
    finally:
        store.hold.set()


def health(m: Market) -> tuple[int, dict[str, Any]]:
    r = m.client.get("/api/health")
    return r.status_code, r.json()


def bids_with_key(db: Path, key: str) -> int:
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as con:
        entries = [canonical.decode(d) for (d,) in con.execute("SELECT data FROM entries")]
    return sum(1 for e in entries if e["kind"] == "bid" and e.get("idem") == key)


def test_health_is_200_while_serving(flaky: tuple[Market, FlakyStore]) -> None:
    m, _ = flaky
    status, body = health(m)
    assert status == 200 and body["ok"] is True and body["state"] == "serving" and "reason" not in body
    assert body["entries"] >= 4 and body["pending"] == 0 and isinstance(body["server_time"], int)
    spec = m.client.get("/openapi.json").json()["paths"]["/api/health"]["get"]["responses"]
    assert set(spec) == {"200", "503"}


def test_failing_writes_answer_503_at_once_and_the_market_resumes(flaky: tuple[Market, FlakyStore]) -> None:
    m, store = flaky
    store.fail = True
    started = time.monotonic()
    r = m.post("/api/lots/L1/bids", {"amount": 10_000}, who="acme", idem="bid-1")  # the fast lane
    assert time.monotonic() - started < 3
    assert r.status_code == 503, r.text
    body = r.json()
    assert body["code"] == "ledger_unavailable" and "simulated: No space left on device" in body["message"]
    assert "retry with the same Idempotency-Key" in body["message"]
    status, h = health(m)
    assert status == 503 and h["ok"] is False and h["state"] == "unwritable" and h["pending"] >= 1
    assert "the ledger store cannot be written: simulated: No space left on device" in h["reason"]
    for path, body_in in [("/api/lots/L1/deposits", {"party": "birch", "amount": 5}), ("/api/lots/L1/bids", None)]:
        started = time.monotonic()
        r = m.post(path, body_in or {"amount": 10_100}, who=None if "deposits" in path else "birch")
        assert r.status_code == 503 and time.monotonic() - started < 1, r.text  # new commands: refused at once
    store.fail = False
    m.wait_for(lambda: health(m)[0] == 200, timeout=10, what="the market to resume")
    again = m.post("/api/lots/L1/bids", {"amount": 10_000}, who="acme", idem="bid-1")
    assert again.status_code == 200 and again.json()["replayed"] is True  # it was kept, and written once
    assert bids_with_key(m.db, "bid-1") == 1
    assert m.view("L1")["price"] == 10_000


def test_a_hung_write_answers_503_after_the_write_timeout(flaky: tuple[Market, FlakyStore]) -> None:
    m, store = flaky
    m.app.state.market.write_timeout = 0.4  # (the default, 5 s, would make the test slow)
    store.hold.clear()
    started = time.monotonic()
    r = m.post("/api/lots/L1/deposits", {"party": "acme", "amount": 7})  # a framework route, not the fast lane
    waited = time.monotonic() - started
    assert r.status_code == 503 and 0.3 < waited < 3, (r.status_code, waited, r.text)
    assert "the ledger store has not finished a write in 0.4s" in r.json()["message"]
    assert health(m)[1]["state"] == "unwritable"
    store.hold.set()
    m.wait_for(lambda: health(m)[0] == 200, timeout=10, what="the held write to finish")
    assert m.client.get("/api/lots/L1").json()["view"]["phase"] == "free"


def test_a_stopped_market_refuses_commands_with_its_reason(flaky: tuple[Market, FlakyStore]) -> None:
    m, _ = flaky
    m.app.state.market.halt("entry 12 no longer matches its signed leaf (a test)")
    status, h = health(m)
    assert status == 503 and h["state"] == "stopped"
    assert h["reason"] == "the market is stopped: entry 12 no longer matches its signed leaf (a test)"
    r = m.post("/api/lots/L1/bids", {"amount": 10_000}, who="acme")
    assert r.status_code == 503 and "entry 12 no longer matches" in r.json()["message"]


def test_an_oversized_command_is_refused_before_the_rules_run(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "ledger.db")
    market = LiveMarket(store, signer())
    try:
        size = market.log.size
        cmd = {"op": "open_lot", "actor": "operator", "lot": "L1", "mode": "english", "params": english()}
        with pytest.raises(EntryTooLarge) as refused:
            market.submit({**cmd, "title": "技" * 12_000})  # 36,000 bytes of UTF-8
        assert f"more than the limit of {MAX_COMMAND_BYTES} bytes per command" in str(refused.value)
        assert isinstance(refused.value, ValueError)  # the routes' 422 for a command the engine refuses
        assert market.log.size == size and "L1" not in market.engine.lots  # nothing recorded, nothing changed
        assert market.submit({**cmd, "title": "技" * 1000}).ok  # a normal one runs, its lot numbering unaffected
        assert market.log.size == size + 1 and market.log.entry(size)["lot_seq"] == 0
    finally:
        market.io.shutdown()
        store.close()


@pytest.mark.parametrize("kind", ["granian", "uvicorn"])
def test_sigterm_stops_the_server_within_seconds_while_its_writes_are_held(tmp_path: Path, kind: str) -> None:
    server = LiveServer(tmp_path, extra=["--write-timeout", "1", "--server", kind])
    server.start()
    intruder = None
    try:
        base = server.url
        assert http_json("POST", f"{base}/api/lots", {"lot": "L1", "mode": "english", "params": english()})[0] == 200
        token = http_json("POST", f"{base}/api/bidders", {"bidder": "acme"})[1]["token"]
        assert http_json("POST", f"{base}/api/lots/L1/deposits", {"party": "acme", "amount": 1000})[0] == 200
        intruder = sqlite3.connect(server.db, isolation_level=None)
        intruder.execute("BEGIN IMMEDIATE")  # SQLite's own write lock, held by someone else: writes wait
        started = time.monotonic()
        status, body = http_json("POST", f"{base}/api/lots/L1/bids", {"amount": 10_000}, token=token, idem="held")
        assert status == 503 and time.monotonic() - started < 4, (status, body)
        assert http_json("GET", f"{base}/api/health")[0] == 503
        assert server.proc is not None
        started = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        code = server.proc.wait(timeout=10)
        stopped = time.monotonic() - started
        assert stopped < 5, f"SIGTERM took {stopped:.1f}s"
        assert code == 2, server.stderr()
        assert "ledger entries not written" in server.stderr() and "Traceback" not in server.stderr()
        server.proc = None
    finally:
        if intruder is not None:
            intruder.execute("ROLLBACK")
            intruder.close()
        server.stop()
    server.start()  # the unacknowledged bid is not there; the market serves again
    try:
        assert http_json("GET", f"{server.url}/api/health")[0] == 200
        assert bids_with_key(server.db, "held") == 0
    finally:
        server.stop()
