"""`serve` checks what it serves and is the ledger's only writer (issue 13, items 3 and 4).

Each case the attacker found, reproduced with a real `auction-engine serve` process: an altered bid,
a damaged page, another market's key, a second server on the same ledger, a second server on the
same port. Every refusal is exit 2 with one line on stderr, never a traceback.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from auction_engine.clock import ManualClock
from auction_engine.engine import Engine
from ledger import CheckpointPolicy, Log, Signer, SQLiteStore, canonical

from .conftest import MARKET, OP_TOKEN, LiveServer, http_json, signer

T0 = 1_800_000_000_000
IMPOSTOR = Signer(MARKET, bytes(range(100, 132)))  # another market's key under the same name


def build_market(db: Path, bids: int = 30, key: Signer | None = None) -> None:
    """A market ledger written through the engine: one English lot, two bidders, `bids` bids, signed."""
    log = Log(SQLiteStore(db), key or signer(), policy=CheckpointPolicy(every_entries=10, every_ms=None))
    clock = ManualClock(T0)
    engine = Engine(market=MARKET, clock=clock, log=log, keep_events=False)
    params = {"start_price": 10_000, "increment": 100, "free_ms": 3_600_000, "countdown_ms": 60_000}
    assert engine.submit({"op": "open_lot", "actor": "operator", "lot": "L1", "mode": "english", "params": params}).ok
    for party in ("acme", "birch"):
        assert engine.submit({"op": "deposit", "actor": "operator", "lot": "L1", "party": party, "amount": 1000}).ok
    for i in range(bids):
        clock.advance(clock.now() + 10)
        bid = {"op": "bid", "actor": ("acme", "birch")[i % 2], "lot": "L1", "amount": 10_000 + 100 * i}
        assert engine.submit(bid).ok
    log.sign_checkpoint()
    log.close()


def write_key(directory: Path, key: Signer) -> Path:
    path = directory / f"{key.key_id.hex()}.key"
    path.write_text(key.encode() + "\n")
    return path


def serve(db: Path | str, key: Path, *extra: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run `serve` to completion (it is expected to refuse to start)."""
    cmd = [
        sys.executable, "-m", "auction_engine", "serve", "--db", str(db), "--key", str(key),
        "--port", "0", "--operator-token", OP_TOKEN, *extra,
    ]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


