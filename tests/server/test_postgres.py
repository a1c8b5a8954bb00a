"""`serve --db postgresql://…`: the live market on the PostgreSQL store, through a kill -9 and a restart.

The PostgreSQL server comes from the store tests' fixture (tests/store/conftest.py): a throwaway
cluster of its own, started for the session (installed with scripts/install-postgres.sh if needed).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from auction_engine.replay import replay
from auction_engine.server import create_app
from ledger import StoreError, audit_store, open_store
from tests.store.conftest import PgCluster, postgres_server  # noqa: F401 - the session fixture

from .conftest import OP_TOKEN, LiveServer, english, http_json, signer


def test_serve_on_postgresql_survives_kill_nine(postgres_server: PgCluster, tmp_path: Path) -> None:  # noqa: F811
    url = postgres_server.url(schema=postgres_server.new_schema())
    server = LiveServer(tmp_path, db_url=url)
    server.start()
    try:
        base = server.url
        assert http_json("POST", f"{base}/api/lots", {"lot": "L1", "mode": "english", "params": english()})[0] == 200
        status, body = http_json("POST", f"{base}/api/bidders", {"bidder": "acme"})
        token = body["token"]
        assert http_json("POST", f"{base}/api/lots/L1/deposits", {"party": "acme", "amount": 1000})[0] == 200
        status, ack = http_json("POST", f"{base}/api/lots/L1/bids", {"amount": 10_000}, token=token, idem="pg-1")
        assert status == 200, ack
        server.kill()
        server.start()
        base = server.url
        status, again = http_json("POST", f"{base}/api/lots/L1/bids", {"amount": 10_000}, token=token, idem="pg-1")
        assert status == 200 and again["seq"] == ack["seq"] and again["replayed"] is True
        view = http_json("GET", f"{base}/api/lots/L1")[1]["view"]
        assert view["leader"] == body["number"] and view["price"] == 10_000  # the public sees the number
        server.stop()
    finally:
        server.stop()
    store = open_store(url, readonly=True)
    try:
        assert audit_store(store, signer().verifier).ok
        assert replay([r.data for r in store.rows()]).ok
    finally:
        store.close()


def test_a_second_market_on_the_same_database_is_refused(postgres_server: PgCluster, tmp_path: Path) -> None:  # noqa: F811
    url = postgres_server.url(schema=postgres_server.new_schema())
    first = create_app(url, signer(), operator_token=OP_TOKEN)  # a writer: it holds the advisory lock
    try:
        with pytest.raises(StoreError, match="another writer has this ledger open: the advisory lock"):
            create_app(url, signer(), operator_token=OP_TOKEN)
        key = tmp_path / "market.key"
        key.write_text(signer().encode() + "\n")
        done = subprocess.run(
            [sys.executable, "-m", "auction_engine", "serve", "--db", url, "--key", str(key), "--port", "0",
             "--operator-token", OP_TOKEN],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 2, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "is held by backend pid" in lines[0] and "auction-engine-ledger" in lines[0]
    finally:
        first.state.market.store.close()
    again = create_app(url, signer(), operator_token=OP_TOKEN)  # the first one's session ended: free again
    again.state.market.store.close()
