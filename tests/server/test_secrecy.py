"""Secrets stay secret on the live server until the rules publish them, and idempotency never makes a
refusal that depended on the time or the phase permanent.

A proxy's maximum is in no public place while its lot is open: not in the public log (the JSON view,
decoded, or the entries' raw bytes), not in the event feed, not in another bidder's or the operator's
view of the lot; only the bidder's own view shows its cap. A restart rebuilds the proxies with the
market's key. The maxima here are off the bid grid and end in 7, so no price can equal one.
"""

from __future__ import annotations

import base64
import re
import sqlite3
import time
from typing import Any

from starlette.testclient import TestClient

from auction_engine.model import yuan
from auction_engine.replay import replay
from auction_engine.rules.sealed import commitment
from ledger import canonical

from .conftest import OP_TOKEN, Market, english, make_app
from .test_api import entry_at, problem

SECRETS = [12_347, 12_300, 11_047, 11_000]  # acme's maximum, its cap, and a refused lower one with its cap
_HEX = re.compile(r"[0-9a-f]+")


def _drain(ws: Any, until: Any, limit: int = 500) -> list[dict[str, Any]]:
    out = []
    for _ in range(limit):
        msg = ws.receive_json()
        out.append(msg)
        if until(msg):
            return out
    raise AssertionError(f"no matching message in {limit}: {out[-5:]}")


def _found(value: Any, secrets: list[int]) -> list[str]:
    """Every place a secret shows in a JSON value: as an integer, or written in a text (hex bytes aside)."""
    if isinstance(value, dict):
        return [f for k, v in value.items() for f in (*_found(k, secrets), *_found(v, secrets))]
    if isinstance(value, list):
        return [f for v in value for f in _found(v, secrets)]
    if type(value) is int and value in secrets:
        return [f"the integer {value}"]
    if type(value) is str and not _HEX.fullmatch(value):
        return [f"{s} in {value!r}" for s in secrets if str(s) in value or yuan(s) in value]
    return []


def _durable(m: Market, kind: str) -> list[dict[str, Any]]:
    """The durable entries of `kind`, read straight from the SQLite file."""
    con = sqlite3.connect(f"file:{m.db}?mode=ro", uri=True)
    try:
        rows = con.execute("SELECT data FROM entries ORDER BY seq").fetchall()
    finally:
        con.close()
    return [e for e in (canonical.decode(r[0]) for r in rows) if e["kind"] == kind]


def _published(m: Market, size: int) -> None:
    m.wait_for(lambda: m.client.get("/api/log/checkpoint").json()["size"] >= size, what=f"a checkpoint of {size}")


def test_an_open_lots_proxy_maximum_is_in_no_public_place(market: Market) -> None:
    m = market
    m.admit("acme", "bolt", "cirrus")
    m.open_lot("L1", deposits={"acme": 1000, "bolt": 1000, "cirrus": 1000})
    # the operator's feed, which carries the refusals too: not even the operator sees a maximum
    with m.client.websocket_connect("/api/feed", subprotocols=["ae.feed", f"ae.bearer.{OP_TOKEN}"]) as ws:
        ws.receive_json()
        m.ok("/api/lots/L1/bids", {"amount": 10_000}, who="bolt")
        proxy = m.ok("/api/lots/L1/proxy", {"max": 12_347}, who="acme")  # acme answers at 10 100
        lowered = problem(m.post("/api/lots/L1/proxy", {"max": 11_047}, who="acme"), 409, "proxy_lowered")
        feed = _drain(ws, lambda msg: msg["type"] == "event" and msg["seq"] == lowered["seq"])
        feed += _drain(ws, lambda msg: msg["type"] == "lot")
    assert [x["kind"] for x in feed if x["type"] == "event"][-3:] == ["proxy", "auto_bid", "proxy"]
    assert not _found(feed, SECRETS), _found(feed, SECRETS)
    assert not _found(lowered, SECRETS)  # the refusal's answer to acme itself states no maximum either
    # the public log: entries as JSON (decoded) and their canonical bytes
    _published(m, lowered["seq"] + 1)
    public = m.client.get("/api/log/entries", params={"start": 0, "limit": 1000}).json()["entries"]
    assert not _found(public, SECRETS)
    log = m.client.get("/api/log/entries", params={"start": 0, "limit": 1000}, headers=m.auditor).json()["entries"]
    assert not _found([e["entry"] for e in log], SECRETS)
    for item in log:
        data = base64.b64decode(item["data"])
        assert not any(canonical.encode_value(s) in data for s in SECRETS), item["entry"]
    one = m.client.get(f"/api/log/entries/{proxy['seq']}", headers=m.auditor).json()
    entry = one.get("entry", one)
    assert "max" not in entry and len(bytes.fromhex(entry["commitment"])) == 32
    # the views: the bidder sees its own cap, nobody else sees it
    assert m.view("L1", "acme")["my_proxy"] == 12_300
    for view in (m.view("L1"), m.view("L1", "bolt"), m.view("L1", "cirrus"),
                 m.client.get("/api/me/lots/L1", headers=m.op).json()["view"]):  # fmt: skip
        assert "my_proxy" not in view and not _found(view, SECRETS), view
    assert not _found(m.client.get("/api/lots").json(), SECRETS)


