"""Value distributions and the common-random-number draws of one simulated market.

Why this module exists: every mechanism in a comparison must see the same bidders with the same
values (common random numbers), and the equilibrium computations need each distribution's CDF
and quantile function. So a distribution here is a small object with `ppf` (the quantile
function, used to turn one stream of uniforms into values: the same uniforms give ordered,
comparable values under any distribution), `cdf`, `pdf`, its support and mean.

Values are floats in the researcher's units (e.g. uniform on [0, 1]); `experiment` maps them to
integer fen with the scenario's `scale` before anything reaches the engine.

Distributions: uniform, exponential, lognormal, beta, empirical (from a CSV column), point (a
constant). The normal quantile uses Acklam's rational approximation refined by one Halley step
(relative error below 1e-12); the beta CDF is tabulated by integrating its density, because
numpy has no incomplete beta function and the project avoids a SciPy dependency.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "DIST_KEYS",
    "Beta",
    "Dist",
    "Empirical",
    "Exponential",
    "Lognormal",
    "Point",
    "Uniform",
    "make_dist",
    "norm_cdf",
    "norm_ppf",
    "read_empirical",
]

_TAIL = 1e-9  # quantile level treated as the upper end of an unbounded support in tabulations


class Dist:
    """A continuous (or degenerate) distribution of values on [lo, hi] (hi may be infinite)."""

    name: str = "dist"
    lo: float = 0.0
    hi: float = 1.0

    def ppf(self, u: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def cdf(self, x: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def pdf(self, x: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def mean(self) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def spec(self) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def sample(self, rng: np.random.Generator, size: int | tuple[int, ...]) -> np.ndarray:
        """Draw by inversion, so one stream of uniforms gives comparable values across distributions."""
        return self.ppf(rng.random(size))

    @property
    def top(self) -> float:
        """A finite upper end for tabulation: hi, or the 1 − 1e-9 quantile of an unbounded support."""
        return self.hi if math.isfinite(self.hi) else float(self.ppf(np.array([1.0 - _TAIL]))[0])

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec()})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Dist) and self.spec() == other.spec()

    def __hash__(self) -> int:
        return hash(repr(sorted(self.spec().items(), key=lambda kv: kv[0])))


@dataclass(eq=False)
class Uniform(Dist):
    low: float = 0.0
    high: float = 1.0
    name = "uniform"

    def __post_init__(self) -> None:
        self.lo, self.hi = self.low, self.high

    def ppf(self, u: np.ndarray) -> np.ndarray:
        return self.low + (self.high - self.low) * np.asarray(u, dtype=float)

    def cdf(self, x: np.ndarray) -> np.ndarray:
        return np.clip((np.asarray(x, dtype=float) - self.low) / (self.high - self.low), 0.0, 1.0)

    def pdf(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        return np.where((x >= self.low) & (x <= self.high), 1.0 / (self.high - self.low), 0.0)

    @property
    def mean(self) -> float:
        return (self.low + self.high) / 2

    def spec(self) -> dict[str, Any]:
        return {"dist": "uniform", "low": self.low, "high": self.high}


@dataclass(eq=False)
class Exponential(Dist):
    scale: float = 1.0  # the mean above the shift
    shift: float = 0.0
    name = "exponential"

    def __post_init__(self) -> None:
        self.lo, self.hi = self.shift, math.inf

    def ppf(self, u: np.ndarray) -> np.ndarray:
        return self.shift - self.scale * np.log1p(-np.asarray(u, dtype=float))

    def cdf(self, x: np.ndarray) -> np.ndarray:
        z = np.maximum(np.asarray(x, dtype=float) - self.shift, 0.0)
        return -np.expm1(-z / self.scale)

    def pdf(self, x: np.ndarray) -> np.ndarray:
        z = np.asarray(x, dtype=float) - self.shift
        return np.where(z >= 0, np.exp(-np.maximum(z, 0.0) / self.scale) / self.scale, 0.0)

    @property
    def mean(self) -> float:
        return self.shift + self.scale

    def spec(self) -> dict[str, Any]:
        return {"dist": "exponential", "mean": self.scale, "shift": self.shift}


@dataclass(eq=False)
class Lognormal(Dist):
    mu: float = 0.0  # mean of log(value)
    sigma: float = 1.0  # standard deviation of log(value)
    name = "lognormal"

    def __post_init__(self) -> None:
        self.lo, self.hi = 0.0, math.inf

    def ppf(self, u: np.ndarray) -> np.ndarray:
        return np.exp(self.mu + self.sigma * norm_ppf(np.asarray(u, dtype=float)))

    def cdf(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        with np.errstate(divide="ignore"):
            z = (np.log(np.maximum(x, 1e-300)) - self.mu) / self.sigma
        return np.where(x > 0, norm_cdf(z), 0.0)

    def pdf(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        safe = np.maximum(x, 1e-300)
        z = (np.log(safe) - self.mu) / self.sigma
        return np.where(x > 0, np.exp(-0.5 * z * z) / (safe * self.sigma * math.sqrt(2 * math.pi)), 0.0)

    @property
    def mean(self) -> float:
        return math.exp(self.mu + self.sigma**2 / 2)

    def spec(self) -> dict[str, Any]:
        return {"dist": "lognormal", "mu": self.mu, "sigma": self.sigma}


@dataclass(eq=False)
class Beta(Dist):
    a: float = 2.0
    b: float = 2.0
    low: float = 0.0
    high: float = 1.0
    name = "beta"

    def __post_init__(self) -> None:
        self.lo, self.hi = self.low, self.high
        self._lbeta = math.lgamma(self.a) + math.lgamma(self.b) - math.lgamma(self.a + self.b)
        # Tabulate the CDF on a grid clustered at both ends (densities may be singular there),
        # integrating the density at cell midpoints, then normalising the total to one.
        t = np.linspace(0.0, 1.0, 8193)
        z = (1 - np.cos(np.pi * t)) / 2
        mid = (z[1:] + z[:-1]) / 2
        dens = np.exp((self.a - 1) * np.log(mid) + (self.b - 1) * np.log1p(-mid) - self._lbeta)
        cum = np.concatenate(([0.0], np.cumsum(dens * np.diff(z))))
        self._z, self._F = z, cum / cum[-1]

    def _unit(self, x: np.ndarray) -> np.ndarray:
        return np.clip((np.asarray(x, dtype=float) - self.low) / (self.high - self.low), 0.0, 1.0)

    def ppf(self, u: np.ndarray) -> np.ndarray:
        return self.low + (self.high - self.low) * np.interp(np.asarray(u, dtype=float), self._F, self._z)

    def cdf(self, x: np.ndarray) -> np.ndarray:
        return np.interp(self._unit(x), self._z, self._F)

    def pdf(self, x: np.ndarray) -> np.ndarray:
        z = self._unit(x)
        inside = (z > 0) & (z < 1)
        zz = np.where(inside, z, 0.5)
        dens = np.exp((self.a - 1) * np.log(zz) + (self.b - 1) * np.log1p(-zz) - self._lbeta)
        return np.where(inside, dens / (self.high - self.low), 0.0)

    @property
    def mean(self) -> float:
        return self.low + (self.high - self.low) * self.a / (self.a + self.b)

    def spec(self) -> dict[str, Any]:
        return {"dist": "beta", "a": self.a, "b": self.b, "low": self.low, "high": self.high}


@dataclass(eq=False)
class Empirical(Dist):
    """The distribution of observed values: the piecewise-linear interpolation of their ECDF.

    With sorted observations x₍₁₎ … x₍ₘ₎, the quantile at (k − 1)/(m − 1) is x₍ₖ₎ and linear in
    between (numpy's default quantile rule), so draws stay within the observed range and the
    CDF is continuous (the equilibrium computations need a density).
    """

    data: tuple[float, ...] = ()
    source: str = ""
    name = "empirical"

    def __post_init__(self) -> None:
        xs = np.sort(np.asarray(self.data, dtype=float))
        if xs.size < 2:
            raise ValueError("an empirical distribution needs at least two observations")
        self._x = xs
        self._p = np.linspace(0.0, 1.0, xs.size)
        self.lo, self.hi = float(xs[0]), float(xs[-1])

    def ppf(self, u: np.ndarray) -> np.ndarray:
        return np.interp(np.asarray(u, dtype=float), self._p, self._x)

    def cdf(self, x: np.ndarray) -> np.ndarray:
        # Ties (repeated observations) make the quantile function flat; interp on the x grid
        # takes the right end of a tie, which is the CDF's right limit there.
        return np.interp(np.asarray(x, dtype=float), self._x, self._p)

    def pdf(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        gaps = np.diff(self._x)
        dens = np.where(gaps > 0, (1.0 / (self._x.size - 1)) / np.where(gaps > 0, gaps, 1.0), 0.0)
        idx = np.clip(np.searchsorted(self._x, x, side="right") - 1, 0, gaps.size - 1)
        return np.where((x >= self.lo) & (x <= self.hi), dens[idx], 0.0)

    @property
    def mean(self) -> float:
        # The mean of the interpolated distribution: the average of the segment midpoints.
        return float(np.mean((self._x[1:] + self._x[:-1]) / 2))

    def spec(self) -> dict[str, Any]:
        return {"dist": "empirical", "source": self.source, "n": int(self._x.size), "data": [float(v) for v in self._x]}


@dataclass(eq=False)
class Point(Dist):
    value: float = 0.0
    name = "point"

    def __post_init__(self) -> None:
        self.lo = self.hi = self.value

    def ppf(self, u: np.ndarray) -> np.ndarray:
        return np.full(np.shape(u), self.value, dtype=float)

    def cdf(self, x: np.ndarray) -> np.ndarray:
        return np.where(np.asarray(x, dtype=float) >= self.value, 1.0, 0.0)

    def pdf(self, x: np.ndarray) -> np.ndarray:
        return np.zeros(np.shape(x))

    @property
    def mean(self) -> float:
        return self.value

    def spec(self) -> dict[str, Any]:
        return {"dist": "point", "value": self.value}


# -- the normal distribution (for the lognormal) ---------------------------------------------------

_A = (
    -3.969683028665376e01,
    2.209460984245205e02,
    -2.759285104469687e02,
    1.383577518672690e02,
    -3.066479806614716e01,
    2.506628277459239e00,
)
_B = (-5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02, 6.680131188771972e01, -1.328068155288572e01)
_C = (
    -7.784894002430293e-03,
    -3.223964580411365e-01,
    -2.400758277161838e00,
    -2.549732539343734e00,
    4.374664141464968e00,
    2.938163982698783e00,
)
_D = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00, 3.754408661907416e00)
_erfc = np.frompyfunc(math.erfc, 1, 1)


def norm_cdf(z: np.ndarray) -> np.ndarray:
    """Standard normal CDF, Φ(z) = erfc(−z/√2)/2, exact to double precision."""
    z = np.asarray(z, dtype=float)
    return (_erfc(-z / math.sqrt(2)).astype(float)) / 2


def norm_ppf(u: np.ndarray) -> np.ndarray:
    """Standard normal quantile Φ⁻¹(u): Acklam's approximation plus one Halley refinement."""
    u = np.asarray(u, dtype=float)
    p = np.clip(u, 1e-300, 1 - 1e-16)
    q = np.where(p < 0.5, p, 1 - p)
    x = np.empty_like(p)
    low = q < 0.02425
    r = np.sqrt(-2 * np.log(np.where(low, q, 0.5)))
    tail = (((((_C[0] * r + _C[1]) * r + _C[2]) * r + _C[3]) * r + _C[4]) * r + _C[5]) / (
        (((_D[0] * r + _D[1]) * r + _D[2]) * r + _D[3]) * r + 1
    )
    s = q - 0.5
    t = s * s
    centre = (
        (((((_A[0] * t + _A[1]) * t + _A[2]) * t + _A[3]) * t + _A[4]) * t + _A[5])
        * s
        / (((((_B[0] * t + _B[1]) * t + _B[2]) * t + _B[3]) * t + _B[4]) * t + 1)
    )
    x = np.where(low, tail, centre)  # the quantile of q (≤ 0.5), which is ≤ 0
    x = np.where(p < 0.5, x, -x)
    e = norm_cdf(x) - p  # one Halley step
    d = e * math.sqrt(2 * math.pi) * np.exp(x * x / 2)
    x = x - d / (1 + x * d / 2)
    return np.where(u <= 0, -np.inf, np.where(u >= 1, np.inf, x))


# -- construction from scenario data ------------------------------------------------------------------

DIST_KEYS: dict[str, dict[str, tuple[type, ...]]] = {
    "uniform": {"low": (int, float), "high": (int, float)},
    "exponential": {"mean": (int, float), "shift": (int, float)},
    "lognormal": {"mu": (int, float), "sigma": (int, float), "median": (int, float), "mean": (int, float)},
    "beta": {"a": (int, float), "b": (int, float), "low": (int, float), "high": (int, float)},
    "empirical": {"file": (str,), "column": (str,), "data": (list,), "source": (str,), "n": (int,)},
    "point": {"value": (int, float)},
}


def make_dist(spec: Mapping[str, Any]) -> Dist:
    """Build a distribution from validated scenario data (`scenario` checks keys and ranges)."""
    kind = spec["dist"]
    if kind == "uniform":
        return Uniform(float(spec.get("low", 0.0)), float(spec.get("high", 1.0)))
    if kind == "exponential":
        return Exponential(float(spec.get("mean", 1.0)), float(spec.get("shift", 0.0)))
    if kind == "lognormal":
        sigma = float(spec.get("sigma", 1.0))
        if "median" in spec:
            mu = math.log(float(spec["median"]))
        elif "mean" in spec:
            mu = math.log(float(spec["mean"])) - sigma**2 / 2
        else:
            mu = float(spec.get("mu", 0.0))
        return Lognormal(mu, sigma)
    if kind == "beta":
        return Beta(
            float(spec.get("a", 2.0)),
            float(spec.get("b", 2.0)),
            float(spec.get("low", 0.0)),
            float(spec.get("high", 1.0)),
        )
    if kind == "empirical":
        return Empirical(tuple(float(v) for v in spec["data"]), str(spec.get("source", "")))
    if kind == "point":
        return Point(float(spec.get("value", 0.0)))
    raise ValueError(f"unknown distribution {kind!r}")


def read_empirical(path: Path, column: str | None) -> list[float]:
    """The numbers of one CSV column (the first column when `column` is None); raise ValueError naming the line."""
    with path.open(newline="", encoding="utf-8") as f:
        numbered = [
            (n, row)
            for n, row in enumerate(csv.reader(f), start=1)
            if row and "".join(row).strip() and not row[0].lstrip().startswith("#")
        ]  # skip comments
    if not numbered:
        raise ValueError(f"{path}: the file has no data")
    header_line, header = numbered[0]
    index = 0
    start = 0
    if column is not None:
        if column not in header:
            raise ValueError(f"{path}:{header_line}: no column {column!r} (columns: {', '.join(header)})")
        index, start = header.index(column), 1
    else:
        try:
            float(header[0])
        except (ValueError, IndexError):
            start = 1  # a header line
    out: list[float] = []
    for lineno, row in numbered[start:]:
        try:
            value = float(row[index])
        except (ValueError, IndexError):
            raise ValueError(f"{path}:{lineno}: {row[index] if index < len(row) else ''!r} is not a number") from None
        if not math.isfinite(value):
            raise ValueError(f"{path}:{lineno}: {value} is not a finite number")
        out.append(value)
    if len(out) < 2:
        raise ValueError(f"{path}: an empirical distribution needs at least two values, found {len(out)}")
    return out


# -- the common random numbers of one run -----------------------------------------------------------

DAY_MS = 86_400_000
STREAMS = ("arrivals", "values", "sellers", "behaviour", "lots", "strategies", "seller_rules")
"""The independent streams of a run's population, in spawn order (changing it changes every result).

A stream appended at the end leaves the others as they were: `SeedSequence.spawn` numbers its
children in order, so the first six streams are the same with or without `seller_rules`."""


@dataclass
class Population:
    """Everything random about a market that does not depend on the mechanism (common random numbers).

    Arrays of shape (lots,) or (lots, max bidders); a bidder column j is drawn as its own block
    of the stream, so bidder j of lot i has the same value whether the lot has 3 bidders or 10.
    `values` are what bidders know (private values, or signals under a common value);
    `true_values` are what the lot is worth to them (for surplus and efficiency).
    """

    arrival: np.ndarray  # ms after the scenario start
    n_bidders: np.ndarray
    values: np.ndarray
    true_values: np.ndarray
    seller: np.ndarray
    appraisal: np.ndarray  # appraisal before the lot scale is applied (normalised units)
    u_scale: np.ndarray  # uniforms giving each lot's scale through the (option's) lot_scale distribution
    u_option: np.ndarray
    u_submarket: np.ndarray
    u_arrive: np.ndarray  # (lots, bidders): where in its bidding window each bidder arrives, in [0, 1)
    u_strategy: np.ndarray  # (lots, bidders): which strategy of a mix each bidder follows
    u_behaviour: np.ndarray  # (lots, 8): pay, pay delay, second chance, objection, its time, upheld, approval, spare
    u_seller: np.ndarray  # (lots, 3): the noise of the seller's reserve, start and list price rules (seller.py)

    @property
    def lots(self) -> int:
        return int(self.arrival.size)


def _blocks(rng: np.random.Generator, lots: int, width: int) -> np.ndarray:
    """A (lots, width) array of uniforms drawn column by column (bidder-stable)."""
    return rng.random((width, lots)).T if width else np.zeros((lots, 0))


def draw_population(data: Mapping[str, Any], seq: np.random.SeedSequence) -> Population:
    """Draw a run's population from scenario `data` with the streams spawned from `seq`."""
    rngs = dict(zip(STREAMS, (np.random.Generator(np.random.PCG64(s)) for s in seq.spawn(len(STREAMS))), strict=True))
    pop, vals = data["population"], data["values"]
    arr = pop["arrival"]
    r = rngs["arrivals"]
    if arr["process"] == "scheduled":
        arrival = np.arange(arr["lots"], dtype=np.int64) * int(arr["every_ms"])
    else:
        span = float(arr["days"]) * DAY_MS
        count = int(r.poisson(float(arr["per_day"]) * float(arr["days"])))
        arrival = np.sort((r.random(count) * span).astype(np.int64))
    lots = int(arrival.size)
    b = pop["bidders"]
    if b["dist"] == "fixed":
        n = np.full(lots, int(b["n"]), dtype=np.int64)
    else:
        n = np.clip(r.poisson(float(b["mean"]), size=lots), int(b["min"]), int(b["max"])).astype(np.int64)
    width = int(n.max()) if lots else 0
    u_arrive = _blocks(r, lots, width)

    rv = rngs["values"]
    bidder = make_dist(vals["bidder"])
    x = bidder.ppf(_blocks(rv, lots, width))
    common = vals.get("common")
    if common is None:
        values = x
        true = x
    elif common["kind"] == "additive":
        c = make_dist(common["dist"]).ppf(rv.random(lots))
        w = float(common["weight"])
        values = (1 - w) * x + w * c[:, None]
        true = values
    else:  # signal: the lot's value is common; each bidder sees it plus noise
        c = make_dist(common["dist"]).ppf(rv.random(lots))
        noise = make_dist(common["noise"]).ppf(_blocks(rv, lots, width))
        values = c[:, None] + noise
        true = np.repeat(c[:, None], width, axis=1)
    mask = np.arange(width)[None, :] >= n[:, None]
    values = np.where(mask, np.nan, values)
    true = np.where(mask, np.nan, true)

    rs = rngs["sellers"]
    seller = make_dist(vals["seller"]).ppf(rs.random(lots))
    ap = vals["appraisal"]
    z = norm_ppf(np.clip(rs.random(lots), 1e-12, 1 - 1e-12))
    noise = np.exp(float(ap["noise"]) * z - float(ap["noise"]) ** 2 / 2)
    if ap["rule"] == "expected_value":
        if common is None:
            mean = bidder.mean
        elif common["kind"] == "additive":
            w = float(common["weight"])
            mean = (1 - w) * bidder.mean + w * make_dist(common["dist"]).mean
        else:
            mean = make_dist(common["dist"]).mean
        base = np.full(lots, mean)
    elif ap["rule"] == "seller_value":
        base = seller
    else:
        base = np.nanmax(np.where(mask, -np.inf, true), axis=1) if width else np.zeros(lots)
    appraisal = float(ap["factor"]) * base * noise

    rl = rngs["lots"]
    u_scale, u_option, u_sub = rl.random(lots), rl.random(lots), rl.random(lots)
    u_behaviour = rngs["behaviour"].random((lots, 8))
    u_strategy = _blocks(rngs["strategies"], lots, width)
    u_seller = rngs["seller_rules"].random((lots, 3))
    return Population(
        arrival,
        n,
        values,
        true,
        seller,
        appraisal,
        u_scale,
        u_option,
        u_sub,
        u_arrive,
        u_strategy,
        u_behaviour,
        u_seller,
    )
