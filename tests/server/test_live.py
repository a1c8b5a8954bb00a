"""The market on the wall clock: timers, restarts that resume them, refusing a ledger that does not replay."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from auction_engine.clock import ManualClock
from auction_engine.engine import Engine
from auction_engine.replay import ReplayMismatch, replay
from ledger import CheckpointPolicy, Log, SQLiteStore, canonical

from .conftest import OP_TOKEN, LiveServer, Market, english, http_json, make_app, signer


def ledger(db: Path) -> list[dict[str, Any]]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return [canonical.decode(r[0]) for r in con.execute("SELECT data FROM entries ORDER BY seq")]
    finally:
        con.close()


def raw_ledger(db: Path) -> list[bytes]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return [r[0] for r in con.execute("SELECT data FROM entries ORDER BY seq")]
    finally:
        con.close()


def test_countdown_restarts_on_every_bid_and_closes_on_the_wall_clock(market: Market) -> None:
    m = market
    m.admit("acme", "bolt")
    m.open_lot("L1", params=english(free_ms=200, countdown_ms=800), deposits={"acme": 1000, "bolt": 1000})
    m.wait_for(lambda: m.view("L1")["phase"] == "timed", what="timed bidding")
    deadlines = []
    for i, who in enumerate(("acme", "bolt", "acme")):
        ack = m.ok("/api/lots/L1/bids", {"amount": 10_000 + 100 * i}, who=who)
        deadlines.append(m.view("L1")["deadline"])
        entry = next(e for e in ledger(m.db) if e["seq"] == ack["seq"])
        assert deadlines[-1] == entry["t"] + 800  # the countdown restarted from this bid
        time.sleep(0.3)
    assert deadlines == sorted(deadlines) and len(set(deadlines)) == 3
    m.wait_for(lambda: m.view("L1")["phase"] == "awaiting_payment", what="the close")
    close = next(e for e in ledger(m.db) if e["kind"] == "close")
    assert close["t"] == deadlines[-1]  # stamped with the deadline itself, as in simulation
    assert replay(raw_ledger(m.db)).ok


def test_restart_resumes_timers_that_fell_due_while_down(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    with TestClient(make_app(db)) as client:
        m = Market(client, db, None)
        m.admit("acme")
        m.open_lot("L1", params=english(free_ms=600, countdown_ms=300), deposits={"acme": 1000})
        m.ok("/api/lots/L1/bids", {"amount": 10_000}, who="acme")
        free_end = m.view("L1")["deadline"]
    assert not [e for e in ledger(db) if e["kind"] in ("phase", "close")]  # stopped before any deadline
    time.sleep(max(0.0, (free_end + 300) / 1000 - time.time()) + 0.3)
    with TestClient(make_app(db)) as client:
        m = Market(client, db, None)
        m.wait_for(lambda: m.view("L1")["phase"] == "awaiting_payment", what="the resumed close")
    entries = ledger(db)
    phase = next(e for e in entries if e["kind"] == "phase")
    close = next(e for e in entries if e["kind"] == "close")
    deal = next(e for e in entries if e["kind"] == "deal")
    assert phase["t"] == free_end and close["t"] == free_end + 300 and deal["buyer"] == "acme"
    assert replay(raw_ledger(db)).ok


def _divergent_ledger(db: Path) -> None:
    """A validly signed, hash-chained ledger whose entry 2 the rules would never write."""
    log = Log(SQLiteStore(db), signer(), policy=CheckpointPolicy(None, None))
    Engine(market="test.market", clock=ManualClock(1_700_000_000_000), log=log)
    log.append(
        "open_lot",
        {"actor": "operator", "lot": "L1", "mode": "english", "ok": True, "rule": "english.open"},
        t=1_700_000_000_001,
    )
    log.append(
        "bid",
        {"actor": "mallory", "lot": "L1", "amount": 1, "ok": True, "rule": "english.start.free"},
        t=1_700_000_000_002,
    )
    log.sign_checkpoint()
    log.close()


def test_a_ledger_that_does_not_replay_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    _divergent_ledger(db)
    try:
        make_app(db)
    except ReplayMismatch as exc:
        assert exc.index == 1
    else:
        raise AssertionError("create_app accepted a divergent ledger")
    key = tmp_path / "market.key"
    key.write_text(signer().encode() + "\n")
    done = subprocess.run(
        [sys.executable, "-m", "auction_engine", "serve", "--db", str(db), "--key", str(key), "--port", "0"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert "does not replay" in done.stderr and "entry 1" in done.stderr


def test_operator_token_is_made_once_and_stored_hashed(tmp_path: Path) -> None:
    key = tmp_path / "market.key"
    key.write_text(signer().encode() + "\n")
    db = tmp_path / "ledger.db"
    env_free = {k: v for k, v in __import__("os").environ.items() if k != "AUCTION_ENGINE_OPERATOR_TOKEN"}
    server = LiveServer(tmp_path)
    cmd = [sys.executable, "-m", "auction_engine", "serve", "--db", str(db), "--key", str(key), "--port", "0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env_free, text=True)
    try:
        assert proc.stdout is not None and proc.stderr is not None
        line = proc.stdout.readline()
        token = re.search(r"operator token \(shown once, stored hashed\): (\S+)", line)
        assert token, line
        port = None
        while port is None:
            err = proc.stderr.readline()
            assert err, "server exited"
            m = re.search(r"listening on http://[^:]+:(\d+)", err)
            port = int(m.group(1)) if m else None
        status, me = http_json("GET", f"http://127.0.0.1:{port}/api/me", token=token.group(1))
        assert status == 200 and me["role"] == "operator"
        assert http_json("GET", f"http://127.0.0.1:{port}/api/me", token=OP_TOKEN)[0] == 401
    finally:
        proc.terminate()
        proc.wait(20)
    con = sqlite3.connect(db)
    stored = con.execute("SELECT value FROM meta WHERE key = 'server.credentials'").fetchone()[0]
    con.close()
    assert token.group(1) not in stored and "operator_hash" in stored
    assert all(b"credentials" not in e for e in raw_ledger(db))  # credentials never enter the ledger
    # A restart without a token keeps the stored one (and prints none).
    server.start()
    try:
        status, me = http_json("GET", f"{server.url}/api/me", token=OP_TOKEN)  # --operator-token replaces it
        assert status == 200
    finally:
        server.stop()


def test_serve_usage_errors(tmp_path: Path) -> None:
    key = tmp_path / "market.key"
    key.write_text(signer().encode() + "\n")
    bad_db = tmp_path / "not-a-db.db"
    bad_db.write_bytes(b"this is not sqlite" * 100)
    with TestClient(make_app(tmp_path / "ok.db")):
        pass  # a ledger whose operator is "operator"
    for args, needle in (
        (["--db", str(bad_db), "--key", str(key)], "cannot open ledger"),
        (["--db", str(tmp_path / "x.db"), "--key", str(tmp_path / "missing.key")], "signer key file"),
        (["--db", str(tmp_path / "x.db"), "--key", str(key), "--operator-token", "short"], "at least 16"),
        (["--db", "mysql://nope", "--key", str(key)], "unsupported ledger URL"),
        (["--db", str(tmp_path / "ok.db"), "--key", str(key), "--operator", "root"], "not an operator of this ledger"),
    ):
        done = subprocess.run(
            [sys.executable, "-m", "auction_engine", "serve", *args, "--port", "0"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 2, (args, done.stderr)
        assert needle in done.stderr, (args, done.stderr)


def test_the_uvicorn_server_serves_the_same_market(tmp_path: Path) -> None:
    """`--server uvicorn`: the same application on uvicorn, through a kill -9 and a restart."""
    server = LiveServer(tmp_path, extra=["--server", "uvicorn"])
    server.start()
    try:
        assert "(uvicorn)" in server.stderr()
        url = server.url
        assert http_json("POST", f"{url}/api/lots", {"lot": "L1", "mode": "english", "params": english()})[0] == 200
        token = http_json("POST", f"{url}/api/bidders", {"bidder": "acme"})[1]["token"]
        assert http_json("POST", f"{url}/api/lots/L1/deposits", {"party": "acme", "amount": 1000})[0] == 200
        status, ack = http_json("POST", f"{url}/api/lots/L1/bids", {"amount": 10_000}, token=token, idem="u-1")
        assert status == 200, ack
        server.kill()
        server.start()
        status, again = http_json("POST", f"{server.url}/api/lots/L1/bids", {"amount": 10_000}, token=token, idem="u-1")
        assert status == 200 and again["seq"] == ack["seq"] and again["replayed"]
    finally:
        server.stop()
    assert replay(raw_ledger(server.db)).ok


def _raw_bid(lot: str, token: str, amount: int, idem: str | None = None) -> tuple[bytes, bytes]:
    body = b'{"amount":%d}' % amount
    head = (
        f"POST /api/lots/{lot}/bids HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        + (f"Idempotency-Key: {idem}\r\n" if idem else "")
        + "\r\n"
    ).encode()
    return head, body


def _read_response(sock: Any) -> tuple[int, dict[str, str], bytes]:
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        assert chunk, "connection closed"
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    n = int(headers["content-length"])
    while len(rest) < n:
        chunk = sock.recv(65536)
        assert chunk, "connection closed"
        rest += chunk
    assert len(rest) == n  # nothing unrequested on the connection
    return int(lines[0].split()[1]), headers, rest


def test_bids_on_one_keep_alive_connection_of_a_real_server(live_server: LiveServer) -> None:
    """The fast lane over granian: a body complete by its Content-Length is answered at once, a body
    split across writes is waited for, the connection stays usable, replays keep their header."""
    import json
    import socket

    url = live_server.url
    lot = {"lot": "L1", "mode": "english", "params": english(leader_may_raise=True)}
    assert http_json("POST", f"{url}/api/lots", lot)[0] == 200
    status, admitted = http_json("POST", f"{url}/api/bidders", {"bidder": "acme"})
    assert status == 200
    token = admitted["token"]
    assert http_json("POST", f"{url}/api/lots/L1/deposits", {"party": "acme", "amount": 1000})[0] == 200
    sock = socket.create_connection(("127.0.0.1", live_server.port), timeout=30)
    try:
        seqs = []
        for i in range(3):
            head, body = _raw_bid("L1", token, 10_000 + 100 * i)
            sock.sendall(head + body)
            status, headers, data = _read_response(sock)
            assert status == 200 and headers["content-type"] == "application/json", data
            ack = json.loads(data)
            assert list(ack) == ["ok", "seq", "rule", "server_time", "receipt"] and ack["ok"] is True
            seqs.append(ack["seq"])
        head, body = _raw_bid("L1", token, 20_000, idem="k-1")
        sock.sendall(head + body[:5])  # the body arrives in two pieces
        time.sleep(0.2)
        sock.sendall(body[5:])
        status, headers, data = _read_response(sock)
        first = json.loads(data)
        assert status == 200 and first["ok"] is True and "idempotent-replayed" not in headers
        sock.sendall(head + body)
        status, headers, data = _read_response(sock)
        again = json.loads(data)
        assert status == 200 and headers["idempotent-replayed"] == "true"
        assert again["replayed"] is True and again["seq"] == first["seq"]
        head, body = _raw_bid("L1", token, 100)  # below the increment: refused by the rules, still recorded
        sock.sendall(head + body)
        status, _, data = _read_response(sock)
        refused = json.loads(data)
        assert status == 409 and refused["ok"] is False and refused["seq"] > first["seq"]
    finally:
        sock.close()
    assert seqs == sorted(seqs) and len(set(seqs)) == 3
    entries = ledger(live_server.db)
    assert {e["seq"] for e in entries} >= {*seqs, first["seq"], refused["seq"]}  # every answer was durable