def test_the_close_reveals_and_the_auditors_log_replays(market: Market) -> None:
    m = market
    m.admit("acme", "bolt")
    m.open_lot("L1", deposits={"acme": 1000, "bolt": 1000}, params=english(free_ms=300, countdown_ms=300))
    proxy = m.ok("/api/lots/L1/proxy", {"max": 12_347}, who="acme")
    m.ok("/api/lots/L1/bids", {"amount": 10_100}, who="bolt")
    m.wait_for(lambda: bool(_durable(m, "deal")), what="the deal, durable")
    size = m.client.get("/api/market").json()["entries"]
    _published(m, size)
    public = m.client.get("/api/log/entries", params={"start": 0, "limit": 1000}).json()["entries"]
    reveals = [e["entry"] for e in public if not e["withheld"] and e["entry"]["kind"] == "proxy_reveal"]
    assert [(r["bidder"], r["max"], r["proxy_seq"]) for r in reveals] == [(m.numbers["acme"], 12_347, proxy["seq"])]
    log = m.client.get("/api/log/entries", params={"start": 0, "limit": 1000}, headers=m.auditor).json()["entries"]
    report = replay(base64.b64decode(e["data"]) for e in log)  # an auditor, from the log its token reads
    assert report.ok, report.message


def test_a_restart_reopens_the_proxies_and_keeps_their_keys(tmp_path: Any) -> None:
    db = tmp_path / "ledger.db"
    with TestClient(make_app(db)) as client:
        m = Market(client, db, None)
        m.admit("acme", "bolt")
        m.open_lot("L1", deposits={"acme": 1000, "bolt": 1000})
        first = m.ok("/api/lots/L1/proxy", {"max": 12_347}, who="acme", idem="p-1")
        tokens, numbers = dict(m.tokens), dict(m.numbers)
    with TestClient(make_app(db)) as client:
        m = Market(client, db, None, tokens, numbers)
        assert m.view("L1", "acme")["my_proxy"] == 12_300  # rebuilt with the market's key
        again = m.post("/api/lots/L1/proxy", {"max": 12_347}, who="acme", idem="p-1")
        assert again.status_code == 200 and again.json()["seq"] == first["seq"] and again.json()["replayed"]
        problem(m.post("/api/lots/L1/proxy", {"max": 13_047}, who="acme", idem="p-1"), 422, "idempotency_key_reused")
        m.ok("/api/lots/L1/bids", {"amount": 10_100}, who="bolt")
        assert m.view("L1")["leader"] == numbers["acme"] and m.view("L1")["price"] == 10_200  # the proxy still bids


# -- idempotency: a refusal is never the key's permanent answer --------------------------------------------


