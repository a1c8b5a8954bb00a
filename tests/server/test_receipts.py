"""Signed receipts: every answer that recorded an entry carries one, and `receipt check` holds the log to it.

A receipt states the entry's index, leaf hash and time, and when a signed checkpoint will cover it.
`auction-engine receipt check` exits 0 when the log holds exactly that entry under a signed
checkpoint, and 1 when the operator changed the entry, dropped it past the promised time, or when the
receipt is not the market's; 2 for unreadable input.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from auction_engine.cli import main
from ledger import Log, Signer, SQLiteStore, canonical
from ledger.merkle import leaf_hash
from ledger.receipt import Receipt, ReceiptError, open_receipt

from ..certificates.market import rebuild
from .conftest import MARKET, LiveServer, Market, http_json, signer, take_receipt
from .test_api import problem

VKEY = signer().verifier.encode()


def check(*args: str) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(main, ["receipt", "check", *args, "--vkey", VKEY, "--json"])
    return result.exit_code, json.loads(result.output) if result.output.startswith("{") else {"out": result.output}


def signed_bid(m: Market, tmp_path: Path, idem: str = "r1") -> tuple[dict[str, Any], Path]:
    m.admit("acme")
    m.open_lot("L1", deposits={"acme": 1000})
    answer = m.ok("/api/lots/L1/bids", {"amount": 10_000}, who="acme", idem=idem)
    path = tmp_path / "receipt.txt"
    path.write_text(answer["receipt"], encoding="utf-8")
    return answer, path


def wait_covered(m: Market, seq: int) -> None:
    m.wait_for(lambda: (m.app.state.market.published or _NONE).size > seq, what=f"a checkpoint covering {seq}")


class _NONE:
    size = 0


def test_every_recorded_answer_carries_the_markets_receipt(market: Market, tmp_path: Path) -> None:
    m = market
    answer, _ = signed_bid(m, tmp_path)
    stated = take_receipt(dict(answer))
    store = SQLiteStore(m.db, readonly=True)
    (row,) = store.rows(answer["seq"], answer["seq"] + 1)
    store.close()
    assert stated.leaf == leaf_hash(row.data)
    assert stated.time == canonical.decode(row.data)["t"]
    # a refusal the rules recorded has one too; a request refused before the rules (no entry) has none
    refused = m.post("/api/lots/L1/bids", {"amount": 10_050}, who="acme").json()
    assert refused["ok"] is False and take_receipt(refused).index == refused["seq"]
    assert take_receipt(problem(m.post("/api/lots/NOPE/bids", {"amount": 1}, who="acme"), 404, "unknown_lot"))
    assert "receipt" not in problem(m.post("/api/lots/L1/bids", {"amount": "1"}, who="acme"), 422, "malformed")
    # the same request again is answered with the same entry's receipt
    again = m.post("/api/lots/L1/bids", {"amount": 10_000}, who="acme", idem="r1").json()
    assert again["replayed"] and take_receipt(again) == stated


def test_receipt_check_against_the_database(market: Market, tmp_path: Path) -> None:
    m = market
    answer, path = signed_bid(m, tmp_path)
    wait_covered(m, answer["seq"])
    code, out = check(str(path), "--db", str(m.db))
    assert code == 0 and out["state"] == "covered" and out["index"] == answer["seq"], out
    human = CliRunner().invoke(main, ["receipt", "check", str(path), "--db", str(m.db), "--vkey", VKEY])
    assert human.exit_code == 0 and "COVERED" in human.output
    # times in the market's zone as people read them (the JSON keeps ms: out["time"] is an integer)
    local = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{3})? \+08:00"
    assert re.search(rf"entry time:  {local}\n  promised by: {local}\n", human.output), human.output
    assert type(out["time"]) is int and type(out["covered_by"]) is int


def test_a_changed_or_dropped_entry_fails_the_check(market: Market, tmp_path: Path) -> None:
    m = market
    answer, path = signed_bid(m, tmp_path)
    wait_covered(m, answer["seq"])
    entries = list(Log(SQLiteStore(m.db, readonly=True), readonly=True, origin=MARKET).entries())
    stated = open_receipt(path.read_text(encoding="utf-8"), signer().verifier)

    def raise_amount(entry: dict[str, Any]) -> None:
        if entry["seq"] == answer["seq"]:
            entry["amount"] = 10_100

    changed = rebuild(entries, tmp_path / "changed.db", raise_amount, signer())
    code, out = check(str(path), "--db", str(changed))
    assert code == 1 and out["state"] == "different", out
    # the operator drops the command and everything after it, and signs the shorter log
    dropped = rebuild(entries[: answer["seq"]], tmp_path / "dropped.db", lambda e: None, signer())
    code, out = check(str(path), "--db", str(dropped), "--now", str(stated.covered_by + 1))
    assert code == 1 and out["state"] == "overdue" and "evidence" in out["message"], out
    code, out = check(str(path), "--db", str(dropped), "--now", str(stated.covered_by - 1))
    assert code == 1 and out["state"] == "pending", out


def test_a_receipt_not_signed_by_the_market_and_bad_input(market: Market, tmp_path: Path) -> None:
    m = market
    _, path = signed_bid(m, tmp_path)
    stated = open_receipt(path.read_text(encoding="utf-8"), signer().verifier)
    forged = tmp_path / "forged.txt"
    forged.write_text(stated.sign(Signer(MARKET, bytes(32))), encoding="utf-8")  # the right name, another key
    code, out = check(str(forged), "--db", str(m.db))
    assert code == 1 and out["state"] == "not_the_markets", out
    garbage = tmp_path / "garbage.txt"
    garbage.write_text("auction-engine/receipt/v1\nindex x\n\n— test.market AAAA\n", encoding="utf-8")
    assert check(str(garbage), "--db", str(m.db))[0] == 2
    assert check(str(tmp_path / "missing.txt"), "--db", str(m.db))[0] == 2
    assert check(str(path))[0] == 2  # neither --db nor --url
    assert check(str(path), "--db", str(m.db), "--url", "http://127.0.0.1:9")[0] == 2
    assert check(str(path), "--url", "http://127.0.0.1:9")[0] == 2  # nothing listens there


def test_receipt_check_against_the_live_server(live_server: Any, tmp_path: Path) -> None:
    status, admitted = http_json("POST", f"{live_server.url}/api/bidders", {"bidder": "acme"})
    assert status == 200
    lot = {"lot": "L1", "mode": "english", "params": {"start_price": 10_000, "increment": 100}}
    assert http_json("POST", f"{live_server.url}/api/lots", lot)[0] == 200
    deposit = {"party": "acme", "amount": 1000}
    assert http_json("POST", f"{live_server.url}/api/lots/L1/deposits", deposit)[0] == 200
    status, ack = http_json("POST", f"{live_server.url}/api/lots/L1/bids", {"amount": 10_000}, token=admitted["token"])
    assert status == 200, ack
    path = tmp_path / "receipt.txt"
    path.write_text(ack["receipt"], encoding="utf-8")
    cmd = [sys.executable, "-m", "auction_engine", "receipt", "check", str(path), "--url", live_server.url]
    for _ in range(100):  # the server signs a checkpoint within --checkpoint-ms (200 ms here)
        done = subprocess.run([*cmd, "--vkey", VKEY], capture_output=True, text=True, timeout=60)
        if done.returncode == 0:
            break
    assert done.returncode == 0 and "COVERED" in done.stdout, done.stdout + done.stderr
    assert re.search(r"entry time: +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{3})? \+08:00", done.stdout), done.stdout


def test_receipt_check_over_the_url_shows_the_markets_own_offset(tmp_path: Path) -> None:
    """The times read in the market's zone as its genesis states it (here UTC), from the server's log."""
    params = tmp_path / "params.json"
    params.write_text('{"utc_offset_ms": 0}', encoding="utf-8")
    server = LiveServer(tmp_path / "server", extra=["--params", str(params), "--timezone", "UTC"])
    server.directory.mkdir()
    server.start()
    try:
        status, admitted = http_json("POST", f"{server.url}/api/bidders", {"bidder": "acme"})
        assert status == 200 and http_json("GET", f"{server.url}/api/market")[1]["timezone"] == "UTC"
        path = tmp_path / "receipt.txt"
        path.write_text(admitted_receipt(server.url, admitted["token"]), encoding="utf-8")
        cmd = [sys.executable, "-m", "auction_engine", "receipt", "check", str(path), "--url", server.url]
        done = subprocess.run([*cmd, "--vkey", VKEY], capture_output=True, text=True, timeout=60)
        assert re.search(r"entry time: +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{3})? \+00:00", done.stdout), done.stdout
    finally:
        server.stop()


def admitted_receipt(url: str, token: str) -> str:
    """A receipt of one accepted bid on a new English lot."""
    lot = {"lot": "L1", "mode": "english", "params": {"start_price": 10_000, "increment": 100}}
    assert http_json("POST", f"{url}/api/lots", lot)[0] == 200
    assert http_json("POST", f"{url}/api/lots/L1/deposits", {"party": "acme", "amount": 1000})[0] == 200
    status, ack = http_json("POST", f"{url}/api/lots/L1/bids", {"amount": 10_000}, token=token)
    assert status == 200, ack
    return str(ack["receipt"])


RECEIPTS = st.builds(
    Receipt,
    origin=st.text(alphabet="abcdefghijklmnopqrstuvwxyz.-", min_size=1, max_size=30),
    index=st.integers(0, 2**62),
    leaf=st.binary(min_size=32, max_size=32),
    time=st.integers(0, 2**62),
    covered_by=st.integers(0, 2**62),
)


@settings(max_examples=100, deadline=None)
@given(receipt=RECEIPTS)
def test_a_receipt_reads_back_what_it_states(receipt: Receipt) -> None:
    assert Receipt.parse(receipt.text()) == receipt


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_any_changed_character_of_a_signed_receipt_is_refused(data: st.DataObject) -> None:
    key = Signer("test.market", bytes(range(32)))
    receipt = Receipt("test.market", 7, bytes(32), 1_700_000_000_000, 1_700_000_010_000)
    signed = receipt.sign(key)
    at = data.draw(st.integers(0, len(receipt.text()) - 1))
    new = data.draw(st.characters(codec="utf-8").filter(lambda c: c != signed[at]))
    changed = signed[:at] + new + signed[at + 1 :]
    with pytest.raises(ReceiptError):
        open_receipt(changed, key.verifier)
