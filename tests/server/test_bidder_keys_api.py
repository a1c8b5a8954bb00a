"""Bidder keys over the API: binding, rotation, the operator's reset, signed-only lots, restart and replay.

A key is never set directly: `PUT /api/me/key` and the admission's `statement` run `bind_key`
(a statement signed by the new key, and by the old one to rotate), and the operator's
`POST /api/bidders/{bidder}/key-reset` runs `reset_key` with its grounds (docs/rules.md §2.6,
docs/formats.md §12.2). The rules' refusals answer with `status_for(code)`; the server's own
signature checks (before the engine) answer 403/422. Nothing here may ever answer a 5xx, and the
key state must come back from the ledger alone after a restart.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from starlette.testclient import TestClient

from auction_engine.bidder_keys import sign_statement, statement_text
from auction_engine.replay import replay
from auction_engine.server.responses import status_for
from auction_engine.signing import sign_command
from ledger import SQLiteStore, canonical, note

from .conftest import MARKET, Market, english, make_app, take_receipt
from .test_api import entry_at, problem


def pub(priv: Ed25519PrivateKey) -> bytes:
    return priv.public_key().public_bytes_raw()


def statement(bidder: str, new: Ed25519PrivateKey, epoch: int = 0, old: Ed25519PrivateKey | None = None) -> str:
    old_seed = old.private_bytes_raw() if old is not None else None
    return sign_statement(MARKET, bidder, epoch, new.private_bytes_raw(), old_seed)


def put_key(m: Market, bidder: str, body: Any) -> Any:
    return m.client.put("/api/me/key", json=body, headers=m.auth(bidder))


def me(m: Market, bidder: str) -> dict[str, Any]:
    r = m.client.get("/api/me", headers=m.auth(bidder))
    assert r.status_code == 200, r.text
    return r.json()


def key_state(m: Market, bidder: str) -> tuple[str | None, int]:
    body = me(m, bidder)
    return body["pubkey"], body["key_epoch"]


def _sig(priv: Ed25519PrivateKey, bidder: str, lot: str, amount: int, idem: str) -> str:
    """Hex signature of `bidder`'s bid, as docs/formats.md "Signed commands" pins it."""
    cmd = {"op": "bid", "actor": bidder, "lot": lot, "amount": amount, "idem": idem, "key": pub(priv)}
    return sign_command(priv, MARKET, cmd).hex()


def signed_bid(m: Market, bidder: str, priv: Ed25519PrivateKey, lot: str, amount: int, idem: str) -> Any:
    body = {"amount": amount, "sig": _sig(priv, bidder, lot, amount, idem)}
    return m.post(f"/api/lots/{lot}/bids", body, who=bidder, idem=idem)


def refused(r: Any, code: str) -> dict[str, Any]:
    """A rules refusal: its status by `status_for`, a recorded entry and its receipt."""
    body = problem(r, status_for(code), code)
    take_receipt(body)
    return body


def ledger_entries(db: Path) -> list[bytes]:
    store = SQLiteStore(db, readonly=True)
    try:
        return [row.data for row in store.rows()]
    finally:
        store.close()


@contextmanager
def session(db: Path, tokens: dict[str, str] | None = None) -> Iterator[Market]:
    with TestClient(make_app(db)) as client:
        yield Market(client, db, None, dict(tokens or {}))


# -- binding ---------------------------------------------------------------------------------------------


