"""The REST API: every operator and bidder action, and every kind of refusal (never a 5xx).

Each accepted command answers 200 with the ledger index of its entry; each refusal answers a 4xx
with a JSON body {ok: false, code, message}: 401 credentials, 403 role or signature, 404 unknown
lot, 409 the rules refuse it now, 422 malformed (the field named) or invalid.
"""

from __future__ import annotations

import secrets
import sqlite3
import time
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from starlette.testclient import TestClient

from auction_engine.rules.sealed import commitment
from auction_engine.signing import command_from_entry, sign_command, verify_command
from ledger import canonical

from .conftest import MARKET, Market, english, make_app, take_receipt

# -- helpers -------------------------------------------------------------------------------------------


def problem(r: Any, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, f"expected {status} {code}, got {r.status_code} {r.text}"
    body = r.json()
    assert body["ok"] is False and body["code"] == code, body
    assert body["message"], body
    assert isinstance(body["server_time"], int)
    return body


def entry_at(db: Any, seq: int) -> dict[str, Any]:
    """Read entry `seq` straight from the SQLite file (a separate connection: only durable data)."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        row = con.execute("SELECT data FROM entries WHERE seq = ?", (seq,)).fetchone()
    finally:
        con.close()
    assert row is not None, f"entry {seq} is not durable in {db}"
    return canonical.decode(row[0])


# -- operator actions ------------------------------------------------------------------------------------


def test_open_submarket_and_lots_in_every_mode(market: Market) -> None:
    m = market
    m.ok("/api/submarkets", {"submarket": "metrology", "name": "计量拍", "params": {"countdown_ms": 60_000}})
    problem(m.post("/api/submarkets", {"submarket": "metrology"}), 409, "duplicate_submarket")
    m.ok(
        "/api/lots",
        {"lot": "E1", "mode": "english", "submarket": "metrology", "title": "Fibre patent", "params": english()},
    )
    m.ok("/api/lots", {"lot": "D1", "mode": "dutch", "params": {"start_price": 5000, "step": 100, "floor": 1000}})
    m.ok("/api/lots", {"lot": "S1", "mode": "sealed", "params": {"price_rule": "second", "min_price": 1000}})
    m.ok("/api/lots", {"lot": "A1", "mode": "agreement", "params": {"price": 100_000, "buyer": "acme"}})
    m.ok("/api/lots", {"lot": "L1", "mode": "listing", "appraisal": 200_000, "params": {"list_price": 100_000}})
    lots = {v["lot"]: v for v in m.client.get("/api/lots").json()["lots"]}
    assert {k: v["mode"] for k, v in lots.items()} == {
        "E1": "english", "D1": "dutch", "S1": "sealed", "A1": "agreement", "L1": "listing",
    }  # fmt: skip
    assert lots["E1"]["submarket"] == "metrology" and lots["E1"]["phase"] == "free"
    problem(m.post("/api/lots", {"lot": "E1", "mode": "english", "params": english()}), 409, "duplicate_lot")
    r = problem(m.post("/api/lots", {"lot": "X", "mode": "english", "params": english(incremnt=5)}), 422, "bad_param")
    assert "incremnt" in r["message"]
    problem(m.post("/api/lots", {"lot": "X", "mode": "english", "params": {"increment": 5}}), 422, "missing_param")
    r = problem(m.post("/api/lots", {"lot": "X", "mode": "vickrey", "params": {}}), 422, "malformed")
    assert r["field"] == "mode"
    problem(
        m.post("/api/lots", {"lot": "X", "mode": "english", "submarket": "nope", "params": english()}),
        404,
        "unknown_submarket",
    )


def test_admit_bidders_and_list_them_without_secrets(market: Market) -> None:
    m = market
    m.admit("acme", "bolt")
    r = m.client.get("/api/bidders", headers=m.op)
    assert r.status_code == 200
    assert [b["bidder"] for b in r.json()] == ["acme", "bolt"]
    assert "token" not in r.text and "hash" not in r.text
    me = m.client.get("/api/me", headers=m.auth("acme")).json()
    assert me["actor"] == "acme" and me["role"] == "bidder"
    problem(m.post("/api/bidders", {"bidder": "operator"}), 422, "malformed")
    problem(m.post("/api/bidders", {"bidder": "bad id with spaces"}), 422, "malformed")
    # A new token for the same bidder replaces the old one.
    old = m.tokens["acme"]
    m.admit("acme")
    assert m.client.get("/api/me", headers={"Authorization": f"Bearer {old}"}).status_code == 401


def test_deposits_bids_proxies_and_their_refusals(market: Market) -> None:
    m = market
    m.admit("acme", "bolt", "cirrus")
    m.open_lot("L1", deposits={"acme": 1000, "bolt": 1000})
    problem(m.post("/api/lots/NOPE/deposits", {"party": "acme", "amount": 5}), 404, "unknown_lot")
    first = m.ok("/api/lots/L1/bids", {"amount": 10_000}, who="acme")
    assert first["rule"] == "english.start.free"
    problem(m.post("/api/lots/L1/bids", {"amount": 10_100}, who="acme"), 409, "already_leading")
    problem(m.post("/api/lots/L1/bids", {"amount": 10_000}, who="bolt"), 409, "below_increment")
    problem(m.post("/api/lots/L1/bids", {"amount": 10_150}, who="bolt"), 409, "not_increment_multiple")
    problem(m.post("/api/lots/L1/bids", {"amount": 10_200}, who="cirrus"), 409, "not_qualified")
    rejected = problem(m.post("/api/lots/NOPE/bids", {"amount": 10_200}, who="bolt"), 404, "unknown_lot")
    assert entry_at(m.db, rejected["seq"])["reason"] == "unknown_lot"  # the rejection is itself in the ledger
    problem(m.post("/api/lots/L1/proxy", {"max": 10_000}, who="bolt"), 409, "proxy_too_low")
    m.ok("/api/lots/L1/proxy", {"max": 12_000}, who="bolt")
    v = m.view("L1", "bolt")
    assert v["my_proxy"] == 12_000 and v["leader"] == m.numbers["bolt"] and v["price"] == 10_100
    assert "my_proxy" not in m.view("L1", "acme")


def test_a_batch_of_deposits_is_one_entry_all_or_none(market: Market) -> None:
    """`parties` admits several bidders in one ledger entry; a bad item names itself and records nothing."""
    cirrus = {"party": "cirrus", "amount": 1000}
    m = market
    m.admit("acme", "bolt", "cirrus")
    m.open_lot("L1")
    ack = m.ok(
        "/api/lots/L1/deposits", {"parties": [{"party": "acme", "amount": 1000}, {"party": "bolt", "amount": 1000}]}
    )
    entry = entry_at(m.db, ack["seq"])
    assert entry["kind"] == "deposit" and entry["ok"] is True
    assert entry["parties"] == [{"party": "acme", "amount": 1000}, {"party": "bolt", "amount": 1000}]
    m.ok("/api/lots/L1/bids", {"amount": 10_000}, who="bolt")  # admitted by the batch
    bad = problem(
        m.post("/api/lots/L1/deposits", {"parties": [cirrus, {"party": "x", "amount": -1}]}),
        422,
        "malformed",
    )
    assert bad["field"] == "parties.1.amount"
    both = problem(
        m.post("/api/lots/L1/deposits", {"party": "cirrus", "amount": 5, "parties": [{"party": "x", "amount": 1}]}),
        422,
        "malformed",
    )
    assert "not both" in both["message"]
    assert "'parties'" in problem(m.post("/api/lots/L1/deposits", {"party": "cirrus"}), 422, "malformed")["message"]
    twice = problem(
        m.post("/api/lots/L1/deposits", {"parties": [cirrus, cirrus]}),
        422,
        "bad_command",
    )
    assert "parties[1]" in twice["message"] and "twice" in twice["message"]
    problem(m.post("/api/lots/L1/bids", {"amount": 10_100}, who="cirrus"), 409, "not_qualified")  # all or none


def test_accepted_bid_is_durable_before_the_answer(market: Market) -> None:
    m = market
    m.admit("acme")
    m.open_lot("L1", deposits={"acme": 1000})
    ack = m.ok("/api/lots/L1/bids", {"amount": 10_000}, who="acme")
    entry = entry_at(m.db, ack["seq"])  # read through another connection at once
    assert entry["kind"] == "bid" and entry["actor"] == "acme" and entry["amount"] == 10_000 and entry["ok"] is True


def test_late_bid_is_refused_and_the_close_fires_on_the_wall_clock(market: Market) -> None:
    m = market
    m.admit("acme", "bolt")
    m.open_lot("L1", params=english(free_ms=300, countdown_ms=300), deposits={"acme": 1000, "bolt": 1000})
    m.ok("/api/lots/L1/bids", {"amount": 10_000}, who="acme")
    m.wait_for(lambda: m.view("L1")["phase"] == "awaiting_payment", what="the close")
    r = problem(m.post("/api/lots/L1/bids", {"amount": 10_100}, who="bolt"), 409, "lot_closed")
    assert "L1" in r["message"]  # the rules' own message, passed through
    deal = m.view("L1")
    assert deal["buyer"] == m.numbers["acme"] and deal["price"] == 10_000  # the public sees the bidder number


def test_dutch_accept_and_price_moved(market: Market) -> None:
    m = market
    m.admit("acme", "bolt")
    m.open_lot("D1", "dutch", params={"start_price": 5000, "step": 100, "floor": 1000, "step_ms": 60_000})
    for b in ("acme", "bolt"):
        m.ok("/api/lots/D1/deposits", {"party": b, "amount": 500})
    problem(m.post("/api/lots/D1/accept", {"price": 4900}, who="bolt"), 409, "price_moved")
    ack = m.ok("/api/lots/D1/accept", {"price": 5000}, who="acme")
    assert ack["rule"] == "dutch.accept"
    problem(m.post("/api/lots/D1/accept", {}, who="bolt"), 409, "lot_closed")
    assert m.view("D1")["buyer"] == m.numbers["acme"]


def test_sealed_commit_reveal_and_nobody_reads_another_bid(market: Market) -> None:
    m = market
    m.admit("acme", "bolt")
    m.open_lot(
        "S1", "sealed", params={"price_rule": "second", "min_price": 1000, "bid_ms": 600, "reveal_ms": 60_000},
        deposits={"acme": 100, "bolt": 100},
    )  # fmt: skip
    nonce = {b: secrets.token_bytes(16) for b in ("acme", "bolt")}
    amounts = {"acme": 5000, "bolt": 4000}
    for b in ("acme", "bolt"):
        h = commitment("S1", b, amounts[b], nonce[b])
        ack = m.ok("/api/lots/S1/commit", {"hash": h.hex()}, who=b)
        entry = entry_at(m.db, ack["seq"])
        assert entry["hash"] == h and "amount" not in entry  # the ledger holds the hash only
    problem(m.post("/api/lots/S1/commit", {"hash": "00" * 32}, who="acme"), 409, "already_committed")
    problem(m.post("/api/lots/S1/commit", {"hash": "abcd"}, who="acme"), 422, "malformed")
    mine, theirs = m.view("S1", "acme"), m.view("S1", "bolt")
    assert mine["my_commitment"]["hash"] == commitment("S1", "acme", 5000, nonce["acme"]).hex()
    assert theirs["my_commitment"]["hash"] != mine["my_commitment"]["hash"]
    public = m.view("S1")
    assert "my_commitment" not in public and public["commitments"] == 2
    assert "5000" not in m.client.get("/api/lots").text
    problem(
        m.post("/api/lots/S1/reveal", {"amount": 5000, "nonce": nonce["acme"].hex()}, who="acme"),
        409,
        "reveal_not_open",
    )
    m.wait_for(lambda: m.view("S1")["phase"] == "reveal", what="the reveal window")
    problem(
        m.post("/api/lots/S1/reveal", {"amount": 5001, "nonce": nonce["acme"].hex()}, who="acme"),
        409,
        "commitment_mismatch",
    )
    for b in ("acme", "bolt"):
        m.ok("/api/lots/S1/reveal", {"amount": amounts[b], "nonce": nonce[b].hex()}, who=b)
    problem(m.post("/api/lots/S1/reveal", {"amount": 1, "nonce": "zz"}, who="acme"), 422, "malformed")


def test_listing_register_and_withdraw(market: Market) -> None:
    m = market
    m.admit("acme")
    m.open_lot("L1", "listing", params={"list_price": 100_000})
    ack = m.ok("/api/lots/L1/register", {}, who="acme")
    assert ack["rule"] == "listing.register"
    problem(m.post("/api/lots/L1/register", None, who="acme"), 409, "already_registered")
    assert m.view("L1", "acme")["registered"] is True
    m.ok("/api/lots/L1/withdraw-registration", None, who="acme")
    problem(m.post("/api/lots/L1/withdraw-registration", {}, who="acme"), 409, "not_registered")
    problem(m.post("/api/lots/L1/relist/approve", {"approved": True}), 409, "no_relist_pending")
    problem(m.post("/api/lots/L1/relist", {"price": 90_000}), 409, "no_relist_pending")


def test_agreement_objections_and_competing_offers(market: Market) -> None:
    m = market
    m.admit("acme", "rival", "critic")
    m.open_lot("A1", "agreement", params={"price": 100_000, "buyer": "acme"})
    m.ok("/api/lots/A1/objections", {"grounds": "the price is too low"}, who="critic")
    m.ok("/api/lots/A1/objections", {"grounds": "a second objection"}, who="critic")
    assert [o["status"] for o in m.view("A1", "critic")["my_objections"]] == ["pending", "pending"]
    m.ok("/api/lots/A1/objections/0/resolve", {"upheld": False})
    problem(m.post("/api/lots/A1/objections/0/resolve", {"upheld": False}), 409, "objection_resolved")
    problem(m.post("/api/lots/A1/objections/9/resolve", {"upheld": True}), 409, "unknown_objection")
    problem(m.post("/api/lots/A1/objections/-1/resolve", {"upheld": True}), 422, "malformed")
    problem(m.post("/api/lots/A1/objections/1/resolve", {"upheld": "yes"}), 422, "malformed")
    problem(m.post("/api/lots/A1/objections/1/resolve", {"upheld": True}, who="acme"), 403, "forbidden")
    m.ok("/api/lots/A1/objections/1/resolve", {"upheld": True})
    assert m.view("A1")["phase"] == "no_sale"
    problem(m.post("/api/lots/A1/offers", {"amount": 200_000}, who="rival"), 409, "lot_closed")
    m.open_lot("A2", "agreement", params={"price": 100_000, "buyer": "acme", "competing_offers": True})
    problem(m.post("/api/lots/A2/offers", {"amount": 101_000}, who="rival"), 409, "not_qualified")
    m.ok("/api/lots/A2/deposits", {"party": "rival", "amount": 10_000})
    m.ok("/api/lots/A2/offers", {"amount": 101_000}, who="rival")
    v = m.view("A2")
    assert v["mode"] == "english" and v["leader"] == m.numbers["rival"] and v["price"] == 101_000


def test_settlement_confirm_pay_and_certificate(market: Market) -> None:
    m = market
    m.admit("acme", "bolt")
    params = english(free_ms=200, countdown_ms=200, publication_working_days=0)
    m.open_lot("L1", params=params, deposits={"acme": 1000})
    m.ok("/api/lots/L1/bids", {"amount": 10_000}, who="acme")
    m.wait_for(lambda: m.view("L1")["phase"] == "awaiting_payment", what="the deal")
    problem(m.post("/api/lots/L1/confirm", {}, who="bolt"), 403, "not_buyer")
    problem(
        m.post("/api/lots/L1/payment-plan", {"down": 1000, "schedule": []}, who="acme"), 409, "instalments_not_allowed"
    )
    problem(m.post("/api/lots/L1/payment-plan", {"down": 1000, "schedule": [[1, 2.5]]}, who="acme"), 422, "malformed")
    m.ok("/api/lots/L1/confirm", None, who="acme")
    problem(m.post("/api/lots/L1/accept-offer", {}, who="bolt"), 409, "no_offer")
    problem(m.post("/api/lots/L1/decline-offer", None, who="bolt"), 409, "no_offer")
    problem(m.post("/api/lots/L1/payments", {"amount": 9000}, who="acme"), 403, "forbidden")
    problem(m.post("/api/lots/L1/payments", {"amount": 10_000}), 409, "overpayment")
    problem(m.post("/api/lots/L1/payments", {"amount": 9000, "payer": "bolt"}), 403, "wrong_payer")
    m.ok("/api/lots/L1/payments", {"amount": 9000})
    m.wait_for(lambda: bool(m.client.get("/api/certificates").json()["codes"]), what="a transaction code")
    (code,) = m.client.get("/api/certificates").json()["codes"]
    r = m.client.get(f"/api/certificates/{code}")
    assert r.status_code == 200, r.text
    assert r.json()["verdict"]["ok"] is True, r.json()["verdict"]
    assert r.json()["certificate"]["deal"]["buyer"] == "acme"
    issued = m.client.post(f"/api/certificates/{code}", headers=m.op)
    assert issued.status_code == 200 and issued.json()["certificate"]["code"] == code
    problem(m.client.post(f"/api/certificates/{code}", headers=m.auth("acme")), 403, "forbidden")
    problem(m.client.get("/api/certificates/ZJ-000000-E-1-AAAA-00"), 422, "bad_code")
    typo = code[:-1] + ("0" if code[-1] != "0" else "1")
    problem(m.client.get(f"/api/certificates/{typo}"), 422, "bad_code")
    assert m.client.get(f"/certificates/{code}.cert.json").json()["code"] == code
    assert code in m.client.get(f"/certificates/{code}.html").text


def test_long_reads_go_in_chunks_and_give_the_same_entries(market: Market, monkeypatch: pytest.MonkeyPatch) -> None:
    """A read of many entries is several jobs on the ledger's I/O thread (commits run between them): same bytes."""
    from auction_engine.server import committer

    m = market
    m.admit("acme", "bolt")
    m.open_lot("L1", params=english(free_ms=200, countdown_ms=200, publication_working_days=0), deposits={"acme": 1000})
    m.ok("/api/lots/L1/bids", {"amount": 10_000}, who="acme")
    m.wait_for(lambda: m.view("L1")["phase"] == "awaiting_payment", what="the deal")
    m.ok("/api/lots/L1/payments", {"amount": 9000})
    m.wait_for(lambda: bool(m.client.get("/api/certificates").json()["codes"]), what="a transaction code")
    monkeypatch.setattr(committer, "READ_CHUNK", 3)
    (code,) = m.client.get("/api/certificates").json()["codes"]
    r = m.client.get(f"/api/certificates/{code}")  # issued from the whole published ledger, read 3 entries a job
    assert r.status_code == 200 and r.json()["verdict"]["ok"] is True, r.text
    chunked = m.client.get("/api/log/entries", params={"limit": 1000}).json()["entries"]
    monkeypatch.setattr(committer, "READ_CHUNK", 5_000)
    assert m.client.get("/api/log/entries", params={"limit": 1000}).json()["entries"] == chunked
    assert len(chunked) > 3 * 3 and [e["seq"] for e in chunked] == list(range(len(chunked)))


def test_withdraw_a_lot(market: Market) -> None:
    m = market
    m.admit("acme")
    m.open_lot("L1", deposits={"acme": 1000})
    problem(m.post("/api/lots/L1/withdraw", {"grounds": "the patent lapsed"}, who="acme"), 403, "forbidden")
    problem(m.post("/api/lots/L1/withdraw", {}), 422, "malformed")
    m.ok("/api/lots/L1/withdraw", {"grounds": "the patent lapsed"})
    assert m.view("L1")["phase"] == "no_sale"
    problem(m.post("/api/lots/L1/withdraw", {"grounds": "again"}), 409, "lot_closed")
    problem(m.post("/api/lots/L1/bids", {"amount": 10_000}), 403, "operator_cannot_bid")


def test_close_a_phase_early(market: Market) -> None:
    m = market
    m.admit("acme")
    m.open_lot("L0", deposits={"acme": 1000})
    problem(m.post("/api/lots/L0/close-phase", {"grounds": "hurry"}), 409, "not_allowed")
    m.open_lot("L1", deposits={"acme": 1000}, params=english(operator_may_close=True))
    m.ok("/api/lots/L1/bids", {"amount": 10_000}, who="acme")
    problem(m.post("/api/lots/L1/close-phase", {"grounds": "mine"}, who="acme"), 403, "forbidden")
    problem(m.post("/api/lots/L1/close-phase", {}), 422, "malformed")
    m.ok("/api/lots/L1/close-phase", {"grounds": "the hall closes early"})
    assert m.view("L1")["phase"] == "timed"
    m.ok("/api/lots/L1/close-phase", {"grounds": "the hall closes early"})
    assert m.view("L1")["phase"] == "awaiting_payment"
    problem(m.post("/api/lots/L1/close-phase", {"grounds": "again"}), 409, "no_phase_to_close")


def test_generic_command_endpoint(market: Market) -> None:
    m = market
    m.admit("acme")
    m.open_lot("L1", deposits={"acme": 1000})
    ack = m.ok("/api/lots/L1/commands/bid", {"amount": 10_000}, who="acme")
    assert entry_at(m.db, ack["seq"])["kind"] == "bid"
    problem(m.post("/api/lots/L1/commands/deposit", {"party": "acme", "amount": 1}, who="acme"), 403, "forbidden")
    problem(m.post("/api/lots/L1/commands/frobnicate", {}, who="acme"), 422, "unknown_command")
    problem(m.post("/api/lots/L1/commands/bid", {"amount": 10_100, "actor": "bolt"}, who="acme"), 422, "malformed")
    problem(m.post("/api/lots/L1/commands/bid", {"amount": 1.5}, who="acme"), 422, "malformed")
    problem(m.post("/api/lots/L1/commands/Bad-Op", {}, who="acme"), 422, "malformed")
    # the operator may send any command of the rules; an unknown one is a recorded rejection
    problem(m.post("/api/lots/L1/commands/frobnicate", {}), 422, "unknown_command")


# -- roles and credentials ---------------------------------------------------------------------------------


def test_credentials_and_roles(market: Market) -> None:
    m = market
    m.admit("acme", "bolt")
    m.open_lot("L1", deposits={"acme": 1000, "bolt": 1000})
    problem(m.client.post("/api/lots/L1/bids", json={"amount": 10_000}), 401, "unauthenticated")
    r = m.client.post("/api/lots/L1/bids", json={"amount": 10_000}, headers={"Authorization": "Bearer nope"})
    problem(r, 401, "unauthenticated")
    assert r.headers["www-authenticate"] == "Bearer"
    problem(m.post("/api/lots", {"lot": "X", "mode": "english", "params": english()}, who="acme"), 403, "forbidden")
    problem(m.post("/api/lots/L1/deposits", {"party": "acme", "amount": 10**6}, who="acme"), 403, "forbidden")
    problem(m.post("/api/submarkets", {"submarket": "x"}, who="acme"), 403, "forbidden")
    problem(m.post("/api/bidders", {"bidder": "mallory"}, who="acme"), 403, "forbidden")
    problem(m.client.get("/api/bidders", headers=m.auth("acme")), 403, "forbidden")
    problem(m.client.get("/api/operator/lots", headers=m.auth("acme")), 403, "forbidden")
    problem(m.client.put("/api/me/key", json={"statement": "x\n"}, headers=m.op), 403, "forbidden")
    # A bidder always acts as itself: the actor is never taken from the request.
    problem(m.post("/api/lots/L1/bids", {"amount": 10_000, "actor": "bolt"}, who="acme"), 422, "malformed")
    ack = m.ok("/api/lots/L1/bids", {"amount": 10_000}, who="acme")
    assert entry_at(m.db, ack["seq"])["actor"] == "acme"
    # Its own status only.
    assert m.view("L1", "bolt")["leader"] == m.numbers["acme"] and m.view("L1", "bolt")["my_deposit"] == 1000


# -- malformed requests: 422 naming the field, never a 5xx ----------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"amount": 10.5}, "amount"),
        ({"amount": "10000"}, "amount"),
        ({"amount": True}, "amount"),
        ({"amount": -1}, "amount"),
        ({"amount": 2**63}, "amount"),
        ({}, "amount"),
        ({"amount": 10_000, "bogus": 1}, "bogus"),
        ({"amount": 10_000, "sig": "xyz"}, "sig"),
        ([1, 2], None),
        ("text", None),
    ],
)
def test_malformed_bodies_name_the_field(market: Market, body: Any, field: str | None) -> None:
    m = market
    m.admit("acme")
    m.open_lot("L1", deposits={"acme": 1000})
    r = problem(m.post("/api/lots/L1/bids", body, who="acme"), 422, "malformed")
    assert r["field"] == field, r
    if field:
        assert field in r["message"]


