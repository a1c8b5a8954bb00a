"""The simulator reproduces auction theory (DOMAIN §5) within 4 standard errors, with fixed seeds.

The normal suite runs about 400 auctions per case (20 runs of 20 lots) — enough for the 4-SE test
to catch a bias of a few percent — and checks that each measured standard error is close to
the theoretical one, so a test cannot pass on noise alone. The slow suite (`--run-slow`) runs
the table of docs/validation.md (40–100 runs of 50 lots per case).
"""

from __future__ import annotations

import math

import pytest

from auction_engine.sim import validation as v


def _assert_within(checks: list[v.Check], z: float = 4.0) -> None:
    bad = [c for c in checks if not abs(c.z) <= z]
    assert not bad, "\n" + v.table(bad)


def test_theory_formulas() -> None:
    assert v.revenue_with_reserve(2) == pytest.approx(1 / 3)
    assert v.revenue_with_reserve(2, 0.5) == pytest.approx(5 / 12)
    grid = [i / 1000 for i in range(1001)]
    for n in (2, 3, 5, 10):
        best = max(grid, key=lambda r, n=n: v.revenue_with_reserve(n, r))
        assert best == pytest.approx(0.5, abs=1e-3)
    surplus = {s: v.focal_surplus(s, 5) for s in (0.7, 0.75, 0.8, 0.85, 0.9)}
    assert max(surplus, key=surplus.get) == 0.8
    assert v.focal_surplus(0.8, 5) == pytest.approx(1 / 30, rel=1e-6)  # (1 − 0.8)·E[v·v⁴·…] = 1/(n(n+1))


def test_revenue_equivalence() -> None:
    checks = v.validate_revenue_equivalence(runs=20, seed=3, lots=20)
    _assert_within(checks)
    for c in checks:  # the measured error matches the theoretical one (first-price-like or second-price-like)
        n = int(c.case.split("n = ")[1])
        var = v.variance_second(n) if c.case.startswith(("english", "second")) else v.variance_first(n)
        expected = math.sqrt(var / c.auctions)
        assert 0.4 * expected < c.se < 2.0 * expected, c


def test_revenue_with_reserve() -> None:
    _assert_within(v.validate_reserve(runs=20, seed=5, lots=20))


def test_optimal_reserve_differences() -> None:
    _assert_within(v.optimal_reserve(runs=20, seed=7, lots=25))


def test_first_price_bid_function() -> None:
    _assert_within(v.validate_deviation(runs=20, seed=11, lots=20, factors=(0.7, 0.8, 0.9)))
    bids = v.validate_bids(runs=1, seed=1, bidders=(2, 5, 10))
    for c in bids:
        assert abs(c.mean - c.theory) < 2e-6  # bids are (n − 1)v/n rounded to the fen


@pytest.mark.slow
def test_validation_table_slow() -> None:
    checks = (
        v.validate_revenue_equivalence(runs=40, seed=1)
        + v.validate_reserve(runs=40, seed=1)
        + v.validate_deviation(runs=40, seed=1)
    )
    _assert_within(checks)
    opt = v.optimal_reserve(runs=200, seed=1)
    _assert_within(opt)
    assert all(c.mean + 2 * c.se < 0 for c in opt)  # r = 1/2 beats its neighbours, measured
    dev = {c.case: c.mean for c in v.validate_deviation(runs=100, seed=2)}
    assert max(dev, key=dev.get).startswith("s = 0.8")
