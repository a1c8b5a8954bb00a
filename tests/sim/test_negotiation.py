"""Bargaining models: the k-double auction's linear equilibrium, Rubinstein's split, Nash bargaining."""

from __future__ import annotations

import pytest

from auction_engine.sim.negotiation import make_negotiation


def test_k_double_linear_equilibrium_half() -> None:
    m = make_negotiation({"model": "k_double", "params": {"k": 0.5, "offers": "linear"}})
    bid, ask = m.offers(0.6, 0.3, 0.0, 1.0)
    assert bid == pytest.approx(2 / 3 * 0.6 + 1 / 12) and ask == pytest.approx(2 / 3 * 0.3 + 1 / 4)
    assert m.negotiate(0.56, 0.3).agreed and not m.negotiate(0.54, 0.3).agreed  # trade iff v ≥ c + 1/4
    out = m.negotiate(0.9, 0.2)
    assert out.price == pytest.approx((2 / 3 * 0.9 + 1 / 12 + 2 / 3 * 0.2 + 1 / 4) / 2)


@pytest.mark.parametrize("k", [0.0, 0.25, 0.75, 1.0])
def test_k_double_offers_are_best_responses(k: float) -> None:
    """The linear strategies are best responses to each other (checked by brute force on a grid)."""
    import numpy as np

    m = make_negotiation({"model": "k_double", "params": {"k": k}})
    cs = np.linspace(0, 1, 4001)
    asks = np.array([m.offers(0.5, c, 0, 1)[1] for c in cs])
    v = 0.8
    bids = np.linspace(0, 1, 2001)
    payoff = [np.mean(np.where(b >= asks, v - (k * b + (1 - k) * asks), 0.0)) for b in bids]
    best = bids[int(np.argmax(payoff))]
    assert best == pytest.approx(m.offers(v, 0.5, 0, 1)[0], abs=2e-3)
    vs = np.linspace(0, 1, 4001)
    offers = np.array([m.offers(x, 0.5, 0, 1)[0] for x in vs])
    c = 0.3
    asks = np.linspace(0, 1, 2001)
    gain = [np.mean(np.where(offers >= a, k * offers + (1 - k) * a - c, 0.0)) for a in asks]
    assert asks[int(np.argmax(gain))] == pytest.approx(m.offers(0.5, c, 0, 1)[1], abs=2e-3)


def test_alternating_offers_and_nash() -> None:
    rub = make_negotiation({"model": "alternating", "params": {"delta_buyer": 0.9, "delta_seller": 0.8}})
    share = (1 - 0.9) / (1 - 0.72)
    assert rub.negotiate(1.0, 0.2).price == pytest.approx(0.2 + share * 0.8)
    rub_b = make_negotiation(
        {"model": "alternating", "params": {"delta_buyer": 0.9, "delta_seller": 0.8, "first": "buyer"}}
    )
    assert rub_b.negotiate(1.0, 0.2).price == pytest.approx(1.0 - (1 - 0.8) / (1 - 0.72) * 0.8)
    nash = make_negotiation({"model": "nash", "params": {"power": 0.3}})
    assert nash.negotiate(1.0, 0.5).price == pytest.approx(0.65)
    assert not nash.negotiate(0.4, 0.5).agreed
    assert nash.label == "nash@1 power=0.3"