def test_malformed_raw_requests(market: Market) -> None:
    m = market
    m.admit("acme")
    m.open_lot("L1", deposits={"acme": 1000})
    h = {**m.auth("acme"), "Content-Type": "application/json"}
    for raw in (b'{"amount": ', b"", b"\xff\xfe", b'{"amount": 1e400}', b'{"amount": NaN}'):
        r = m.client.post("/api/lots/L1/bids", content=raw, headers=h)
        problem(r, 422, "malformed")
    r = m.client.post(
        "/api/lots/L1/bids", json={"amount": 10_000}, headers={**m.auth("acme"), "Idempotency-Key": "x" * 200}
    )
    assert problem(r, 422, "malformed")["field"] == "Idempotency-Key"
    problem(m.client.get("/api/nothing-here"), 404, "not_found")
    problem(m.client.delete("/api/lots"), 405, "method_not_allowed")
    # A lone surrogate cannot be recorded in canonical UTF-8: refused before the rules run.
    r = m.client.post(
        "/api/lots/L1/objections", content=b'{"grounds": "\\ud800"}', headers=h,
    )  # fmt: skip
    assert r.status_code == 422, r.text


# -- idempotency ---------------------------------------------------------------------------------------


def test_idempotency_keys(market: Market) -> None:
    m = market
    m.admit("acme", "bolt")
    m.open_lot("L1", deposits={"acme": 1000, "bolt": 1000})
    first = m.post("/api/lots/L1/bids", {"amount": 10_000}, who="acme", idem="k-1")
    again = m.post("/api/lots/L1/bids", {"amount": 10_000}, who="acme", idem="k-1")
    assert first.status_code == again.status_code == 200
    assert again.json()["seq"] == first.json()["seq"] and again.json()["replayed"] is True
    assert again.headers["idempotent-replayed"] == "true"
    problem(m.post("/api/lots/L1/bids", {"amount": 10_500}, who="acme", idem="k-1"), 422, "idempotency_key_reused")
    # a refusal is never answered from memory: the command runs again, a fresh verdict and a new entry
    rej = problem(m.post("/api/lots/L1/bids", {"amount": 10_000}, who="bolt", idem="k-1"), 409, "below_increment")
    rej2 = problem(m.post("/api/lots/L1/bids", {"amount": 10_000}, who="bolt", idem="k-1"), 409, "below_increment")
    assert rej2["seq"] == rej["seq"] + 1 and "replayed" not in rej2
    # ... but the key stays bound to its command
    problem(m.post("/api/lots/L1/bids", {"amount": 10_200}, who="bolt", idem="k-1"), 422, "idempotency_key_reused")
    entries = [entry_at(m.db, s) for s in (first.json()["seq"], rej["seq"], rej2["seq"])]
    assert [e.get("idem") for e in entries] == ["k-1", "k-1", "k-1"]


