"""Bidders see one another only by bidder number (竞买号); names only to the operator and to themselves; a
party sees its own refusals and payments, nobody else's — in the public views, the rooms and the feed.

The operator's console sees the ledger whole, through the feed's `ae.bearer.<token>` subprotocol.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from auction_engine.server import privacy
from auction_engine.server.auth import Credentials

from .conftest import OP_TOKEN, Market, english, make_app
from .test_secrecy import _drain, _published

NAMES = {"acme": "杭州智造有限公司", "bolt": "宁波电气", "cove": "温州电子"}


def _admit_named(market: Market) -> dict[str, str]:
    numbers = {}
    for bidder, name in NAMES.items():
        r = market.client.post("/api/bidders", json={"bidder": bidder, "name": name}, headers=market.op)
        assert r.status_code == 200, r.text
        market.tokens[bidder] = r.json()["token"]
        numbers[bidder] = r.json()["number"]
    return numbers


def _run_english(market: Market) -> None:
    market.open_lot("E1", params=english(), deposits={"acme": 1_000, "bolt": 1_000, "cove": 1_000})
    market.ok("/api/lots/E1/bids", {"amount": 10_000}, who="acme")
    refused = market.post("/api/lots/E1/bids", {"amount": 10_001}, who="bolt")  # off the grid: a refusal
    assert refused.status_code == 409, refused.text
    market.ok("/api/lots/E1/bids", {"amount": 10_100}, who="bolt")


def test_numbers_are_assigned_at_admission_kept_on_readmission_and_generated_ids_are_numbers(market: Market) -> None:
    numbers = _admit_named(market)
    assert sorted(numbers.values()) == ["0001", "0002", "0003"]
    again = market.client.post("/api/bidders", json={"bidder": "acme"}, headers=market.op).json()
    assert again["number"] == numbers["acme"] and again["name"] == NAMES["acme"]
    fresh = market.client.post("/api/bidders", json={"name": "绍兴光学"}, headers=market.op)
    assert fresh.status_code == 200, fresh.text
    assert fresh.json()["bidder"] == fresh.json()["number"] == "0004"
    me = market.client.get("/api/me", headers={"Authorization": f"Bearer {fresh.json()['token']}"}).json()
    assert (me["actor"], me["number"], me["name"]) == ("0004", "0004", "绍兴光学")


def test_a_generated_id_cannot_come_with_a_key_statement(market: Market) -> None:
    r = market.client.post("/api/bidders", json={"name": "x", "statement": "s"}, headers=market.op)
    assert r.status_code == 422 and r.json()["field"] == "bidder"


def test_the_public_views_name_bidders_by_number_only(market: Market) -> None:
    numbers = _admit_named(market)
    _run_english(market)
    public = market.view("E1")
    assert public["leader"] == numbers["bolt"]
    mine = market.view("E1", "acme")
    assert mine["leader"] == numbers["bolt"] and mine["my_deposit"] == 1_000
    listing = market.client.get("/api/lots").text
    for bidder, name in NAMES.items():
        assert f'"{bidder}"' not in listing and name not in listing
    operator = market.client.get("/api/operator/lots", headers=market.op).json()["lots"][0]
    assert operator["leader"] == "bolt" and operator["deposits"]["acme"] == 1_000
    assert operator["operator_may_close"] is False  # the console offers "end this phase" only when it may


def test_the_public_feed_shows_numbers_and_no_refusal_or_money(market: Market) -> None:
    numbers = _admit_named(market)
    with market.client.websocket_connect("/api/feed") as ws:
        _drain(ws, lambda m: m["type"] == "snapshot")
        _run_english(market)
        seen = _drain(ws, lambda m: m["type"] == "lot" and m["view"].get("leader") == numbers["bolt"])
    text = json.dumps(seen, ensure_ascii=False)
    for bidder, name in NAMES.items():
        assert f'"{bidder}"' not in text and name not in text
    events = [m for m in seen if m["type"] == "event"]
    assert {m["kind"] for m in events} >= {"open_lot", "bid"}
    assert all(m["data"].get("ok") is not False for m in events), "a refusal reached the public"
    assert not [m for m in events if m["kind"] == "deposit"], "a deposit reached the public"
    bids = [m["data"]["actor"] for m in events if m["kind"] == "bid"]
    assert bids == [numbers["acme"], numbers["bolt"]]


def test_the_public_log_shows_numbers_and_withholds_refusals_and_money(market: Market) -> None:
    numbers = _admit_named(market)
    _run_english(market)
    size = market.client.get("/api/market").json()["entries"]
    _published(market, size)
    public = market.client.get("/api/log/entries", params={"limit": 1000}).json()
    assert public["audience"] == "public" and len(public["entries"]) >= size
    text = json.dumps(public, ensure_ascii=False)
    for bidder, name in NAMES.items():
        assert f'"{bidder}"' not in text and name not in text
    whole = market.client.get("/api/log/entries", params={"limit": 1000}, headers=market.auditor).json()
    assert whole["audience"] == "auditor"
    leaves = market.client.get(f"/log/tile/0/000.p/{public['size']}").content
    for shown, entry in zip(public["entries"], whole["entries"], strict=True):
        assert shown["seq"] == entry["seq"] and shown["leaf"] == entry["leaf"]
        assert bytes.fromhex(shown["leaf"]) == leaves[32 * shown["seq"] : 32 * shown["seq"] + 32]
        private = entry["entry"]["kind"] in privacy.PRIVATE_KINDS or entry["entry"].get("ok") is False
        assert shown["withheld"] is private, entry
        if private:
            assert set(shown) == {"seq", "leaf", "withheld"}
            continue
        assert ("data" in shown) is (shown["entry"] == entry["entry"])  # bytes only where nothing was hidden
        if "data" in shown:
            assert shown["data"] == entry["data"]
    kinds = [e["entry"]["kind"] for e in whole["entries"]]
    assert "deposit" in kinds and any(e["entry"].get("ok") is False for e in whole["entries"])
    bids = [e["entry"]["actor"] for e in public["entries"] if not e["withheld"] and e["entry"]["kind"] == "bid"]
    assert bids == [numbers["acme"], numbers["bolt"]]
    one = market.client.get(f"/api/log/entries/{bids and public['entries'][-1]['seq']}").json()
    assert one["audience"] == "public" and "acme" not in json.dumps(one)


def test_only_the_operator_gives_and_revokes_auditor_tokens(market: Market) -> None:
    market.admit("acme")
    assert market.client.post("/api/auditors", json={}, headers=market.auth("acme")).status_code == 403
    made = market.client.post("/api/auditors", json={"name": "浙江省审计厅"}, headers=market.op).json()
    assert made["auditor"] == "auditor-1" and made["name"] == "浙江省审计厅" and made["token"].startswith("au_")
    headers = {"Authorization": f"Bearer {made['token']}"}
    assert market.client.get("/log/tile/entries/000.p/1", headers=headers).status_code == 200
    # an auditor reads; it is nobody who acts
    assert market.client.get("/api/me", headers=headers).status_code == 401
    assert market.client.post("/api/lots/E1/bids", json={"amount": 1}, headers=headers).status_code == 401
    assert market.client.post("/api/auditors", json={}, headers=headers).status_code == 401
    listed = market.client.get("/api/auditors", headers=market.op).json()
    assert listed == [{"auditor": "auditor-1", "name": "浙江省审计厅"}]
    assert market.client.delete("/api/auditors/auditor-1", headers=market.op).status_code == 200
    assert market.client.get("/log/tile/entries/000.p/1", headers=headers).status_code == 401
    assert market.client.delete("/api/auditors/auditor-1", headers=market.op).json()["code"] == "unknown_auditor"


def test_the_operator_feed_is_the_ledger_whole(market: Market) -> None:
    _admit_named(market)
    protocols = ["ae.feed", f"ae.bearer.{OP_TOKEN}"]
    with market.client.websocket_connect("/api/feed", subprotocols=protocols) as ws:
        assert ws.accepted_subprotocol == "ae.feed"
        _drain(ws, lambda m: m["type"] == "snapshot")
        _run_english(market)
        seen = _drain(
            ws,
            lambda m: (
                m["type"] == "event"
                and m["kind"] == "bid"
                and m["data"].get("actor") == "bolt"
                and m["data"].get("ok") is True
            ),
        )
    kinds = [(m["kind"], m["data"].get("ok")) for m in seen if m["type"] == "event"]
    assert ("deposit", True) in kinds and ("bid", False) in kinds


def test_a_bidder_token_gets_the_public_feed_and_an_unknown_one_is_closed(market: Market) -> None:
    numbers = _admit_named(market)
    market.open_lot("E1", params=english(), deposits={"acme": 1_000})
    market.ok("/api/lots/E1/bids", {"amount": 10_000}, who="acme")
    with market.client.websocket_connect(
        "/api/feed", subprotocols=["ae.feed", f"ae.bearer.{market.tokens['acme']}"]
    ) as ws:
        snap = _drain(ws, lambda m: m["type"] == "snapshot")[-1]
    assert snap["lots"][0]["leader"] == numbers["acme"] and '"acme"' not in json.dumps(snap)
    wrong = ["ae.feed", "ae.bearer.bd_wrong"]
    with (
        pytest.raises(WebSocketDisconnect) as closed,
        market.client.websocket_connect("/api/feed", subprotocols=wrong) as ws,
    ):
        ws.receive_json()
    assert closed.value.code == 4401


def test_numbers_survive_a_restart(tmp_path: Any) -> None:
    db = tmp_path / "ledger.db"
    with TestClient(make_app(db)) as client:
        for b in ("zed", "amy"):
            assert (
                client.post(
                    "/api/bidders", json={"bidder": b}, headers={"Authorization": f"Bearer {OP_TOKEN}"}
                ).status_code
                == 200
            )
    with TestClient(make_app(db)) as client:
        listed = client.get("/api/bidders", headers={"Authorization": f"Bearer {OP_TOKEN}"}).json()
    assert {b["bidder"]: b["number"] for b in listed} == {"zed": "0001", "amy": "0002"}


def test_auditor_tokens_survive_a_restart_and_revocation_does_too(tmp_path: Any) -> None:
    db = tmp_path / "ledger.db"
    op = {"Authorization": f"Bearer {OP_TOKEN}"}
    with TestClient(make_app(db)) as client:
        kept = client.post("/api/auditors", json={"auditor": "kept"}, headers=op).json()["token"]
        gone = client.post("/api/auditors", json={"auditor": "gone"}, headers=op).json()["token"]
        assert client.delete("/api/auditors/gone", headers=op).status_code == 200
    with TestClient(make_app(db)) as client:
        for token, status in ((kept, 200), (gone, 401)):
            r = client.get("/api/log/entries/0", headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == status, r.text
        assert client.get("/api/auditors", headers=op).json() == [{"auditor": "kept", "name": None}]


def test_an_older_credentials_document_gets_numbers_in_id_order() -> None:
    doc = json.dumps(
        {"version": 1, "operator": "operator", "bidders": {"b": {"hash": "1" * 64}, "a": {"hash": "2" * 64}}}
    )
    creds = Credentials.loads(doc)
    assert creds.numbers == {"a": "0001", "b": "0002"}
    assert creds.new_bidder_id() == "0003"


def test_a_number_never_collides_with_an_id_chosen_by_hand() -> None:
    creds = Credentials()
    creds.admit("0001")
    creds.admit("0002")
    assert creds.numbers == {"0001": "0001", "0002": "0002"}
    assert creds.new_bidder_id() == "0003"
    creds.admit("0004")  # chosen by hand, numbered 0003
    assert creds.numbers["0004"] == "0003"
    assert creds.new_bidder_id() == "0005"


_ids = st.sampled_from(["acme", "bolt", "cove", "operator", "main"])
_values = st.recursive(
    st.one_of(_ids, st.integers(), st.booleans(), st.none()),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.sampled_from([*sorted(privacy.PARTY_FIELDS), "lot", "t"]), inner, max_size=4),
    ),
    max_leaves=12,
)


@given(
    st.sampled_from(["bid", "deal", "close", "deposit", "refund", "accept"]),
    st.dictionaries(st.sampled_from([*sorted(privacy.PARTY_FIELDS), "lot", "amount", "ok"]), _values, max_size=6),
)
def test_no_bidder_id_survives_the_public_filter(kind: str, data: dict[str, Any]) -> None:
    numbers = {"acme": "0001", "bolt": "0002", "cove": "0003"}
    out = privacy.public_event(kind, data, numbers)
    if out is None:
        assert kind in privacy.PRIVATE_KINDS or data.get("ok") is False
        return
    assert kind not in privacy.PRIVATE_KINDS and data.get("ok") is not False
    assert not set(_party_strings(out)) & set(numbers), out


def _party_strings(value: Any, under_party: bool = False) -> list[str]:
    """The strings a party field holds: directly, in lists, and in the party fields of maps it holds."""
    if type(value) is str:
        return [value] if under_party else []
    if type(value) is list:
        return [s for v in value for s in _party_strings(v, under_party)]
    if type(value) is dict:
        return [s for k, v in value.items() if k in privacy.PARTY_FIELDS for s in _party_strings(v, True)]
    return []