def test_an_early_refused_reveal_resent_with_its_key_inside_the_window_is_accepted(tmp_path: Any) -> None:
    db = tmp_path / "ledger.db"
    nonce = bytes(range(16))
    params = {"price_rule": "first", "min_price": 1000, "bid_ms": 1500, "reveal_ms": 60_000}
    with TestClient(make_app(db)) as client:
        m = Market(client, db, None)
        m.admit("acme")
        m.open_lot("S1", "sealed", deposits={"acme": 100}, params=params)
        m.ok("/api/lots/S1/commit", {"hash": commitment("S1", "acme", 5_007, nonce).hex()}, who="acme")
        body = {"amount": 5_007, "nonce": nonce.hex()}
        early = problem(m.post("/api/lots/S1/reveal", body, who="acme", idem="r-1"), 409, "reveal_not_open")
        assert entry_at(db, early["seq"])["redacted"] == ["amount", "nonce"]
        again = problem(m.post("/api/lots/S1/reveal", body, who="acme", idem="r-1"), 409, "reveal_not_open")
        assert again["seq"] == early["seq"] + 1 and "replayed" not in again  # run again, not remembered
        tokens = dict(m.tokens)
    with TestClient(make_app(db)) as client:  # after a restart too: the map rebuilt from the ledger
        m = Market(client, db, None, tokens)
        deadline = time.monotonic() + 10
        while m.view("S1")["phase"] != "reveal" and time.monotonic() < deadline:
            time.sleep(0.05)
        accepted = m.ok("/api/lots/S1/reveal", body, who="acme", idem="r-1")
        assert accepted["seq"] > again["seq"] and "replayed" not in accepted
        assert entry_at(db, accepted["seq"])["amount"] == 5_007
        replayed = m.post("/api/lots/S1/reveal", body, who="acme", idem="r-1").json()
        assert replayed["seq"] == accepted["seq"] and replayed["replayed"] is True
        problem(m.post("/api/lots/S1/reveal", {**body, "amount": 5_008}, who="acme", idem="r-1"), 422,
                "idempotency_key_reused")  # fmt: skip


def test_a_bid_sent_to_a_sealed_lot_does_not_publish_its_amount(market: Market) -> None:
    m = market
    m.admit("acme")
    m.open_lot("S1", "sealed", deposits={"acme": 100}, params={"price_rule": "first", "min_price": 1000})
    r = problem(m.post("/api/lots/S1/bids", {"amount": 5_007}, who="acme", idem="b-1"), 422, "unknown_command")
    entry = entry_at(m.db, r["seq"])
    assert "amount" not in entry and entry["redacted"] == ["amount"]
    # the same bid under its key runs again (a refusal is never remembered); the key binds the command less
    # the withheld amount, which the ledger does not hold
    assert problem(m.post("/api/lots/S1/bids", {"amount": 5_007}, who="acme", idem="b-1"), 422,
                   "unknown_command")["seq"] == r["seq"] + 1  # fmt: skip


def test_a_signed_proxy_is_checked_once_its_maximum_is_revealed(market: Market) -> None:
    from auction_engine.signing import command_from_entry, sign_command, verify_command

    from .conftest import MARKET
    from .test_api import _key

    m = market
    m.admit("acme")
    m.open_lot("L1", deposits={"acme": 1000}, params=english(free_ms=300, countdown_ms=300))
    priv, pub = _key()
    assert m.bind_key("acme", priv).status_code == 200
    cmd = {"op": "proxy", "actor": "acme", "lot": "L1", "max": 12_347, "idem": "sp", "key": pub}
    sig = sign_command(priv, MARKET, cmd)
    ack = m.ok("/api/lots/L1/proxy", {"max": 12_347, "sig": sig.hex()}, who="acme", idem="sp")
    entry = entry_at(m.db, ack["seq"])
    assert entry["sig"] == sig and "max" not in entry
    assert not verify_command(MARKET, command_from_entry(entry), entry["sig"], entry["key"])  # sealed: not yet
    m.wait_for(lambda: bool(_durable(m, "proxy_reveal")), what="the reveal, durable")
    (reveal,) = _durable(m, "proxy_reveal")
    assert reveal["proxy_seq"] == ack["seq"]
    assert verify_command(MARKET, command_from_entry(entry, reveal), entry["sig"], entry["key"])