def test_idempotency_survives_a_restart(tmp_path: Any) -> None:
    db = tmp_path / "ledger.db"
    with TestClient(make_app(db)) as client:
        m = Market(client, db, None)
        m.admit("acme")
        m.open_lot("L1", deposits={"acme": 1000})
        first = m.ok("/api/lots/L1/bids", {"amount": 10_000}, who="acme", idem="retry-me")
        tokens = dict(m.tokens)
    with TestClient(make_app(db)) as client:
        m = Market(client, db, None, tokens)
        again = m.post("/api/lots/L1/bids", {"amount": 10_000}, who="acme", idem="retry-me")
        assert again.status_code == 200 and again.json()["seq"] == first["seq"] and again.json()["replayed"]
        problem(
            m.post("/api/lots/L1/bids", {"amount": 10_100}, who="acme", idem="retry-me"), 422, "idempotency_key_reused"
        )
        assert m.view("L1")["bids"] == 1


def _issued_from_the_whole_ledger(db: Any, cert: dict[str, Any]) -> dict[str, Any]:
    """The certificate `certificates.issue` makes from every entry, under the same checkpoint."""
    from types import SimpleNamespace

    from auction_engine import certificates
    from ledger import Log, SQLiteStore

    log = Log(SQLiteStore(db, readonly=True), readonly=True, origin=MARKET)
    size = cert["checkpoint_size"]
    view = SimpleNamespace(
        tree=log.tree, origin=log.origin, entries=lambda: log.entries(0, size), checkpoint=lambda: log.checkpoint(size)
    )
    try:
        return certificates.issue(view, cert["code"], transcript=True)  # type: ignore[arg-type]
    finally:
        log.store.close()