def test_bind_key_and_its_refusals(market: Market) -> None:
    m = market
    m.admit("acme", "bolt")
    key = Ed25519PrivateKey.generate()
    assert key_state(m, "acme") == (None, 0)
    problem(put_key(m, "acme", {"pubkey": pub(key).hex()}), 422, "malformed")  # the old body
    good = statement("acme", key)
    r = problem(put_key(m, "acme", {"statement": good, "pubkey": pub(key).hex()}), 422, "malformed")
    assert r["field"] == "pubkey" and "not a field" in r["message"]
    r = put_key(m, "acme", {"statement": good})
    assert r.status_code == 200, r.text
    assert (r.json()["pubkey"], r.json()["key_epoch"]) == (pub(key).hex(), 1)
    assert key_state(m, "acme") == (pub(key).hex(), 1)
    bound = [e for e in map(canonical.decode, ledger_entries(m.db)) if e["kind"] == "bind_key" and e["ok"]]
    assert len(bound) == 1 and bound[0]["actor"] == "acme" and bound[0]["statement"] == good
    assert bound[0]["rule"] == "keys.bind" and bound[0]["out"] == {"key": pub(key), "epoch": 1}
    # bolt's statement naming key K but signed by another key X: no proof of possession
    k, x = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    forged = note.sign_note(statement_text(MARKET, "bolt", 0, None, pub(k)), note.Signer("bolt", x.private_bytes_raw()))
    refused(put_key(m, "bolt", {"statement": forged}), "bad_signature")
    refused(put_key(m, "bolt", {"statement": good}), "bad_statement")  # acme's statement, sent by bolt
    refused(put_key(m, "bolt", {"statement": statement("bolt", k).replace(MARKET, "other.market")}), "bad_statement")
    refused(put_key(m, "acme", {"statement": good}), "stale_statement")  # replayed: epoch 0 is gone
    refused(m.bind_key("acme", key, epoch=1, old=key), "same_key")
    assert key_state(m, "acme") == (pub(key).hex(), 1) and key_state(m, "bolt") == (None, 0)


def test_rotation_signed_by_old_and_new(market: Market) -> None:
    m = market
    m.admit("acme")
    m.open_lot("L1", deposits={"acme": 1000})
    m.open_lot("L2", deposits={"acme": 1000})
    old, new = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    assert m.bind_key("acme", old).status_code == 200
    m.ok("/api/lots/L1/bids", {"amount": 10_000, "sig": _sig(old, "acme", "L1", 10_000, "b1")}, "acme", "b1")
    r = m.bind_key("acme", new, epoch=1, old=old)
    assert r.status_code == 200, r.text
    assert (r.json()["pubkey"], r.json()["key_epoch"]) == (pub(new).hex(), 2)
    assert key_state(m, "acme") == (pub(new).hex(), 2)
    problem(signed_bid(m, "acme", old, "L2", 10_000, "b2"), 403, "bad_signature")
    problem(m.post("/api/lots/L2/bids", {"amount": 10_000}, who="acme"), 403, "signature_required")
    ack = m.ok("/api/lots/L2/bids", {"amount": 10_000, "sig": _sig(new, "acme", "L2", 10_000, "b2")}, "acme", "b2")
    assert entry_at(m.db, ack["seq"])["key"] == pub(new)


def test_a_token_alone_cannot_clear_or_replace_a_key(market: Market) -> None:
    m = market
    m.admit("acme")
    real, attacker = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    assert m.bind_key("acme", real).status_code == 200
    # the attacker holds acme's token: a rotation naming the real key, signed by the attacker's key only
    text = statement_text(MARKET, "acme", 1, pub(real), pub(attacker))
    only_new = note.sign_note(text, note.Signer("acme", attacker.private_bytes_raw()))
    r = refused(put_key(m, "acme", {"statement": only_new}), "bad_signature")
    assert "rotation" in r["message"]
    refused(put_key(m, "acme", {"statement": statement("acme", attacker, epoch=1)}), "bad_statement")  # old '-'
    problem(put_key(m, "acme", {"statement": None}), 422, "malformed")
    problem(put_key(m, "acme", {}), 422, "malformed")
    problem(put_key(m, "acme", {"statement": ""}), 422, "malformed")
    assert key_state(m, "acme") == (pub(real).hex(), 1)


# -- admission and the operator's reset ------------------------------------------------------------------


def test_admission_with_a_statement(market: Market) -> None:
    m = market
    key, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    r = m.post("/api/bidders", {"bidder": "newco", "statement": statement("newco", key)})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token"] and body["bidder"] == "newco"
    assert (body["pubkey"], body["key_epoch"]) == (pub(key).hex(), 1)
    m.tokens["newco"] = body["token"]
    assert key_state(m, "newco") == (pub(key).hex(), 1)
    # a refused statement admits no one
    bad = note.sign_note(
        statement_text(MARKET, "badco", 0, None, pub(key)), note.Signer("badco", other.private_bytes_raw())
    )
    r = refused(m.post("/api/bidders", {"bidder": "badco", "statement": bad}), "bad_signature")
    assert "token" not in r
    refused(m.post("/api/bidders", {"bidder": "badco", "statement": statement("newco", other)}), "bad_statement")
    listed = {b["bidder"]: b for b in m.client.get("/api/bidders", headers=m.op).json()}
    assert set(listed) == {"newco"} and listed["newco"]["pubkey"] == pub(key).hex()
    assert "badco" not in set(m.app.state.market.credentials.bidder_ids())
    problem(m.post("/api/bidders", {"bidder": "operator", "statement": statement("operator", key)}), 422, "malformed")


