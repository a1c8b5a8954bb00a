"""Validation against theory: closed-form results (DOMAIN §5) next to what the simulator measures.

Why: researchers trust the numbers because the simulator reproduces known theory. This module
holds the formulas, runs the shipped validation scenarios (scenarios/validation/) through the
ordinary experiment code, and compares: theory, simulated mean, standard error, runs, and the
distance in standard errors. The tests (tests/sim/test_validation.py) assert |z| ≤ 4 with fixed
seeds; `python -m auction_engine.sim.validation` prints the table of docs/validation.md.

Formulas, n bidders with values uniform on [0, 1], seller value 0:
- revenue of English, Dutch, first- and second-price with reserve r (r = 0: none):
  E[R] = (n − 1)/(n + 1) + rⁿ − 2n·rⁿ⁺¹/(n + 1)  (Myerson 1981; Krishna ch. 2);
- its maximiser r* = 1/2 for every n;
- the first-price equilibrium bid b(v) = (n − 1)v/n; a bidder shading to s·v against
  equilibrium bidders earns π(s) = ∫₀¹ (1 − s)·v·min(1, s·n·v/(n − 1))ⁿ⁻¹ dv, largest at s = (n − 1)/n;
- revenue variances (for the expected standard errors): second-price 2(n − 1)/((n + 1)²(n + 2)),
  first-price (n − 1)²/(n(n + 1)²(n + 2)).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .experiment import RunSpec, cells_of, run
from .metrics import describe
from .scenario import Scenario, apply_overrides, load

__all__ = [
    "Check",
    "focal_surplus",
    "optimal_reserve",
    "revenue_with_reserve",
    "run_cells",
    "table",
    "validate_bids",
    "validate_deviation",
    "validate_reserve",
    "validate_revenue_equivalence",
    "variance_first",
    "variance_second",
]

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios" / "validation"


def revenue_with_reserve(n: int, r: float = 0.0) -> float:
    """E[R] of the standard auctions with n uniform bidders and reserve r."""
    return (n - 1) / (n + 1) + r**n - 2 * n * r ** (n + 1) / (n + 1)


def variance_second(n: int) -> float:
    return 2 * (n - 1) / ((n + 1) ** 2 * (n + 2))


def variance_first(n: int) -> float:
    return (n - 1) ** 2 / (n * (n + 1) ** 2 * (n + 2))


def focal_surplus(s: float, n: int) -> float:
    """Expected surplus of a bidder bidding s·v against n − 1 bidders bidding (n − 1)v/n (uniform values)."""
    v = np.linspace(0.0, 1.0, 200_001)
    y = (1 - s) * v * np.minimum(1.0, s * n * v / (n - 1)) ** (n - 1)
    return float(np.sum((y[1:] + y[:-1]) / 2) * (v[1] - v[0]))


@dataclass(frozen=True)
class Check:
    """One line of the validation table."""

    what: str
    case: str
    theory: float
    mean: float
    se: float
    runs: int
    auctions: int

    @property
    def z(self) -> float:
        return (self.mean - self.theory) / self.se if self.se > 0 else (0.0 if self.mean == self.theory else math.inf)

    def row(self) -> str:
        return (
            f"| {self.what} | {self.case} | {self.theory:.4f} | {self.mean:.4f} | {self.se:.4f} | {self.runs} "
            f"| {self.auctions:,} | {self.z:+.2f} |"
        )


def run_cells(
    scenario: Scenario,
    runs: int,
    seed: int,
    sweep: dict[str, list[Any]] | None = None,
    mechanisms: Sequence[str] | None = None,
    lots: int | None = None,
) -> dict[tuple[Any, ...], dict[str, Any]]:
    """Run every cell × mechanism serially (ledger on); return {(cell..., mechanism): {rows, data}}."""
    sweep = scenario.data["sweep"] if sweep is None else sweep
    out: dict[tuple[Any, ...], dict[str, Any]] = {}
    base = apply_overrides(scenario, {"population.lots": lots}) if lots else scenario
    for cell in cells_of(sweep):
        data = apply_overrides(base, dict(cell)).data if cell else base.data
        for mech in data["mechanisms"]:
            if mechanisms and mech["name"] not in mechanisms:
                continue
            rows = [run(RunSpec(data, cell, mech["name"], rep, seed, detail=rep == 0)) for rep in range(runs)]
            out[(*[v for _, v in cell], mech["name"])] = {
                "rows": [r.row for r in rows],
                "detail": rows[0].detail,
                "lots": data["population"]["arrival"]["lots"],
            }
    return out


def _check(what: str, case: str, theory: float, rows: list[dict[str, Any]], metric: str, lots: int) -> Check:
    d = describe([r[metric] for r in rows])
    return Check(what, case, theory, d["mean"], d["se"] or 0.0, d["n"], d["n"] * lots)


def validate_revenue_equivalence(
    runs: int = 40, seed: int = 1, bidders: Sequence[int] = (2, 3, 5, 10), lots: int | None = None
) -> list[Check]:
    sc = load(SCENARIOS / "revenue-equivalence.toml")
    res = run_cells(sc, runs, seed, {"population.bidders": list(bidders)}, lots=lots)
    out = []
    for (n, mech), item in res.items():
        out.append(
            _check(
                "revenue equivalence",
                f"{mech}, n = {n}",
                revenue_with_reserve(n),
                item["rows"],
                "revenue",
                item["lots"],
            )
        )
    return out


def validate_reserve(
    runs: int = 40,
    seed: int = 1,
    bidders: Sequence[int] = (2, 3, 5),
    reserves: Sequence[float] = (0.25, 0.5, 0.75),
    mechanisms: Sequence[str] | None = None,
    lots: int | None = None,
) -> list[Check]:
    sc = load(SCENARIOS / "reserve.toml")
    sweep = {"population.bidders": list(bidders), "mechanism.*.seller.reserve.value": list(reserves)}
    res = run_cells(sc, runs, seed, sweep, mechanisms=mechanisms, lots=lots)
    out = []
    for (r, n, mech), item in res.items():  # cells are sorted by path: the reserve path sorts first
        out.append(
            _check(
                "revenue with reserve",
                f"{mech}, n = {n}, r = {r}",
                revenue_with_reserve(n, r),
                item["rows"],
                "revenue",
                item["lots"],
            )
        )
    return out


def optimal_reserve(
    runs: int = 40,
    seed: int = 1,
    n: int = 2,
    reserves: Sequence[float] = (0.4, 0.5, 0.6),
    mechanism: str = "second-price",
    lots: int | None = None,
) -> list[Check]:
    """Paired revenue differences R(r) − R(1/2) on common random numbers: theory ≤ 0, measured within 4 SE."""
    sc = load(SCENARIOS / "reserve.toml")
    grid = sorted(set(reserves) | {0.5})
    res = run_cells(
        sc,
        runs,
        seed,
        {"population.bidders": [n], "mechanism.*.seller.reserve.value": grid},
        mechanisms=[mechanism],
        lots=lots,
    )
    best = {r["replication"]: r["revenue"] for r in res[(0.5, n, mechanism)]["rows"]}
    out = []
    for r in grid:
        if r == 0.5:
            continue
        rows = res[(r, n, mechanism)]["rows"]
        diffs = [{"revenue": row["revenue"] - best[row["replication"]]} for row in rows]
        theory = revenue_with_reserve(n, r) - revenue_with_reserve(n, 0.5)
        out.append(
            _check(
                "optimal reserve 1/2",
                f"R({r}) − R(0.5), {mechanism}, n = {n}",
                theory,
                diffs,
                "revenue",
                res[(r, n, mechanism)]["lots"],
            )
        )
    return out


def validate_deviation(
    runs: int = 40, seed: int = 1, factors: Sequence[float] = (0.6, 0.7, 0.8, 0.9, 1.0), lots: int | None = None
) -> list[Check]:
    sc = load(SCENARIOS / "first-price-bids.toml")
    n = int(sc.data["population"]["bidders"]["n"])
    res = run_cells(sc, runs, seed, {"strategy.mix.0.params.factor": list(factors)}, lots=lots)
    return [
        _check(
            "first-price bid: focal surplus",
            f"s = {s}, n = {n} (equilibrium s = {(n - 1) / n:g})",
            focal_surplus(s, n),
            item["rows"],
            "focal_surplus",
            item["lots"],
        )
        for (s, _m), item in res.items()
    ]


def validate_bids(runs: int = 1, seed: int = 1, bidders: Sequence[int] = (2, 5, 10)) -> list[Check]:
    """Revealed first-price bids ÷ values against (n − 1)/n (the bid function as the ledger records it)."""
    sc = load(SCENARIOS / "revenue-equivalence.toml")
    res = run_cells(sc, runs, seed, {"population.bidders": list(bidders)}, mechanisms=["first-price"])
    out = []
    for (n, _m), item in res.items():
        pairs = [(v, b) for v, b in item["detail"]["bids"] if v > 0.01]
        ratios = [b / v for v, b in pairs]
        d = describe(ratios)
        out.append(
            Check("first-price bid b(v)/v", f"n = {n}", (n - 1) / n, d["mean"], d["se"] or 0.0, runs, len(pairs))
        )
    return out


def table(checks: Sequence[Check]) -> str:
    head = (
        "| result | case | theory | simulated mean | standard error | runs | auctions | z |\n"
        "|---|---|---|---|---|---|---|---|"
    )
    return "\n".join([head, *(c.row() for c in checks)])


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Print the validation table of docs/validation.md")
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="fewer runs (a smoke test)")
    args = parser.parse_args(argv)
    runs = 5 if args.quick else args.runs
    checks = (
        validate_revenue_equivalence(runs, args.seed)
        + validate_reserve(runs, args.seed)
        + optimal_reserve(runs, args.seed)
        + validate_deviation(runs, args.seed)
        + validate_bids(1, args.seed)
    )
    print(table(checks))
    worst = max(abs(c.z) for c in checks)
    print(f"\nlargest |z| = {worst:.2f} over {len(checks)} checks")


if __name__ == "__main__":
    main()