def test_the_server_issues_from_its_index_what_the_whole_ledger_gives(tmp_path: Any) -> None:
    """Certificates the server issues from the lot's own entries (its live index, and the index rebuilt
    on restart) equal those issued from every entry; other lots' entries interleave with theirs."""
    db = tmp_path / "ledger.db"
    params = english(free_ms=200, countdown_ms=200, publication_working_days=0)
    with TestClient(make_app(db)) as client:
        m = Market(client, db, None)
        m.admit("acme", "bolt")
        m.ok("/api/submarkets", {"submarket": "iot", "name": "IoT"})
        m.open_lot("L1", params=params, deposits={"acme": 1000, "bolt": 1000})
        m.open_lot("L2", params=params, deposits={"acme": 1000, "bolt": 1000}, submarket="iot")
        for lot, who, amount in (
            ("L1", "acme", 10_000),
            ("L2", "bolt", 10_000),
            ("L1", "bolt", 10_100),
            ("L2", "acme", 10_100),
        ):
            m.ok(f"/api/lots/{lot}/bids", {"amount": amount}, who=who)
        for lot in ("L1", "L2"):
            m.wait_for(lambda lot=lot: m.view(lot)["phase"] == "awaiting_payment", what=f"the deal of {lot}")
            m.ok(f"/api/lots/{lot}/payments", {"amount": 10_100 - 1000})  # the price less the deposit held
        m.wait_for(lambda: len(m.client.get("/api/certificates").json()["codes"]) == 2, what="two codes")
        codes = sorted(m.client.get("/api/certificates").json()["codes"])
        first = m.client.get(f"/api/certificates/{codes[0]}", headers=m.auditor).json()["certificate"]
        assert first == _issued_from_the_whole_ledger(db, first)
        public = m.client.get(f"/api/certificates/{codes[0]}").json()  # the public: no transcript
        assert public["certificate"] == {k: v for k, v in first.items() if k != "transcript"}
        assert public["verdict"]["ok"] is True, public["verdict"]
        as_file = m.client.get(f"/certificates/{codes[0]}.cert.json", headers=m.auth("acme")).json()
        assert "transcript" not in as_file and as_file == public["certificate"]
        tokens = dict(m.tokens)
    with TestClient(make_app(db)) as client:  # restarted: the index is rebuilt from the ledger
        m = Market(client, db, None, tokens)
        for code in codes:
            cert = m.client.get(f"/api/certificates/{code}", headers=m.op).json()["certificate"]
            assert cert == _issued_from_the_whole_ledger(db, cert)
            assert any(item["index"] > 0 for item in cert["transcript"])