def test_operator_reset(market: Market) -> None:
    m = market
    m.admit("acme", "bolt")
    m.open_lot("L1", deposits={"acme": 1000})
    key = Ed25519PrivateKey.generate()
    assert m.bind_key("acme", key).status_code == 200
    problem(m.post("/api/bidders/acme/key-reset", {"grounds": "mine"}, who="acme"), 403, "forbidden")
    problem(m.post("/api/bidders/acme/key-reset", {}), 422, "malformed")
    problem(m.post("/api/bidders/acme/key-reset", {"grounds": ""}), 422, "malformed")
    problem(m.post("/api/bidders/acme/key-reset", {"reason": "lost phone"}), 422, "malformed")
    ack = m.ok("/api/bidders/acme/key-reset", {"grounds": "lost phone"})
    take_receipt(ack)
    entry = entry_at(m.db, ack["seq"])
    assert (entry["kind"], entry["actor"], entry["bidder"], entry["grounds"]) == (
        "reset_key", "operator", "acme", "lost phone",
    )  # fmt: skip
    assert entry["ok"] is True and entry["out"] == {"epoch": 2}
    assert key_state(m, "acme") == (None, 2)
    m.ok("/api/lots/L1/bids", {"amount": 10_000}, who="acme")  # unsigned bids again
    refused(m.post("/api/bidders/bolt/key-reset", {"grounds": "none bound"}), "no_key")
    refused(m.post("/api/bidders/acme/key-reset", {"grounds": "again"}), "no_key")
    refused(m.bind_key("acme", key), "stale_statement")  # epoch 0's statement is spent
    assert m.bind_key("acme", key, epoch=2).status_code == 200  # a fresh statement binds it again
    assert key_state(m, "acme") == (pub(key).hex(), 3)


def test_require_signed_bids(market: Market) -> None:
    m = market
    m.admit("acme", "bolt")
    m.open_lot("S1", params=english(require_signed_bids=True), deposits={"acme": 1000, "bolt": 1000})
    refused(m.post("/api/lots/S1/bids", {"amount": 10_000}, who="bolt"), "signature_required")
    key = Ed25519PrivateKey.generate()
    assert m.bind_key("acme", key).status_code == 200
    ack = m.ok("/api/lots/S1/bids", {"amount": 10_000, "sig": _sig(key, "acme", "S1", 10_000, "s1")}, "acme", "s1")
    take_receipt(ack)
    assert ack["rule"] and entry_at(m.db, ack["seq"])["key"] == pub(key)
    assert m.view("S1")["bids"] == 1


# -- the ledger alone: restart and replay ----------------------------------------------------------------