def assert_refused(done: subprocess.CompletedProcess[str], *fragments: str) -> str:
    """Exit 2, exactly one line on stderr (an `error:` line, no traceback) holding every fragment."""
    assert done.returncode == 2, (done.returncode, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert "Traceback" not in done.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def last_bid(db: Path) -> int:
    with contextlib.closing(sqlite3.connect(db)) as con:
        rows = con.execute("SELECT seq, data FROM entries ORDER BY seq").fetchall()
    return max(seq for seq, data in rows if canonical.decode(data)["kind"] == "bid")


def add_fen(db: Path, seq: int, fen: int, *, leaf_too: bool) -> None:
    """The attacker's edit: +fen on the amount of entry `seq`, in the file (and its leaf hash, if asked)."""
    from ledger import leaf_hash

    with contextlib.closing(sqlite3.connect(db)) as con, con:
        (data,) = con.execute("SELECT data FROM entries WHERE seq = ?", (seq,)).fetchone()
        entry = canonical.decode(data)
        entry["amount"] += fen
        altered = canonical.encode(entry)
        con.execute("UPDATE entries SET data = ? WHERE seq = ?", (altered, seq))
        if leaf_too:
            con.execute("UPDATE entries SET leaf = ? WHERE seq = ?", (leaf_hash(altered), seq))


def test_a_bid_altered_in_the_file_is_refused_naming_its_entry(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    build_market(db)
    seq = last_bid(db)
    add_fen(db, seq, 100, leaf_too=False)
    key = write_key(tmp_path, signer())
    assert_refused(
        serve(db, key),
        f"refusing to serve ledger {db}: the stored ledger does not match what was signed:",
        f"entry {seq}: its bytes do not match the stored leaf hash (altered)",
        "auction-engine ledger verify",
    )


def test_a_bid_altered_with_its_leaf_hash_is_refused_by_the_signed_root(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    build_market(db)
    seq = last_bid(db)  # the last entry: no later prev betrays it, only the signed checkpoint does
    add_fen(db, seq, 100, leaf_too=True)
    key = write_key(tmp_path, signer())
    assert_refused(serve(db, key), "its root does not match the first", "refusing to serve ledger")


@pytest.mark.parametrize("where", [0.3, 0.5, 0.8])
def test_a_damaged_page_is_one_line_and_exit_2(tmp_path: Path, where: float) -> None:
    db = tmp_path / "ledger.db"
    build_market(db, bids=1500)
    size = db.stat().st_size
    assert size > 50_000
    with open(db, "r+b") as f:
        f.seek(int(size * where))
        f.write(b"\x5a" * 5000)  # garbage over a page or two
    done = serve(db, write_key(tmp_path, signer()))
    assert_refused(done, str(db))


def test_another_markets_key_is_refused_naming_both_key_ids(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    build_market(db, bids=3)
    line = assert_refused(
        serve(db, write_key(tmp_path, IMPOSTOR)),
        f"the signer key {MARKET}+{IMPOSTOR.key_id.hex()} is not the key that signed this ledger's checkpoints",
        f"({MARKET}+{signer().key_id.hex()},",
    )
    assert "--key" in line
    other = Signer("other.market", bytes(range(32)))  # the same secret under another name: another key ID
    assert_refused(serve(db, write_key(tmp_path, other)), f"other.market+{other.key_id.hex()}", signer().key_id.hex())


def test_a_second_server_on_the_same_ledger_is_refused_naming_the_first(tmp_path: Path) -> None:
    first = LiveServer(tmp_path)
    first.start()
    try:
        assert first.proc is not None
        done = serve(first.db, first.key)
        assert_refused(
            done,
            f"cannot open ledger {first.db}: {first.db}: another writer has this ledger open:",
            f"is held by pid {first.proc.pid} on host {socket.gethostname()}",
        )
        status, body = http_json("GET", f"{first.url}/api/health")  # the first one is untouched
        assert status == 200 and body["ok"] is True
    finally:
        first.stop()


@pytest.mark.parametrize("second", ["granian", "uvicorn"])
def test_a_second_server_on_the_same_port_is_refused(tmp_path: Path, second: str) -> None:
    first = LiveServer(tmp_path / "first")
    first.directory.mkdir()
    first.start()
    try:
        other = tmp_path / "second"
        other.mkdir()
        done = serve(other / "ledger.db", write_key(other, signer()), "--port", str(first.port), "--server", second)
        assert_refused(done, f"cannot listen on 127.0.0.1:{first.port}:", "Address already in use")
        assert not (other / "ledger.db").exists()  # refused before the ledger was even opened
        origins = {http_json("GET", f"{first.url}/api/market")[1]["entries"] for _ in range(12)}
        assert len(origins) == 1  # every request reached the one market (none a second, empty one)
    finally:
        first.stop()


def test_the_port_is_bound_without_so_reuseport(tmp_path: Path) -> None:
    server = LiveServer(tmp_path)
    server.start()
    try:
        probe = socket.socket()
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)  # what granian itself would set
        with pytest.raises(OSError) as taken:
            probe.bind(("127.0.0.1", server.port))
        assert taken.value.errno in (98, 48)  # EADDRINUSE (Linux, BSD)
        probe.close()
    finally:
        server.stop()
    assert os.path.exists(tmp_path / "ledger.db.lock")


@pytest.mark.parametrize("value", ["0", "1000", "fast"])
def test_a_switch_interval_out_of_range_is_bad_usage_naming_the_option(tmp_path: Path, value: str) -> None:
    from click.testing import CliRunner

    from auction_engine.cli import main

    result = CliRunner().invoke(
        main, ["serve", "--db", str(tmp_path / "l.db"), "--key", str(tmp_path / "k"), "--switch-interval-ms", value]
    )
    assert result.exit_code == 2
    assert "--switch-interval-ms" in result.output
    assert not (tmp_path / "l.db").exists()


@pytest.mark.parametrize("zone", ["Mars/Olympus", "../../etc/passwd", ""])
def test_an_unknown_time_zone_is_one_line_and_no_ledger_is_made(tmp_path: Path, zone: str) -> None:
    key = write_key(tmp_path, signer())
    done = serve(tmp_path / "new.db", key, "--timezone", zone)
    assert_refused(done, "--timezone", "is not a time zone")
    assert not (tmp_path / "new.db").exists()
