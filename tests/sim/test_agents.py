"""Agents drive the real engine: each pricing mode, each strategy family, settlement and the ledger."""

from __future__ import annotations

import numpy as np
import pytest

from auction_engine.replay import replay
from ledger import canonical

from .conftest import make, run_one


def _entries(result) -> list[dict]:
    return [canonical.decode(r[1]) for r in result.ledger["rows"]]


def _admissions(entries: list[dict]) -> list[dict]:
    """Each admitted party of the deposit entries (the batch form's items, or a single party's entry)."""
    out = []
    for e in entries:
        if e["kind"] == "deposit" and e.get("ok"):
            out.extend(e.get("parties", [e]))
    return out


def _check_replays(result) -> None:
    report = replay([r[1] for r in result.ledger["rows"]])
    assert report.ok, f"replay diverged at {report.index}: {report.message}"


def test_english_proxies_price_at_the_second_value() -> None:
    sc = make()
    res = run_one(sc, "english", keep_ledger=True)
    _check_replays(res)
    inc = 0.001
    for r in res.records:
        v = np.sort(r.values)
        price = r.price / r.unit
        assert r.outcome == "deal" and r.values[r.buyer] == v[-1]
        assert v[-2] - inc <= price <= v[-2] + inc + 1e-9
    entries = _entries(res)
    admitted = _admissions(entries)
    assert admitted and all(e["strategy"] == "bne@1" for e in admitted)
    assert all(e["mechanism"] == "english" for e in entries if e["kind"] == "open_lot")
    # one admission entry per lot, written as the lot opens, naming every bidder who will bid
    deposits = [e for e in entries if e["kind"] == "deposit"]
    opened = {e["lot"]: e["t"] for e in entries if e["kind"] == "open_lot"}
    assert len(deposits) == len({e["lot"] for e in deposits}) == len(opened)
    assert all(e["ok"] and e["t"] == opened[e["lot"]] for e in deposits)
    bidders = {(e["lot"], e["actor"]) for e in entries if e["kind"] == "proxy"}
    assert bidders <= {(d["lot"], p["party"]) for d in deposits for p in d["parties"]}


def test_sealed_and_dutch_follow_the_equilibrium() -> None:
    sc = make(
        mechanism=[
            {"name": "fp", "mode": "sealed", "params": {"price_rule": "first", "bid_ms": 1000, "reveal_ms": 1000}},
            {"name": "sp", "mode": "sealed", "params": {"price_rule": "second", "bid_ms": 1000, "reveal_ms": 1000}},
            {"name": "dutch", "mode": "dutch", "params": {"step": 0.0001, "step_ms": 1}},
        ]
    )
    fp, sp, dutch = (run_one(sc, m, keep_ledger=True) for m in ("fp", "sp", "dutch"))
    for res in (fp, sp, dutch):
        _check_replays(res)
        entries = _entries(res)
        deposits = [e for e in entries if e["kind"] == "deposit"]
        assert len(deposits) == len({e["lot"] for e in deposits})  # one admission entry per lot
        acting = {(e["lot"], e["actor"]) for e in entries if e["kind"] in ("commit", "accept")}
        assert acting <= {(d["lot"], p["party"]) for d in deposits for p in d["parties"]}
    n = 4
    for a, b, c in zip(fp.records, sp.records, dutch.records, strict=True):
        v = np.sort(a.values)
        assert np.array_equal(a.values, b.values) and np.array_equal(a.values, c.values)  # common random numbers
        assert a.price == round((n - 1) / n * v[-1] * a.unit)
        assert b.price == round(v[-2] * b.unit)
        assert abs(c.price / c.unit - (n - 1) / n * v[-1]) <= 0.0001 + 1e-9
        assert a.buyer == b.buyer == c.buyer == int(np.argmax(a.values))


def test_reserve_and_no_sale() -> None:
    sc = make(
        mechanism=[
            {
                "name": "sp",
                "mode": "sealed",
                "params": {"price_rule": "second"},
                "seller": {"reserve": {"rule": "optimal"}},
            }
        ]
    )
    res = run_one(sc)
    for r in res.records:
        if r.values.max() < 0.5:
            assert r.outcome == "no_sale" and r.reason in ("reserve_not_met", "no_bids", "no_valid_bids")
        else:
            assert r.outcome == "deal" and r.price / r.unit >= 0.5 - 1e-6


@pytest.mark.parametrize("strategy", ["increment", "jump", "zi", "snipe", "proxy", "truthful", "shade"])
def test_english_strategies_end_in_deals(strategy: str) -> None:
    params = {"increment": 0.01, "free_ms": 600_000, "countdown_ms": 60_000}
    sc = make(strategy={"name": strategy}, mechanism=[{"name": "english", "mode": "english", "params": params}])
    res = run_one(sc, keep_ledger=True, detail=True)
    _check_replays(res)
    row = res.row
    assert row["deal_rate"] > 0.9
    if strategy in ("increment", "proxy", "truthful", "snipe"):
        assert row["efficiency"] > 0.97
        for r in res.records:  # the price ends within two increments of the second-highest value
            assert abs(r.price / r.unit - np.sort(r.values)[-2]) <= 0.02 + 1e-9
    if strategy == "snipe":
        assert row["extensions_per_lot"] > 0  # late bids restart the countdown
    assert res.detail["paths"]