def test_key_state_survives_a_restart_and_replays(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    a1, a2, b1 = (Ed25519PrivateKey.generate() for _ in range(3))
    with session(db) as m:
        m.admit("acme", "bolt", "cato")
        m.open_lot("L1", deposits={"acme": 1000, "bolt": 1000, "cato": 1000})
        m.open_lot("S1", params=english(require_signed_bids=True), deposits={"acme": 1000, "bolt": 1000})
        assert m.bind_key("acme", a1).status_code == 200
        m.ok("/api/lots/L1/bids", {"amount": 10_000, "sig": _sig(a1, "acme", "L1", 10_000, "a1")}, "acme", "a1")
        assert m.bind_key("acme", a2, epoch=1, old=a1).status_code == 200
        problem(signed_bid(m, "acme", a1, "L1", 10_100, "a2"), 403, "bad_signature")
        m.ok("/api/lots/S1/bids", {"amount": 10_000, "sig": _sig(a2, "acme", "S1", 10_000, "a3")}, "acme", "a3")
        assert m.bind_key("bolt", b1).status_code == 200
        m.ok("/api/lots/L1/bids", {"amount": 10_100, "sig": _sig(b1, "bolt", "L1", 10_100, "b1")}, "bolt", "b1")
        m.ok("/api/bidders/bolt/key-reset", {"grounds": "stolen laptop"})
        refused(m.post("/api/lots/S1/bids", {"amount": 10_100}, who="bolt"), "signature_required")
        m.ok("/api/lots/L1/bids", {"amount": 10_200}, who="cato")
        m.ok("/api/lots/L1/bids", {"amount": 10_300}, who="bolt")  # unsigned again after the reset
        refused(put_key(m, "cato", {"statement": statement("acme", a1)}), "bad_statement")  # recorded, no change
        tokens = dict(m.tokens)
        before = {b: key_state(m, b) for b in tokens}
    assert before == {"acme": (pub(a2).hex(), 2), "bolt": (None, 2), "cato": (None, 0)}
    with session(db, tokens) as m:
        assert {b: key_state(m, b) for b in tokens} == before
        listed = {b["bidder"]: (b["pubkey"], b["key_epoch"]) for b in m.client.get("/api/bidders", headers=m.op).json()}
        assert listed == before
        problem(signed_bid(m, "acme", a1, "L1", 10_400, "a4"), 403, "bad_signature")
        m.ok("/api/lots/L1/bids", {"amount": 10_400, "sig": _sig(a2, "acme", "L1", 10_400, "a4")}, "acme", "a4")
    entries = ledger_entries(db)
    decoded = [canonical.decode(d) for d in entries]
    signed = sum(1 for e in decoded if e.get("ok") is True and "sig" in e)
    assert signed == 4
    report = replay(entries)
    assert report.ok, report.message
    assert report.signatures_checked == signed and report.signatures_pending == 0


# -- hostile statements ----------------------------------------------------------------------------------


def test_hostile_statements_answer_a_clean_4xx(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    key = Ed25519PrivateKey.generate()
    good = statement("acme", key)
    hostile = [
        good[:-1] + "\x00\n",
        good.replace("bidder acme", "bidder acme\x00"),
        "\x00" * 100,
        "just some words",
        "\n\n",
        good.replace("auction-engine/bidder-key/v1", "auction-engine/bidder-key/v2"),
        good.replace("epoch 0", "epoch -1"),
        good.replace("epoch 0", "epoch ٣"),
        good.replace("epoch 0", "epoch 9" * 40),
        good.replace("new ", "new !!"),
        good + good,
        "é" * 1024,
    ]
    with session(db) as m:
        m.admit("acme")
        problem(put_key(m, "acme", {"statement": "x" * 2000}), 422, "malformed")
        problem(m.post("/api/bidders", {"bidder": "newco", "statement": "x" * 2000}), 422, "malformed")
        for text in hostile:  # the rules read it and refuse it (a recorded entry), never a 5xx
            refused(put_key(m, "acme", {"statement": text}), "bad_statement")
        refused(m.post("/api/bidders", {"bidder": "newco", "statement": "\x00"}), "bad_statement")
        # raw JSON escapes: a lone surrogate has no UTF-8 form (422); an escaped NUL reaches the rules
        for raw, status, code in (
            (rb'"\ud800"', 422, "malformed"),
            (rb'"v1\n\udfff\n\n"', 422, "malformed"),
            (rb'"\u0000"', status_for("bad_statement"), "bad_statement"),
        ):
            r = m.client.put(
                "/api/me/key",
                content=b'{"statement": ' + raw + b"}",
                headers={**m.auth("acme"), "Content-Type": "application/json"},
            )
            problem(r, status, code)
        assert m.client.get("/api/bidders", headers=m.op).json() == [
            {"bidder": "acme", "number": "0001", "name": None, "pubkey": None, "key_epoch": 0}
        ]
        health = m.client.get("/api/health").json()
        assert health["ok"] is True and health["state"] == "serving"
        assert key_state(m, "acme") == (None, 0)
        assert put_key(m, "acme", {"statement": good}).status_code == 200
        tokens = dict(m.tokens)
    with session(db, tokens) as m:
        assert m.client.get("/api/health").json()["ok"] is True
        assert key_state(m, "acme") == (pub(key).hex(), 1)
    report = replay(ledger_entries(db))
    assert report.ok, report.message