# -- signed bids ----------------------------------------------------------------------------------------


def _key() -> tuple[Ed25519PrivateKey, bytes]:
    priv = Ed25519PrivateKey.generate()
    return priv, priv.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def test_signed_bids(market: Market) -> None:
    m = market
    m.admit("acme", "bolt")
    m.open_lot("L1", deposits={"acme": 1000, "bolt": 1000})
    priv, pub = _key()
    problem(m.post("/api/lots/L1/bids", {"amount": 10_000, "sig": "00" * 64}, who="acme", idem="s0"), 422, "no_key")
    r = m.bind_key("acme", priv)
    assert r.status_code == 200 and r.json()["pubkey"] == pub.hex() and r.json()["key_epoch"] == 1
    problem(m.post("/api/lots/L1/bids", {"amount": 10_000}, who="acme"), 403, "signature_required")
    cmd = {"op": "bid", "actor": "acme", "lot": "L1", "amount": 10_000, "idem": "s1", "key": pub}
    sig = sign_command(priv, MARKET, cmd)
    problem(
        m.post("/api/lots/L1/bids", {"amount": 10_000, "sig": sig.hex()}, who="acme"), 422, "idempotency_key_required"
    )
    problem(
        m.post("/api/lots/L1/bids", {"amount": 10_100, "sig": sig.hex()}, who="acme", idem="s1"), 403, "bad_signature"
    )
    other, _ = _key()
    forged = sign_command(other, MARKET, cmd)
    problem(
        m.post("/api/lots/L1/bids", {"amount": 10_000, "sig": forged.hex()}, who="acme", idem="s1"),
        403,
        "bad_signature",
    )
    elsewhere = sign_command(priv, "another.market", cmd)
    problem(
        m.post("/api/lots/L1/bids", {"amount": 10_000, "sig": elsewhere.hex()}, who="acme", idem="s1"),
        403,
        "bad_signature",
    )
    ack = m.ok("/api/lots/L1/bids", {"amount": 10_000, "sig": sig.hex()}, who="acme", idem="s1")
    entry = entry_at(m.db, ack["seq"])
    assert entry["sig"] == sig and entry["key"] == pub
    # An auditor checks the signature from the ledger entry alone.
    assert verify_command(MARKET, command_from_entry(entry), entry["sig"], entry["key"])
    # The same signed command sent again is the same request (answered from the ledger, not re-recorded).
    again = m.post("/api/lots/L1/bids", {"amount": 10_000, "sig": sig.hex()}, who="acme", idem="s1")
    assert again.json()["seq"] == ack["seq"] and again.json()["replayed"]
    # bidders without a key are unaffected
    m.ok("/api/lots/L1/bids", {"amount": 10_100}, who="bolt")


