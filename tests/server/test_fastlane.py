"""The fast lane (server/fastlane.py) and the bid route share one command path.

Each request of a script of bids (accepted, refused by the rules, replayed, a key reused, an unknown
lot, no or an unknown credential, the operator bidding, a bidder whose commands must be signed,
bodies the lane does not take) is sent to an application with the lane and to one without: the
statuses, bodies (but the clock) and headers are the same, and so are the ledgers the two leave.
And a plain bid, accepted or refused, is run exactly once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from starlette.testclient import TestClient

from .conftest import Market, make_app, take_receipt

# (who: a bidder, "operator", "nobody" for no credential or "stranger" for an unknown token; body; key; lot)
SCRIPT: list[tuple[str, Any, str | None, str]] = [
    ("acme", {"amount": 10_000}, None, "L1"),  # accepted
    ("acme", {"amount": 10_100}, None, "L1"),  # refused by the rules: already leading
    ("bolt", {"amount": 10_050}, "k1", "L1"),  # refused: not on the increment grid
    ("bolt", {"amount": 10_050}, "k1", "L1"),  # the refusal is not a key's answer: it runs again
    ("bolt", {"amount": 10_100}, "k1", "L1"),  # key reused for another command
    ("bolt", {"amount": 10_100}, "k2", "L1"),  # accepted under a key
    ("bolt", {"amount": 10_100}, "k2", "L1"),  # replayed
    ("bolt", {"amount": 10_200}, None, "NOPE"),  # unknown lot
    ("nobody", {"amount": 10_300}, None, "L1"),  # no credential
    ("stranger", {"amount": 10_300}, None, "L1"),  # an unknown token
    ("operator", {"amount": 10_300}, None, "L1"),  # the operator cannot bid
    ("carr", {"amount": 10_300}, None, "L1"),  # carr registered a key: its bids must be signed
    ("carr", {"amount": 10_300}, "k3", "L1"),
    ("bolt", {"amount": 10**15 + 1}, None, "L1"),  # plain, but beyond the schema's range: the route's
    ("bolt", {"amount": 10.5}, None, "L1"),  # malformed: not the lane's
    ("acme", {"amount": 10_300, "extra": 1}, None, "L1"),  # an unknown field: not the lane's
    ("acme", {"amount": 10_300}, None, "L1"),  # accepted
]


def _run(db: Path, fast: bool) -> tuple[list[tuple[int, dict[str, Any], dict[str, str]]], list[Any], int | None]:
    """The answers to SCRIPT, the ledger's entries (less their times and hashes), the lane's count."""
    with TestClient(make_app(db, fast_lane=fast)) as client:
        m = Market(client, db, client.app)
        m.admit("acme", "bolt", "carr")
        m.open_lot("L1", deposits={"acme": 1000, "bolt": 1000, "carr": 1000})
        assert m.bind_key("carr", Ed25519PrivateKey.from_private_bytes(bytes([7]) * 32)).status_code == 200
        answers = []
        for who, body, idem, lot in SCRIPT:
            headers = {"Content-Type": "application/json"}
            if who == "operator":
                headers.update(m.op)
            elif who == "stranger":
                headers["Authorization"] = "Bearer not-a-token-of-this-market"
            elif who != "nobody":
                headers.update(m.auth(who))
            if idem is not None:
                headers["Idempotency-Key"] = idem
            r = client.post(f"/api/lots/{lot}/bids", json=body, headers=headers)
            data = r.json()
            assert isinstance(data.pop("server_time"), int)
            if "seq" in data:  # an entry was recorded: its receipt (entry times differ between the runs)
                take_receipt(data)
            answers.append((r.status_code, data, dict(r.headers)))
        market = client.app.state.market
        entries = []
        for i in range(market.log.size):
            entry = {k: v for k, v in market.log.entry(i).items() if k not in ("t", "prev", "deadline", "ends")}
            entries.append(entry)
        served = client.app.state.fast_lane.served if fast else None
    return answers, entries, served


def test_lane_and_route_give_the_same_answers_and_ledgers(tmp_path: Path) -> None:
    lane, lane_entries, served = _run(tmp_path / "lane.db", fast=True)
    route, route_entries, _ = _run(tmp_path / "route.db", fast=False)
    for i, (a, b) in enumerate(zip(lane, route, strict=True)):
        assert a == b, f"request {i} {SCRIPT[i]}: lane {a} != route {b}"
    statuses = [200, 409, 409, 409, 422, 200, 200, 404, 401, 401, 403, 403, 403, 422, 422, 422, 200]
    assert [status for status, _, _ in lane] == statuses
    assert lane[6][2].get("idempotent-replayed") == "true" and lane[8][2].get("www-authenticate") == "Bearer"
    assert served == 14  # every plain bid within the schema: the lane answered it, refusals included
    assert lane_entries == route_entries


def test_a_plain_bid_runs_once_accepted_or_refused(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    with TestClient(make_app(db)) as client:
        m = Market(client, db, client.app)
        m.admit("acme", "bolt")
        m.open_lot("L1", deposits={"acme": 1000, "bolt": 1000})
        market = client.app.state.market
        runs: list[dict[str, Any]] = []
        submit = market.submit

        def counted(cmd: dict[str, Any], idem: str | None = None) -> Any:
            runs.append(dict(cmd))
            return submit(cmd, idem)

        market.submit = counted
        for who, amount, idem, status in [
            ("acme", 10_000, None, 200),
            ("acme", 10_100, None, 409),  # refused by the rules (already leading): one refusal entry
            ("bolt", 10_050, "r1", 409),  # refused under a key
            ("bolt", 10_100, "r1", 422),  # the key reused: refused before the engine, no entry
        ]:
            size = market.log.size
            before = len(runs)
            r = m.post("/api/lots/L1/bids", {"amount": amount}, who=who, idem=idem)
            assert r.status_code == status, r.text
            assert len(runs) == before + 1, f"the bid of {amount} was submitted {len(runs) - before} times"
            recorded = market.log.size - size
            assert recorded == (0 if status == 422 else 1), (amount, recorded)
            if status == 409:
                entry = market.log.entry(size)
                assert entry["ok"] is False and entry["amount"] == amount and r.json()["seq"] == size
        assert client.app.state.fast_lane.served == 4


def test_the_lane_answers_a_signed_bid_once_and_checks_its_signature(tmp_path: Path) -> None:
    """A signed plain bid (`{"amount", "sig"}`) is the lane's too: verified, run once, answered like the route."""
    from auction_engine.signing import sign_command

    from .conftest import MARKET

    key = Ed25519PrivateKey.from_private_bytes(bytes([9]) * 32)
    with TestClient(make_app(tmp_path / "l.db")) as client:
        m = Market(client, tmp_path / "l.db", client.app)
        m.admit("acme")
        m.open_lot("L1", deposits={"acme": 1000})
        assert m.bind_key("acme", key).status_code == 200
        cmd = {"op": "bid", "actor": "acme", "lot": "L1", "amount": 10_000, "idem": "s1"}
        cmd["key"] = key.public_key().public_bytes_raw()
        sig = sign_command(key, MARKET, cmd).hex()
        served = client.app.state.fast_lane.served
        bad = m.post("/api/lots/L1/bids", {"amount": 10_000, "sig": "00" * 64}, who="acme", idem="s1")
        assert bad.status_code == 403 and bad.json()["code"] == "bad_signature"
        good = m.post("/api/lots/L1/bids", {"amount": 10_000, "sig": sig}, who="acme", idem="s1")
        assert good.status_code == 200 and take_receipt(good.json()).index == good.json()["seq"]
        assert client.app.state.fast_lane.served == served + 2
        assert client.app.state.market.log.entry(good.json()["seq"])["sig"] == bytes.fromhex(sig)
