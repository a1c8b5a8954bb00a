"""Negotiation models for agreement pricing (协议定价): how a buyer and a seller arrive at a price.

Why a separate module: in the market the negotiation happens off the ledger (the parties talk,
then the operator publishes the agreed price for the public notice); the simulator needs a
model of it to produce that price, and researchers compare the models. Each model is a pure
function of the two parties' values (normalised units, floats) and its parameters, returning
whether they agree, at what price, and after how many rounds. Named and versioned like the
bidder strategies, and recorded in the ledger as the `negotiation` field of the lot's opening.

Models (DOMAIN §3.1):
- ``k_double`` — sealed-offer split-the-difference, the k-double auction (Chatterjee–Samuelson
  1983; Satterthwaite–Williams 1989): the buyer bids b, the seller asks s, they trade at
  k·b + (1 − k)·s when b ≥ s. Offers: ``truthful`` (b = v, s = c), or ``linear``: the linear
  Bayes–Nash equilibrium for values uniform on a common interval [L, H], derived from the
  first-order conditions: on [0, 1], b(v) = v/(1 + k) + k(1 − k)/(2(1 + k)) and
  s(c) = c/(2 − k) + (1 − k)/2 (for k = 1/2: b = 2v/3 + 1/12, s = 2c/3 + 1/4; trade iff
  v ≥ c + 1/4), rescaled affinely to [L, H].
- ``alternating`` — Rubinstein (1982) alternating offers with discount factors δ_b, δ_s per
  round under complete information: agreement in the first round; the proposer's share of the
  surplus v − c is (1 − δ_other)/(1 − δ_b·δ_s).
- ``nash`` — the generalised Nash bargaining solution with the seller's bargaining power β:
  price = c + β(v − c), agreement iff v > c.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

__all__ = ["MODELS", "Negotiation", "Outcome", "make_negotiation"]


@dataclass(frozen=True)
class Outcome:
    """The result of one negotiation: agreed or not, the price, and how many rounds it took."""

    agreed: bool
    price: float
    rounds: int = 1


class Negotiation:
    """Base class of the models; `params` maps a name to (type, default)."""

    name = "nash"
    version = 1
    params: ClassVar[dict[str, tuple[type, Any]]] = {}
    doc = ""

    def __init__(self, **params: Any) -> None:
        self.p = {k: params.get(k, default) for k, (_, default) in self.params.items()}
        parts = [f"{self.name}@{self.version}"] + [f"{k}={self.p[k]}" for k in sorted(self.p)]
        self.label = " ".join(parts)

    def spec(self) -> dict[str, Any]:
        return {"model": self.name, "version": self.version, "params": dict(self.p)}

    def negotiate(self, v: float, c: float, lo: float = 0.0, hi: float = 1.0) -> Outcome:  # pragma: no cover
        raise NotImplementedError


class NashBargaining(Negotiation):
    name = "nash"
    params: ClassVar[dict[str, tuple[type, Any]]] = {"power": (float, 0.5)}
    doc = "generalised Nash bargaining: price = c + power·(v − c) when v > c (power: the seller's)"

    def negotiate(self, v: float, c: float, lo: float = 0.0, hi: float = 1.0) -> Outcome:
        if v <= c:
            return Outcome(False, 0.0)
        return Outcome(True, c + float(self.p["power"]) * (v - c))


class AlternatingOffers(Negotiation):
    name = "alternating"
    params: ClassVar[dict[str, tuple[type, Any]]] = {
        "delta_buyer": (float, 0.9),
        "delta_seller": (float, 0.9),
        "first": (str, "seller"),
        "round_ms": (int, 86_400_000),
    }
    doc = "Rubinstein alternating offers with per-round discount factors (complete information)"

    def negotiate(self, v: float, c: float, lo: float = 0.0, hi: float = 1.0) -> Outcome:
        if v <= c:
            return Outcome(False, 0.0)
        db, ds = float(self.p["delta_buyer"]), float(self.p["delta_seller"])
        surplus = v - c
        if self.p["first"] == "seller":
            share = (1 - db) / (1 - db * ds)  # the seller proposes and keeps this share
            return Outcome(True, c + share * surplus)
        share = (1 - ds) / (1 - db * ds)  # the buyer proposes and keeps this share
        return Outcome(True, v - share * surplus)


class KDouble(Negotiation):
    name = "k_double"
    params: ClassVar[dict[str, tuple[type, Any]]] = {"k": (float, 0.5), "offers": (str, "linear")}
    doc = "sealed-offer split-the-difference (k-double auction): trade at k·bid + (1 − k)·ask when bid ≥ ask"

    def offers(self, v: float, c: float, lo: float, hi: float) -> tuple[float, float]:
        """(bid, ask): truthful, or the linear equilibrium for values uniform on [lo, hi]."""
        if self.p["offers"] == "truthful":
            return v, c
        k = float(self.p["k"])
        w = hi - lo
        x, y = (v - lo) / w, (c - lo) / w
        bid = x / (1 + k) + k * (1 - k) / (2 * (1 + k))
        ask = y / (2 - k) + (1 - k) / 2
        return lo + w * bid, lo + w * ask

    def negotiate(self, v: float, c: float, lo: float = 0.0, hi: float = 1.0) -> Outcome:
        bid, ask = self.offers(v, c, lo, hi)
        if bid < ask:
            return Outcome(False, 0.0)
        k = float(self.p["k"])
        return Outcome(True, k * bid + (1 - k) * ask)


MODELS: dict[str, type[Negotiation]] = {m.name: m for m in (NashBargaining, AlternatingOffers, KDouble)}


def make_negotiation(spec: Mapping[str, Any]) -> Negotiation:
    """A model instance from validated data {model, params}."""
    return MODELS[spec["model"]](**dict(spec.get("params") or {}))