# -- reading -------------------------------------------------------------------------------------------------


def test_reading_endpoints(market: Market) -> None:
    m = market
    m.admit("acme")
    m.open_lot("L1", deposits={"acme": 1000})
    t0 = int(time.time() * 1000)
    now = m.client.get("/api/time").json()["server_time"]
    assert abs(now - t0) < 5000
    info = m.client.get("/api/market").json()
    assert info["origin"] == MARKET and info["vkey"].startswith(MARKET + "+") and info["lots"] == 1
    problem(m.client.get("/api/lots/NOPE"), 404, "unknown_lot")
    problem(m.client.get("/api/me/lots/NOPE", headers=m.auth("acme")), 404, "unknown_lot")
    ops = m.client.get("/api/operator/lots", headers=m.op).json()["lots"]
    assert ops[0]["deposits"] == {"acme": 1000}
    me = m.client.get("/api/me", headers=m.auth("acme")).json()
    assert me["deposits"] == {"L1": 1000}
    doc = m.client.get("/openapi.json").json()
    assert "/api/lots/{lot}/bids" in doc["paths"] and "409" in doc["paths"]["/api/lots/{lot}/bids"]["post"]["responses"]
    for page in ("/", "/console", "/room", "/certificate", "/static/common.js", "/static/app.css"):
        assert m.client.get(page).status_code == 200, page