def test_listing_registers_converts_and_relists() -> None:
    sc = make(
        population={"lots": 40, "bidders": 3},
        settlement={"mode": "pay"},
        mechanism=[
            {
                "name": "listing",
                "mode": "listing",
                "seller": {"list_price": {"rule": "fixed", "value": 0.6}},
                "params": {
                    "on_no_buyer": "relist",
                    "max_rounds": 2,
                    "relist_price_bp": 5000,
                    "auction_free_ms": 60_000,
                    "auction_increment_bp": 10,
                },
            }
        ],
    )
    res = run_one(sc, keep_ledger=True)
    _check_replays(res)
    kinds = {e["kind"] for e in _entries(res)}
    assert {"register", "listing_end", "convert", "relist"} <= kinds
    for r in res.records:
        above = int((r.values >= 0.6).sum())
        if above == 1:
            assert r.outcome == "deal" and r.settled and r.price == round(0.6 * r.unit)
        elif above >= 2:
            assert r.final_mode == "english" and r.outcome == "deal"
            assert r.price / r.unit >= 0.6 and r.values[r.buyer] == r.values.max()
        else:
            assert (r.values >= 0.3).sum() == 0 or r.outcome == "deal"  # re-listed at half price


def test_agreement_negotiation_objections_and_competing_offers() -> None:
    sc = make(
        values={"dist": "uniform", "seller": 0.2},
        behaviour={"objection_probability": 1.0, "objection_upheld": 0.5, "operator_delay_ms": 3_600_000},
        mechanism=[
            {
                "name": "agree",
                "mode": "agreement",
                "negotiation": {"model": "nash", "params": {"power": 0.5}, "duration_ms": 1000},
                "params": {"notice_days": 15},
            }
        ],
    )
    res = run_one(sc, keep_ledger=True)
    _check_replays(res)
    outcomes = {r.outcome for r in res.records}
    assert outcomes <= {"deal", "no_sale", "failed"} and "deal" in outcomes and "no_sale" in outcomes
    for r in res.records:
        v = float(r.values[0])
        if r.outcome == "deal":
            assert r.price == round((0.2 + 0.5 * (v - 0.2)) * r.unit)
        if v <= 0.2:
            assert r.outcome == "failed"
    compete = make(
        values={"dist": "uniform", "seller": 0.2},
        mechanism=[
            {
                "name": "agree",
                "mode": "agreement",
                "negotiation": {"model": "nash", "params": {"power": 0.5}},
                "params": {"competing_offers": True, "auction_free_ms": 60_000},
            }
        ],
    )
    res = run_one(compete, keep_ledger=True)
    _check_replays(res)
    converted = [r for r in res.records if r.final_mode == "english"]
    assert converted and all(r.outcome == "deal" for r in converted)


def test_settlement_payment_default_and_second_chance() -> None:
    mech = [{"name": "english", "mode": "english", "params": {"increment": 0.01}}]
    paid = make(
        settlement={"mode": "pay", "pay_probability": 1.0}, market={"params": {"deposit_bp": 1000}}, mechanism=mech
    )
    res = run_one(paid, keep_ledger=True)
    _check_replays(res)
    assert res.row["deal_rate"] == 1.0 and all(r.settled for r in res.records)
    kinds = [e["kind"] for e in _entries(res)]
    assert kinds.count("txcode") == 20 and kinds.count("final") == 20
    default = make(
        settlement={"mode": "pay", "pay_probability": 0.0, "second_chance_accept": 1.0},
        market={"params": {"deposit_bp": 1000, "second_chance_offers": 1}},
        mechanism=mech,
    )
    res = run_one(default, keep_ledger=True)
    _check_replays(res)
    assert res.row["forfeited"] > 0 and res.row["defaults_per_lot"] >= 1.0
    assert res.row["deal_rate"] > 0.9  # runners-up took the lots and paid


def test_submarkets_mixes_and_poisson_arrivals() -> None:
    sc = make(
        submarket=[{"name": "metrology", "title": "计量拍", "share": 0.5, "params": {"countdown_ms": 120_000}}],
        population={
            "arrival": {"process": "poisson", "per_day": 20.0, "days": 2.0},
            "bidders": {"dist": "poisson", "mean": 3.0},
        },
        strategy={"mix": [{"share": 0.5, "name": "proxy"}, {"share": 0.5, "name": "increment"}]},
        mechanism=[{"name": "english", "mode": "english", "params": {"increment": 0.02}}],
    )
    res = run_one(sc, keep_ledger=True)
    _check_replays(res)
    subs = {r.submarket for r in res.records}
    assert subs == {"main", "metrology"}
    labels = {e["strategy"] for e in _admissions(_entries(res))}
    assert labels == {"proxy@1 factor=1.0", "increment@1 delay_ms=1000"}
    assert any(r.outcome == "no_sale" for r in res.records if r.n == 0)


def test_common_value_signals_show_the_winners_curse() -> None:
    sc = make(
        population={"lots": 60, "bidders": 8},
        strategy={"name": "truthful"},
        values={
            "dist": "uniform",
            "common": {
                "kind": "signal",
                "dist": "uniform",
                "low": 0.4,
                "high": 0.6,
                "noise": {"dist": "uniform", "low": -0.2, "high": 0.2},
            },
        },
        mechanism=[{"name": "fp", "mode": "sealed", "params": {"price_rule": "first"}}],
    )
    res = run_one(sc)
    assert res.row["bidder_surplus"] < 0  # bidding the highest signal overpays on average


@pytest.mark.parametrize("seed", range(40))
def test_fast_nonces_match_generator_bytes(seed: int) -> None:
    """Sealed-bid nonces: the same bytes and the same generator state after as `Generator.bytes`."""
    from auction_engine.sim.lot_agent import random_bytes

    a, b = (np.random.Generator(np.random.PCG64(seed)) for _ in range(2))
    for g in (a, b):  # leave a buffered 32-bit half-word behind on some seeds
        g.integers(0, 7, size=seed % 3)
        g.random()
    for length in (16, 80, 160, 12):
        assert random_bytes(a, length) == b.bytes(length)
    assert a.bit_generator.state == b.bit_generator.state
