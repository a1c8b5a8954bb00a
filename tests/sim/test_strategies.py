"""Equilibrium bid functions (closed form and numerical), CRRA, reserves, and the strategy registry."""

from __future__ import annotations

import numpy as np
import pytest

from auction_engine.sim.strategies import (
    STRATEGIES,
    BidContext,
    first_price_bid,
    make_strategy,
    myerson_reserve,
    optimal_posted_price,
)
from auction_engine.sim.values import Beta, Empirical, Exponential, Uniform

V = np.array([0.05, 0.25, 0.5, 0.75, 1.0])


@pytest.mark.parametrize("n", [2, 3, 5, 10])
def test_uniform_closed_form_is_n_minus_one_over_n(n: int) -> None:
    assert np.allclose(first_price_bid(Uniform(), n)(V), (n - 1) / n * V)
    assert first_price_bid(Uniform(), n).bid(0.6) == pytest.approx((n - 1) / n * 0.6)


@pytest.mark.parametrize("n", [2, 5, 10])
@pytest.mark.parametrize("r", [0.0, 0.3])
def test_numerical_quadrature_reproduces_the_closed_form(n: int, r: float) -> None:
    closed = first_price_bid(Uniform(), n, r)(V)
    for dist in (Beta(1.0, 1.0), Empirical(tuple(np.linspace(0, 1, 201)))):
        numeric = first_price_bid(dist, n, r)(V)
        ok = ~np.isnan(closed)
        assert np.array_equal(ok, ~np.isnan(numeric))
        assert np.allclose(numeric[ok], closed[ok], atol=5e-5)


def test_reserve_bid_formula_and_no_bid_below_reserve() -> None:
    n, r = 3, 0.4
    b = first_price_bid(Uniform(), n, r)
    v = np.array([0.4, 0.6, 0.9])
    assert np.allclose(b(v), (n - 1) * v / n + r**n / (n * v ** (n - 1)))
    assert b.bid(0.39) is None and b.bid(0.4) == pytest.approx(0.4)


def test_crra_closed_form() -> None:
    rho = 0.5
    b = first_price_bid(Uniform(), 4, 0.0, alpha=1 - rho)
    assert np.allclose(b(V), 3 * V / (3 + 1 - rho))
    s = make_strategy({"name": "crra", "params": {"rho": rho}})
    ctx = BidContext("sealed", 4, Uniform())
    assert s.sealed_bid(0.8, ctx) == pytest.approx(3 * 0.8 / 3.5)


def test_exponential_bids_are_increasing_and_below_values() -> None:
    b = first_price_bid(Exponential(1.0), 3)
    v = np.linspace(0.01, 8, 50)
    bids = b(v)
    assert np.all(np.diff(bids) > 0) and np.all(bids < v)


def test_myerson_reserve_and_posted_price() -> None:
    assert myerson_reserve(Uniform()) == pytest.approx(0.5, abs=1e-9)
    assert myerson_reserve(Uniform(), seller_value=0.2) == pytest.approx(0.6, abs=1e-9)  # (1 + c)/2
    assert myerson_reserve(Exponential(2.0)) == pytest.approx(2.0, abs=1e-6)
    assert optimal_posted_price(Uniform(), 1) == pytest.approx(0.5, abs=1e-3)
    assert optimal_posted_price(Uniform(), 2) == pytest.approx(1 / np.sqrt(3), abs=1e-3)


def test_formats_and_labels() -> None:
    ctx2 = BidContext("sealed", 5, Uniform(), price_rule="second")
    bne = make_strategy({"name": "bne"})
    assert bne.sealed_bid(0.7, ctx2) == 0.7
    assert bne.dutch_price(0.5, BidContext("dutch", 5, Uniform())) == pytest.approx(0.4)
    assert bne.english(0.7, ctx2).kind == "proxy"
    shade = make_strategy({"name": "shade", "params": {"factor": 0.9}})
    assert shade.label == "shade@1 factor=0.9"
    assert make_strategy({"name": "snipe"}).english(0.5, ctx2).timing == "snipe"
    zi = make_strategy({"name": "zi"})
    ctx = BidContext("sealed", 5, Uniform(), floor=0.1, rng=np.random.default_rng(1))
    bids = [zi.sealed_bid(0.6, ctx) for _ in range(200)]
    assert all(0.1 <= x <= 0.6 for x in bids)
    assert {name for name in STRATEGIES} >= {
        "truthful",
        "bne",
        "crra",
        "shade",
        "snipe",
        "proxy",
        "increment",
        "jump",
        "zi",
    }