def test_fast_lane_answers_exactly_like_the_framework_route(tmp_path: Any) -> None:
    """The bid hot path (fastlane.py) and the FastAPI route give the same statuses and bodies."""
    script: list[tuple[str, Any, str | None]] = [
        ("acme", {"amount": 10_000}, None),
        ("acme", {"amount": 10_100}, None),  # already leading
        ("bolt", {"amount": 10_050}, "k1"),  # not a multiple
        ("bolt", {"amount": 10_050}, "k1"),  # replayed
        ("bolt", {"amount": 10_100}, "k1"),  # key reused
        ("bolt", {"amount": 10.5}, None),  # malformed
        ("bolt", {"amount": 10_100}, None),
        ("acme", {"amount": 10_100, "extra": 1}, None),
    ]
    answers = []
    lanes = []
    for fast in (True, False):
        db = tmp_path / f"fast-{fast}.db"
        with TestClient(make_app(db, fast_lane=fast)) as client:
            m = Market(client, db, None)
            m.admit("acme", "bolt")
            m.open_lot("L1", deposits={"acme": 1000, "bolt": 1000})
            out = []
            for who, body, idem in script:
                r = m.post("/api/lots/L1/bids", body, who=who, idem=idem)
                data = r.json()
                data.pop("server_time")
                if "seq" in data:  # an entry was recorded: its receipt (entry times differ between the runs)
                    take_receipt(data)
                out.append((r.status_code, data, r.headers.get("idempotent-replayed")))
            answers.append(out)
            lanes.append(client.app.state.fast_lane.served if fast else None)
    assert answers[0] == answers[1]
    assert lanes[0] >= 4  # the plain bids were answered by the fast lane


