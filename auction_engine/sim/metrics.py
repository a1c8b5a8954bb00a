"""Metrics: one run's lot records → one result row; result rows → means, standard errors, intervals.

Why here and nowhere else: every number in a table, a plot or docs/validation.md is defined once,
in this module, with the definition in the docstring of `METRICS`. Rows hold only numbers that
follow from the run spec (no wall-clock times), so the same spec gives the same row on any
machine and under any executor.

Units: money in the scenario's value units (fen ÷ scale) unless the name ends in `_yuan`; times
in hours. Lots whose pricing had not ended at the horizon count as neither deals nor no-sales.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from .agents import LotRecord

__all__ = ["METRICS", "describe", "run_row", "summarise", "t_quantile"]

METRICS: dict[str, str] = {
    "revenue": "seller revenue per lot offered: Σ deal prices ÷ lots (value units); with settlement simulated, "
    "only settled deals count",
    "premium": "mean over the deals whose lot opened at a price the seller set (starting, minimum, list or "
    "agreed price, or a sealed lot's reserve) of price ÷ that price − 1; deals whose opening price the simulator "
    "filled in (a sealed lot's 1-fen minimum, an English start of one increment, a Dutch start at the top of "
    "the value distribution) are left out: a ratio to it is meaningless. A Dutch clock's is ≤ 0",
    "premium_share": "share of deals the premium is measured over (their opening price was the seller's)",
    "efficiency": "allocative efficiency: Σ over deals (winner's value − seller's value) ÷ Σ over lots "
    "max(0, highest value − seller's value)",
    "efficient_share": "share of deals won by the bidder with the highest value",
    "bidder_surplus": "Σ over deals (winner's value − price) ÷ lots (value units)",
    "seller_surplus": "Σ over deals (price − seller's value) ÷ lots (value units)",
    "deal_rate": "lots with a deal (settled, when settlement is simulated) ÷ lots",
    "no_sale_rate": "lots with no sale (流拍, or a failed negotiation) ÷ lots",
    "time_to_deal_h": "mean over deals of hours from the lot's arrival to its (first) deal",
    "bids_per_lot": "accepted bidder actions (bids, proxies, commitments, acceptances, offers) ÷ lots",
    "extensions_per_lot": "countdown restarts of English auctions ÷ lots",
    "discovery_error": "mean over deals of |price − v₍₂₎| ÷ v₍₂₎, v₍₂₎ the second-highest value "
    "(the seller's value when one bidder)",
    "forfeited": "deposits forfeited per lot (value units)",
    "defaults_per_lot": "buyer defaults ÷ lots",
    "focal_surplus": "surplus of bidder 0 (the focal bidder of a deviation study) per lot (value units)",
}


def _mean(xs: Sequence[float]) -> float:
    return float(np.mean(xs)) if len(xs) else math.nan


def run_row(records: Iterable[LotRecord], scale: float, settle: bool, modes: Sequence[str]) -> dict[str, Any]:
    """The metrics of one run (see METRICS), plus counts and, for a mix of modes, per-mode totals."""
    recs = list(records)
    lots = len(recs)
    revenue = surplus_b = surplus_s = welfare = best = forfeited = 0.0
    premiums: list[float] = []
    times: list[float] = []
    errors: list[float] = []
    deals = no_sales = bids = extensions = defaults = efficient = 0
    focal = 0.0
    by_mode: dict[str, list[float]] = {m: [0, 0.0] for m in modes}
    for r in recs:
        unit_to_value = r.scale / r.unit  # fen → value units, for this lot
        v = r.values.tolist()  # the same numbers as Python floats, which the loops below read one by one
        ranked: list[float] | None = None  # sorted values, when needed
        if any(x != x for x in v):  # a NaN: numpy's max and sort semantics, as before
            top = float(np.max(r.values)) if v else -math.inf
            ranked = np.sort(r.values).tolist()
        else:
            top = max(v) if v else -math.inf
        best += max(0.0, top - r.seller_value)
        bids += r.bids
        extensions += r.extensions
        defaults += r.defaults
        forfeited += r.forfeited * unit_to_value
        sold = r.outcome == "deal" and (r.settled or not settle)
        if sold and r.buyer is not None:
            price = r.price * unit_to_value
            deals += 1
            revenue += price
            winner = float(v[r.buyer])
            surplus_b += winner - price
            if r.buyer == 0:
                focal += winner - price
            surplus_s += price - r.seller_value
            welfare += winner - r.seller_value
            efficient += winner >= top
            if r.premium_base > 0:
                premiums.append(r.price / r.premium_base - 1.0)
            if r.deal_t is not None:
                times.append((r.deal_t - r.arrived) / 3_600_000)
            if len(v) >= 2 and ranked is None:
                ranked = sorted(v)
            second = float(ranked[-2]) if ranked is not None and len(ranked) >= 2 else r.seller_value
            if second > 0:
                errors.append(abs(price - second) / second)
            if r.mode in by_mode:
                by_mode[r.mode][0] += 1
                by_mode[r.mode][1] += r.price
        elif r.outcome in ("no_sale", "failed") or (r.outcome == "deal" and settle and not r.settled):
            no_sales += 1
    n = max(lots, 1)
    row: dict[str, Any] = {
        "lots": lots,
        "deals": deals,
        "revenue": revenue / n,
        "revenue_total": revenue,
        "revenue_yuan": revenue * scale / 100,
        "premium": _mean(premiums),
        "premium_share": len(premiums) / deals if deals else math.nan,
        "efficiency": welfare / best if best > 0 else math.nan,
        "efficient_share": efficient / deals if deals else math.nan,
        "bidder_surplus": surplus_b / n,
        "seller_surplus": surplus_s / n,
        "deal_rate": deals / n,
        "no_sale_rate": no_sales / n,
        "time_to_deal_h": _mean(times),
        "bids_per_lot": bids / n,
        "extensions_per_lot": extensions / n,
        "discovery_error": _mean(errors),
        "forfeited": forfeited / n,
        "defaults_per_lot": defaults / n,
        "focal_surplus": focal / n,
    }
    if len(modes) > 1:
        for mode, (count, fen) in by_mode.items():
            row[f"deals_{mode}"] = count
            row[f"revenue_yuan_{mode}"] = fen / 100
    return row


# -- summaries ----------------------------------------------------------------------------------------

_T975 = [
    12.706,
    4.303,
    3.182,
    2.776,
    2.571,
    2.447,
    2.365,
    2.306,
    2.262,
    2.228,
    2.201,
    2.179,
    2.160,
    2.145,
    2.131,
    2.120,
    2.110,
    2.101,
    2.093,
    2.086,
    2.080,
    2.074,
    2.069,
    2.064,
    2.060,
    2.056,
    2.052,
    2.048,
    2.045,
    2.042,
]


def t_quantile(df: int) -> float:
    """The 97.5% quantile of Student's t with df degrees of freedom (a table to 30, then 1.96 + 2.4/df)."""
    if df < 1:
        return math.nan
    if df <= 30:
        return _T975[df - 1]
    return 1.96 + 2.4 / df  # within 0.002 of the exact quantile for df > 30


