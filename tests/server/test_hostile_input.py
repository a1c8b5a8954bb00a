"""Hostile requests never break the market: after any of them the ledger restarts and verifies.

Each case found by an attacker against a fresh `serve` is reproduced exactly (issue 13), then a
hypothesis property sends random command sequences — random ops, key orders, nesting, types, sizes
and unicode, from every role — and demands that the market restarts on its ledger and the ledger
verifies, every time.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from auction_engine.server.commands import SPECS
from ledger import open_store
from ledger.audit import audit_store

from .conftest import OP_TOKEN, LiveServer, Market, english, http_json, make_app, signer


def restart_and_verify(db: Path) -> int:
    """Start a new market on the ledger (its replay must succeed), then audit the ledger; return its size."""
    app = make_app(db)
    with TestClient(app) as client:
        assert client.get("/api/market").status_code == 200
    store = open_store(str(db))
    try:
        report = audit_store(store, signer().verifier)
    finally:
        store.close()
    assert report.ok, [p.message for p in report.problems]
    return report.size


def entries(m: Market) -> int:
    return int(m.client.get("/api/market").json()["entries"])


def raw(m: Market, path: str, body: bytes, who: str | None = None) -> Any:
    headers = dict(m.op if who is None else m.auth(who))
    headers["Content-Type"] = "application/json"
    return m.client.post(path, content=body, headers=headers)


def setup_english(m: Market) -> None:
    m.admit("b1", "b2")
    m.open_lot("E1", deposits={"b1": 1_000, "b2": 1_000})


# -- the exact cases ---------------------------------------------------------------------------------


def test_key_order_in_a_refused_bid_cannot_break_replay(market: Market) -> None:
    setup_english(market)
    before = entries(market)
    r = raw(market, "/api/lots/E1/commands/bid", b'{"amount":{"b":1,"a":2}}', "b1")
    assert r.status_code == 422 and r.json()["field"] == "amount", r.text
    assert entries(market) == before  # the schema refused it: nothing reached the ledger
    for path, body in (
        ("/api/lots/E1/commands/commit", b'{"hash":{"b":1,"a":2}}'),
        ("/api/lots/E1/commands/proxy", b'{"max":[{"z":1,"a":1}]}'),
    ):
        assert raw(market, path, body, "b1").status_code == 422
    market.client.__exit__(None, None, None)
    restart_and_verify(market.db)


def test_open_lot_params_in_any_order(market: Market) -> None:
    r = raw(market, "/api/lots/X1/commands/open_lot", b'{"mode":"english","params":{"zz":1,"aa":1}}')
    assert r.status_code == 422, r.text
    assert r.json()["field"] in ("params.zz", "params.aa") and "unknown parameter" in r.json()["message"]
    # Known parameters in any order give one ledger entry whose bytes replay.
    r = raw(
        market,
        "/api/lots",
        b'{"params":{"start_price":10000,"increment":100,"free_ms":60000,"countdown_ms":30000},'
        b'"mode":"english","lot":"X2"}',
    )
    assert r.status_code == 200, r.text
    market.client.__exit__(None, None, None)
    restart_and_verify(market.db)


def test_txcode_is_not_a_command(market: Market) -> None:
    setup_english(market)
    before = entries(market)
    r = market.post("/api/lots/E1/commands/txcode", {})
    assert r.status_code == 422 and r.json()["code"] == "unknown_command", r.text
    for op in ("deal", "final", "auto_bid", "refund", "open_market"):
        assert market.post(f"/api/lots/E1/commands/{op}", {}).status_code == 422
    assert entries(market) == before
    market.client.__exit__(None, None, None)
    restart_and_verify(market.db)


def test_deep_nesting_is_refused_before_the_ledger(market: Market) -> None:
    setup_english(market)
    before = entries(market)
    deep = b'{"x":' * 495 + b"1" + b"}" * 495
    r = raw(market, "/api/lots/E1/bids", b'{"amount":10000,"extra":' + deep + b"}", "b1")
    assert r.status_code == 422 and r.json()["code"] == "too_deep", r.text
    assert r.json()["field"].startswith("extra.x.x"), r.json()
    # A hundred thousand levels: refused from the raw bytes, never a parser's stack overflow.
    r = raw(market, "/api/lots/E1/commands/bid", b"[" * 100_000 + b"]" * 100_000, "b1")
    assert r.status_code in (413, 422), r.text
    assert entries(market) == before
    market.client.__exit__(None, None, None)
    restart_and_verify(market.db)


def test_size_limits(market: Market) -> None:
    setup_english(market)
    before = entries(market)
    r = raw(market, "/api/lots/E1/objections", json.dumps({"grounds": "x" * (50 << 20)}).encode(), "b1")
    assert r.status_code == 413 and r.json()["code"] == "too_large", r.text[:300]
    r = market.post("/api/lots/E1/commands/bid", {"amount": 10_000, "note": "y" * 5_000}, "b1")
    assert r.status_code == 422 and r.json()["field"] == "note", r.text
    r = market.post("/api/lots/E1/commands/pay", {"amount": 1, "junk": list(range(5_000))})
    assert r.status_code == 422 and r.json()["code"] == "too_long", r.text
    assert entries(market) == before


def test_money_beyond_the_documented_maximum(market: Market) -> None:
    before = entries(market)
    r = market.post("/api/lots", {"lot": "BIG", "mode": "english", "params": english(start_price=2**63)})
    assert r.status_code == 422 and r.json()["field"] == "params.start_price", r.text
    r = market.post("/api/lots", {"lot": "BIG", "mode": "english", "params": english(start_price=10**15 + 1)})
    assert r.status_code == 422, r.text
    assert entries(market) == before
    setup_english(market)
    for amount in (-1, 10**15 + 1, 2**63, 2**64):
        r = market.post("/api/lots/E1/bids", {"amount": amount}, "b1")
        assert r.status_code == 422 and r.json()["field"] == "amount", (amount, r.text)
    market.ok("/api/lots", {"lot": "MAX", "mode": "english", "params": english(start_price=10**15 - 10**6)})


def test_duplicate_keys_in_a_body_are_refused(market: Market) -> None:
    setup_english(market)
    before = entries(market)
    r = raw(market, "/api/lots/E1/bids", b'{"amount":10000,"amount":20000}', "b1")
    assert r.status_code == 422 and "amount" in r.json()["message"] and r.json()["field"] == "amount", r.text
    r = raw(market, "/api/lots", b'{"lot":"D1","mode":"english","params":{"increment":1,"increment":2}}')
    assert r.status_code == 422 and r.json()["field"] == "params.increment", r.text
    assert entries(market) == before


def test_unknown_and_reserved_fields_are_refused(market: Market) -> None:
    setup_english(market)
    before = entries(market)
    for body in ({"amount": 10_000, "ok": True}, {"amount": 10_000, "actor": "b2"}, {"amount": 10_000, "seq": 1}):
        r = market.post("/api/lots/E1/commands/bid", body, "b1")
        assert r.status_code == 422 and r.json()["field"] in body, r.text
    r = market.post("/api/lots/E1/commands/commit", {"hash": "00" * 32, "amount": 123_456}, "b1")
    assert r.status_code == 422 and r.json()["field"] == "amount", r.text
    assert entries(market) == before


def test_405_carries_allow(market: Market) -> None:
    r = market.client.delete("/api/lots")
    assert r.status_code == 405
    assert "GET" in r.headers["allow"] and "POST" in r.headers["allow"]


def test_a_bad_lot_id_in_the_path_is_refused(market: Market) -> None:
    setup_english(market)
    before = entries(market)
    for lot in ("é" * 3, "a" * 65, "-x", "a b"):
        r = market.post(f"/api/lots/{lot}/bids", {"amount": 10_000}, "b1")
        assert r.status_code == 422 and r.json()["field"] == "lot", (lot, r.text)
    assert entries(market) == before


def test_every_documented_status_is_in_the_openapi_document(market: Market) -> None:
    doc = market.client.get("/openapi.json").json()
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method in ("post", "put"):
                assert "413" in op["responses"], (method, path)
                assert "422" in op["responses"], (method, path)


# -- the property ------------------------------------------------------------------------------------

_ATOMS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.text(max_size=30),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=False, allow_infinity=False),
)
_VALUES = st.recursive(
    _ATOMS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
_FIELD_NAMES = st.sampled_from(
    [
        "amount",
        "max",
        "price",
        "hash",
        "nonce",
        "grounds",
        "party",
        "parties",
        "params",
        "mode",
        "down",
        "schedule",
        "upheld",
        "approved",
        "objection",
        "payer",
        "sig",
        "op",
        "actor",
        "ok",
        "seq",
        "lot",
        "x",
    ]
)


def _body(fields: dict[str, Any], reverse: bool) -> bytes:
    items = list(fields.items())
    if reverse:
        items.reverse()
    return ("{" + ",".join(f"{json.dumps(k)}:{json.dumps(v)}" for k, v in items) + "}").encode()


_REQUEST = st.tuples(
    st.sampled_from([*sorted(SPECS), "txcode", "deal", "nosuch"]),
    st.dictionaries(_FIELD_NAMES, _VALUES, max_size=4),
    st.booleans(),
    st.sampled_from(["operator", "b1", "b2"]),
    st.sampled_from(["E1", "S1", "A1", "Z9"]),
)


_HEALTH = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large]
Requests = list[tuple[str, dict[str, Any], bool, str, str]]


@settings(max_examples=15, deadline=None, suppress_health_check=_HEALTH, derandomize=True)
@given(requests=st.lists(_REQUEST, min_size=5, max_size=25))
def test_any_request_sequence_leaves_a_ledger_that_restarts_and_verifies(
    tmp_path_factory: Any, requests: Requests
) -> None:
    _send_then_restart(Path(tmp_path_factory.mktemp("hostile")), requests)


@pytest.mark.slow
@settings(max_examples=400, deadline=None, suppress_health_check=_HEALTH)
@given(requests=st.lists(_REQUEST, min_size=5, max_size=60))
def test_any_request_sequence_soak(tmp_path_factory: Any, requests: Requests) -> None:
    _send_then_restart(Path(tmp_path_factory.mktemp("hostile")), requests)


def _send_then_restart(directory: Path, requests: Requests) -> None:
    """Send each request to the generic and the bid endpoint; no 5xx; then restart and verify the ledger."""
    db = directory / "ledger.db"
    app = make_app(db)
    with TestClient(app) as client:
        m = Market(client, db, app)
        m.admit("b1", "b2")
        m.open_lot("E1", deposits={"b1": 100_000})
        sealed = {"price_rule": "second", "min_price": 1_000, "bid_ms": 60_000, "reveal_ms": 60_000}
        m.ok("/api/lots", {"lot": "S1", "mode": "sealed", "params": sealed})
        for op, fields, reverse, who, lot in requests:
            headers = {
                "Authorization": f"Bearer {OP_TOKEN if who == 'operator' else m.tokens[who]}",
                "Content-Type": "application/json",
            }
            r = client.post(f"/api/lots/{lot}/commands/{op}", content=_body(fields, reverse), headers=headers)
            assert r.status_code < 500, (op, fields, r.status_code, r.text)
            r = client.post(f"/api/lots/{lot}/bids", content=_body(fields, reverse), headers=headers)
            assert r.status_code < 500, (fields, r.status_code, r.text)
    restart_and_verify(db)


# -- the limits as `serve` flags, on a real server --------------------------------------------------


def test_serve_limits_flags(tmp_path: Path) -> None:
    server = LiveServer(tmp_path, extra=["--max-body", "2048", "--max-depth", "3", "--max-string", "100"])
    server.start()
    try:
        url = server.url
        status, body = http_json("POST", f"{url}/api/lots", {"lot": "L1", "mode": "english", "title": "x" * 3000})
        assert status == 413 and body["code"] == "too_large" and "--max-body" in body["message"], body
        status, body = http_json("POST", f"{url}/api/lots", {"lot": "L1", "mode": "english", "title": "x" * 101})
        assert status == 422 and body["code"] == "too_long" and body["field"] == "title", body
        status, body = http_json("POST", f"{url}/api/lots", {"lot": "L1", "mode": "english", "params": {"a": [[1]]}})
        assert status == 422 and body["code"] == "too_deep" and body["field"] == "params.a[0]", body
        status, _ = http_json("POST", f"{url}/api/lots", {"lot": "L1", "mode": "english", "params": english()})
        assert status == 200
    finally:
        server.stop()
    assert "Traceback" not in server.stderr()


def test_serve_refuses_params_with_a_repeated_key(tmp_path: Path) -> None:
    params = tmp_path / "params.json"
    params.write_text('{"increment": 100, "increment": 200}')
    key = tmp_path / "market.key"
    key.write_text(signer().encode() + "\n")
    done = subprocess.run(
        [sys.executable, "-m", "auction_engine", "serve", "--db", str(tmp_path / "l.db"), "--key", str(key),
         "--port", "0", "--params", str(params)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "increment" in done.stderr and "Traceback" not in done.stderr