def test_names_are_names_and_ids_stay_ascii(market: Market) -> None:
    """A seller, a title, a sub-market's and a bidder's name take Chinese (NFC-normalised); ids stay ASCII."""
    m = market
    m.ok("/api/lots", {"lot": "Z1", "mode": "english", "seller": "浙江大学", "title": "一种低损耗光纤",
                       "params": english()})  # fmt: skip
    assert m.view("Z1")["seller"] == "浙江大学"
    m.ok("/api/lots", {"lot": "Z2", "mode": "english", "seller": "e\u0301cole", "params": english()})
    assert m.view("Z2")["seller"] == "\u00e9cole"  # NFC
    for seller, said in [("a\u200bb", "U+200B"), (" 浙大", "white space"), ("x\u0000", "U+0000"), ("x" * 201, "200")]:
        body = problem(m.post("/api/lots", {"lot": "Z3", "mode": "english", "seller": seller}), 422, "malformed")
        assert body["field"] == "seller" and said in body["message"], body
    problem(m.post("/api/lots", {"lot": "浙大", "mode": "english"}), 422, "malformed")  # an id: ASCII
    r = m.client.post("/api/bidders", json={"bidder": "zju", "name": "浙江大学技术转移中心"}, headers=m.op)
    assert r.status_code == 200 and r.json()["name"] == "浙江大学技术转移中心"