def describe(xs: Sequence[float]) -> dict[str, Any]:
    """n, mean, sd, standard error and a 95% t-interval of the finite values in xs."""
    arr = np.asarray([x for x in xs if x is not None and not (isinstance(x, float) and math.isnan(x))], dtype=float)
    n = int(arr.size)
    if n == 0:
        return {"n": 0, "mean": None, "sd": None, "se": None, "ci95": [None, None]}
    mean = float(arr.mean())
    if n == 1:
        return {"n": 1, "mean": mean, "sd": None, "se": None, "ci95": [None, None]}
    sd = float(arr.std(ddof=1))
    se = sd / math.sqrt(n)
    h = t_quantile(n - 1) * se
    return {"n": n, "mean": mean, "sd": sd, "se": se, "ci95": [mean - h, mean + h]}


def summarise(rows: Sequence[dict[str, Any]], metrics: Sequence[str]) -> list[dict[str, Any]]:
    """Per (cell, mechanism): every metric described; plus paired differences against the first mechanism.

    Paired differences use the replications both mechanisms ran: with common random numbers their
    standard errors are usually far smaller than the difference of two independent means.
    """
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    order: list[tuple[str, str]] = []
    for row in rows:
        key = (row["cell"], row["mechanism"])
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(row)
    baseline: dict[str, str] = {}
    for cell, mech in order:
        baseline.setdefault(cell, mech)
    out = []
    for cell, mech in order:
        group = groups[(cell, mech)]
        entry: dict[str, Any] = {
            "cell": cell,
            "mechanism": mech,
            "runs": len(group),
            "cell_values": group[0].get("cell_values", {}),
            "metrics": {m: describe([r.get(m) for r in group]) for m in metrics if m in group[0]},
        }
        base = baseline[cell]
        if base != mech:
            ref = {r["replication"]: r for r in groups[(cell, base)]}
            diffs = {}
            for m in entry["metrics"]:
                pairs = [
                    r[m] - ref[r["replication"]][m]
                    for r in group
                    if r["replication"] in ref and r.get(m) is not None and ref[r["replication"]].get(m) is not None
                ]
                diffs[m] = describe(pairs)
            entry["versus"] = {"mechanism": base, "differences": diffs}
        out.append(entry)
    return out
