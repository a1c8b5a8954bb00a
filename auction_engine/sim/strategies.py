"""Named, versioned bidder strategies, and the equilibrium bid functions they use.

Why: a result is only worth as much as the behaviour behind it, so every strategy is named,
versioned and parameterised as data (`StrategySpec`), recorded in the manifest and, as a
`strategy` field of each bidder's admission (`deposit`) entry, in the ledger. Changing what a
strategy does means a new version, never a silent edit.

A strategy answers, in the researcher's value units (floats; `agents` converts to fen):
- `sealed_bid(v, ctx)`: the amount to commit in a sealed-bid auction (None: no bid);
- `dutch_price(v, ctx)`: the clock price at which to accept in a Dutch auction (None: never);
- `english(v, ctx)`: how to bid in an English auction (`EnglishPlan`: a proxy, incremental,
  jump or zero-intelligence bidding, now or as a late snipe);
- `registers(v, price, ctx)`: whether to register for a listing at a posted price.

Equilibria (DOMAIN §5, Krishna ch. 2–4), symmetric, independent private values with CDF F on
[lo, hi], n bidders, reserve r:
- English and second-price: bidding the value is weakly dominant (risk-neutral or not).
- First-price and Dutch (strategically equivalent), utility u(x) = x^α (α = 1 − ρ, CRRA with
  relative risk aversion ρ ∈ [0, 1); α = 1 is risk neutral):
      b(v) = v − ∫_r^v F(x)^m dx / F(v)^m,   m = (n − 1)/α,   for v ≥ r (no bid below r).
  For uniform values this is closed form: b(v) = v − (hi − lo)(F(v)^{m+1} − F(r)^{m+1}) / ((m + 1) F(v)^m),
  i.e. (n − 1)v/n on [0, 1] with no reserve, (n − 1)v/(n − 1 + α) under CRRA. Otherwise the
  integral is tabulated by the trapezoid rule on a grid of 4097 quantiles of F (dense where the
  mass is) and interpolated.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from .values import Dist, Uniform

__all__ = [
    "STRATEGIES",
    "BidContext",
    "EnglishPlan",
    "Strategy",
    "StrategySpec",
    "first_price_bid",
    "make_strategy",
    "myerson_reserve",
    "optimal_posted_price",
    "strategy_label",
]

_GRID = 4097


@dataclass(frozen=True)
class BidContext:
    """What a bidder knows when it decides: the format, the number of bidders, the value distribution.

    `floor` is the lowest admissible amount (the starting price, minimum price or reserve) and
    `reserve` the price below which the seller does not sell, both in normalised value units
    (the lot's values divided by its scale); `rng` is the bidder's own behaviour stream.
    """

    mode: str  # english, dutch, sealed, listing, agreement
    n: int
    dist: Dist
    reserve: float = 0.0
    floor: float = 0.0
    price_rule: str = "first"  # sealed: first or second
    rng: np.random.Generator | None = None


@dataclass(frozen=True)
class EnglishPlan:
    """How a bidder takes part in an English auction.

    kind: "proxy" (one maximum bid at `cap`, the engine bids for it), "increment" (bid the next
    valid amount each time it is outbid, up to `cap`), "jump" (bid `jump` above the price each
    time), "zi" (a random amount between the next valid bid and `cap`). timing: "arrival" (act
    on arrival) or "snipe" (act `lead_ms` before the scheduled end of bidding).
    """

    kind: str
    cap: float
    timing: str = "arrival"
    lead_ms: int = 0
    jump: float = 0.0
    delay_ms: int = 1_000  # reaction time after being outbid (manual kinds)


# -- equilibrium bid functions ----------------------------------------------------------------------


class BidFunction:
    """b(v) of the first-price / Dutch symmetric equilibrium for one (F, n, r, α)."""

    def __init__(self, dist: Dist, n: int, reserve: float, alpha: float = 1.0) -> None:
        if n < 1:
            raise ValueError("the equilibrium needs at least one bidder")
        if not 0 < alpha <= 1:
            raise ValueError("CRRA needs 0 < α = 1 − ρ ≤ 1")
        self.dist, self.n, self.alpha = dist, n, alpha
        self.m = (n - 1) / alpha
        self.r = max(reserve, dist.lo)
        self.uniform = isinstance(dist, Uniform)
        if not self.uniform and self.m > 0:
            u = np.linspace(0.0, 1.0 - 1e-9 if not math.isfinite(dist.hi) else 1.0, _GRID)
            xs = dist.ppf(u)
            xs, keep = np.unique(xs, return_index=True)
            fm = u[keep] ** self.m
            self._xs = xs
            self._icum = np.concatenate(([0.0], np.cumsum(np.diff(xs) * (fm[1:] + fm[:-1]) / 2)))
            self._ir = float(np.interp(self.r, xs, self._icum))

    def _integral(self, v: np.ndarray) -> np.ndarray:
        """∫_r^v F(x)^m dx (tabulated; past the table F ≈ 1 and the integrand is 1)."""
        xs, icum = self._xs, self._icum
        inside = np.interp(v, xs, icum)
        beyond = icum[-1] + np.maximum(v - xs[-1], 0.0)
        return np.where(v > xs[-1], beyond, inside) - self._ir

    def bid(self, v: float) -> float | None:
        """The bid of one value (None below the reserve): a pure-Python fast path for uniform values."""
        if v < self.r:
            return None
        if self.m == 0 or v == self.r:
            return self.r
        if self.uniform:
            d = self.dist
            width = d.hi - d.lo
            fv = min(max((v - d.lo) / width, 0.0), 1.0)
            if fv <= 0.0:
                return v
            fr = (self.r - d.lo) / width
            m = self.m
            b = v - width * (fv ** (m + 1) - fr ** (m + 1)) / ((m + 1) * fv**m)
            return min(b, v)
        b = float(self(np.array([v]))[0])
        return None if math.isnan(b) else b

    def __call__(self, v: np.ndarray | float) -> np.ndarray:
        """Bids for values v (NaN where v < r: no bid)."""
        v = np.asarray(v, dtype=float)
        if self.m == 0:  # a lone bidder bids the reserve (or the bottom of the support)
            return np.where(v >= self.r, self.r, np.nan)
        d = self.dist
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.uniform:
                width = d.hi - d.lo
                fv = np.clip((v - d.lo) / width, 0.0, 1.0)
                fr = (self.r - d.lo) / width
                b = v - width * (fv ** (self.m + 1) - fr ** (self.m + 1)) / ((self.m + 1) * fv**self.m)
            else:
                fv = d.cdf(v)
                fvm = fv**self.m
                b = v - self._integral(v) / fvm
                # Where F(v)^m underflows the table is useless; there F is locally linear from lo
                # and b ≈ v − (v − lo)/(m + 1) (only reachable with no binding reserve).
                b = np.where(fvm < 1e-12, v - (v - d.lo) / (self.m + 1), b)
        b = np.where(v <= self.r, self.r, b)  # at the reserve a bidder bids the reserve
        return np.where(v >= self.r, np.minimum(b, v), np.nan)


_BID_CACHE: dict[tuple[int, int, float, float], tuple[Dist, BidFunction]] = {}


def first_price_bid(dist: Dist, n: int, reserve: float = 0.0, alpha: float = 1.0) -> BidFunction:
    """The (cached) equilibrium bid function of a first-price or Dutch auction."""
    key = (id(dist), n, float(reserve), float(alpha))
    hit = _BID_CACHE.get(key)
    if hit is not None and hit[0] is dist:
        return hit[1]
    if len(_BID_CACHE) > 4096:
        _BID_CACHE.clear()
    fn = BidFunction(dist, n, reserve, alpha)
    _BID_CACHE[key] = (dist, fn)
    return fn


def myerson_reserve(dist: Dist, seller_value: float = 0.0) -> float:
    """The optimal reserve (Myerson 1981): r with r − (1 − F(r))/f(r) = seller value (regular F).

    Independent of n. Solved by bisection on the virtual value over the support; 1/2 for
    uniform [0, 1] values and a seller who values the lot at 0.
    """
    lo, hi = dist.lo, dist.top
    if not hi > lo:
        return lo

    def phi(r: float) -> float:
        f = float(dist.pdf(np.array([r]))[0])
        tail = 1.0 - float(dist.cdf(np.array([r]))[0])
        return r - tail / f if f > 0 else (r if tail <= 0 else -math.inf)

    a, b = lo + 1e-12 * (hi - lo), hi - 1e-12 * (hi - lo)
    if phi(a) >= seller_value:
        return a
    if phi(b) < seller_value:
        return b
    for _ in range(100):
        mid = (a + b) / 2
        if phi(mid) < seller_value:
            a = mid
        else:
            b = mid
    return (a + b) / 2


def optimal_posted_price(dist: Dist, n: int, seller_value: float = 0.0) -> float:
    """The take-it-or-leave-it price p maximising (p − seller value)·(1 − F(p)ⁿ) (a grid search)."""
    xs = dist.ppf(np.linspace(0.0, 1.0 - 1e-6, 20_001))
    gain = (xs - seller_value) * (1.0 - dist.cdf(xs) ** max(n, 1))
    return float(xs[int(np.argmax(gain))])


# -- strategies -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StrategySpec:
    """A strategy as data: name, version and parameters (what the manifest and ledger record)."""

    name: str
    version: int
    params: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "params": dict(self.params)}


def strategy_label(spec: StrategySpec) -> str:
    """The compact text form written to the ledger: ``name@version k=v ...`` (params sorted)."""
    parts = [f"{spec.name}@{spec.version}"]
    parts += [f"{k}={spec.params[k]}" for k in sorted(spec.params)]
    return " ".join(parts)


class Strategy:
    """Base class: truthful behaviour in every format; subclasses override what differs."""

    name = "truthful"
    version = 1
    params: ClassVar[dict[str, tuple[type, Any]]] = {}  # name -> (type, default)
    needs_ipv = False  # relies on independent private values (an equilibrium computed for F)
    doc = "bid your value: a proxy at v in English, v sealed, accept at v in Dutch, register if v ≥ price"

    def __init__(self, **params: Any) -> None:
        self.p = {k: params.get(k, default) for k, (_, default) in self.params.items()}
        self.spec = StrategySpec(self.name, self.version, self.p)
        self.label = strategy_label(self.spec)

    def sealed_bid(self, v: float, ctx: BidContext) -> float | None:
        return v if v >= max(ctx.floor, ctx.reserve) else None

    def dutch_price(self, v: float, ctx: BidContext) -> float | None:
        return v if v >= max(ctx.floor, ctx.reserve) else None

    def english(self, v: float, ctx: BidContext) -> EnglishPlan | None:
        return EnglishPlan("proxy", v) if v >= ctx.floor else None

    def registers(self, v: float, price: float, ctx: BidContext) -> bool:
        return v >= price


class Truthful(Strategy):
    pass


class BayesNash(Strategy):
    name = "bne"
    doc = "the symmetric risk-neutral Bayes–Nash equilibrium of the format for the scenario's distribution"
    needs_ipv = True
    alpha = 1.0

    def _bid(self, v: float, ctx: BidContext) -> float | None:
        return first_price_bid(ctx.dist, ctx.n, ctx.reserve, self._alpha()).bid(v)

    def _alpha(self) -> float:
        return 1.0

    def sealed_bid(self, v: float, ctx: BidContext) -> float | None:
        if ctx.price_rule == "second":
            return v if v >= max(ctx.floor, ctx.reserve) else None
        b = self._bid(v, ctx)
        return None if b is None or b < ctx.floor else b

    def dutch_price(self, v: float, ctx: BidContext) -> float | None:
        b = self._bid(v, ctx)
        return None if b is None or b < ctx.floor else b


class CRRA(BayesNash):
    name = "crra"
    params: ClassVar[dict[str, tuple[type, Any]]] = {"rho": (float, 0.5)}
    doc = "the symmetric equilibrium for bidders with CRRA utility x^(1−rho) (rho ∈ [0, 1))"

    def _alpha(self) -> float:
        return 1.0 - float(self.p["rho"])


class Shade(Strategy):
    name = "shade"
    params: ClassVar[dict[str, tuple[type, Any]]] = {"factor": (float, 0.8)}
    doc = "bid a fixed fraction `factor` of the value in every format"

    def _b(self, v: float) -> float:
        return float(self.p["factor"]) * v

    def sealed_bid(self, v: float, ctx: BidContext) -> float | None:
        b = self._b(v)
        return b if b >= max(ctx.floor, ctx.reserve) else None

    def dutch_price(self, v: float, ctx: BidContext) -> float | None:
        b = self._b(v)
        return b if b >= max(ctx.floor, ctx.reserve) else None

    def english(self, v: float, ctx: BidContext) -> EnglishPlan | None:
        b = self._b(v)
        return EnglishPlan("proxy", b) if b >= ctx.floor else None

    def registers(self, v: float, price: float, ctx: BidContext) -> bool:
        return self._b(v) >= price


class Snipe(BayesNash):
    name = "snipe"
    params: ClassVar[dict[str, tuple[type, Any]]] = {"lead_ms": (int, 10_000)}
    doc = "late bidding: one proxy at the value `lead_ms` before the scheduled end (sealed/Dutch: as bne)"
    needs_ipv = False

    def english(self, v: float, ctx: BidContext) -> EnglishPlan | None:
        return EnglishPlan("proxy", v, timing="snipe", lead_ms=int(self.p["lead_ms"])) if v >= ctx.floor else None


class ProxyBid(Strategy):
    name = "proxy"
    params: ClassVar[dict[str, tuple[type, Any]]] = {"factor": (float, 1.0)}
    doc = "English: one proxy (maximum) bid at factor × value on arrival; elsewhere truthful"

    def english(self, v: float, ctx: BidContext) -> EnglishPlan | None:
        cap = float(self.p["factor"]) * v
        return EnglishPlan("proxy", cap) if cap >= ctx.floor else None


class Increment(Strategy):
    name = "increment"
    params: ClassVar[dict[str, tuple[type, Any]]] = {"delay_ms": (int, 1_000)}
    doc = "English: bid the next valid amount whenever outbid, up to the value (straightforward bidding)"

    def english(self, v: float, ctx: BidContext) -> EnglishPlan | None:
        return EnglishPlan("increment", v, delay_ms=int(self.p["delay_ms"])) if v >= ctx.floor else None


class Jump(Strategy):
    name = "jump"
    params: ClassVar[dict[str, tuple[type, Any]]] = {"jump": (float, 0.05), "delay_ms": (int, 1_000)}
    doc = "English: bid `jump` (value units) above the current price whenever outbid, up to the value"

    def english(self, v: float, ctx: BidContext) -> EnglishPlan | None:
        if v < ctx.floor:
            return None
        return EnglishPlan("jump", v, jump=float(self.p["jump"]), delay_ms=int(self.p["delay_ms"]))


class ZeroIntelligence(Strategy):
    name = "zi"
    params: ClassVar[dict[str, tuple[type, Any]]] = {"delay_ms": (int, 1_000)}
    doc = "zero intelligence constrained (Gode–Sunder): uniform random amounts between the floor and the value"

    def _draw(self, v: float, ctx: BidContext) -> float | None:
        if v < ctx.floor or ctx.rng is None:
            return None
        return float(ctx.rng.uniform(ctx.floor, v))

    def sealed_bid(self, v: float, ctx: BidContext) -> float | None:
        b = self._draw(v, ctx)
        return b if b is not None and b >= ctx.reserve else None

    def dutch_price(self, v: float, ctx: BidContext) -> float | None:
        b = self._draw(v, ctx)
        return b if b is not None and b >= ctx.reserve else None

    def english(self, v: float, ctx: BidContext) -> EnglishPlan | None:
        return EnglishPlan("zi", v, delay_ms=int(self.p["delay_ms"])) if v >= ctx.floor else None


STRATEGIES: dict[str, dict[int, type[Strategy]]] = {
    cls.name: {cls.version: cls}
    for cls in (Truthful, BayesNash, CRRA, Shade, Snipe, ProxyBid, Increment, Jump, ZeroIntelligence)
}


def make_strategy(spec: Mapping[str, Any]) -> Strategy:
    """A strategy instance from validated data {name, version, params}."""
    versions = STRATEGIES[spec["name"]]
    cls = versions[int(spec.get("version") or max(versions))]
    return cls(**dict(spec.get("params") or {}))


def describe() -> list[dict[str, Any]]:
    """Every strategy with its versions, parameters and a one-line description (for docs and --help)."""
    out = []
    for name, versions in STRATEGIES.items():
        for version, cls in versions.items():
            out.append(
                {
                    "name": name,
                    "version": version,
                    "doc": cls.doc,
                    "params": {k: {"type": t.__name__, "default": d} for k, (t, d) in cls.params.items()},
                }
            )
    return out
