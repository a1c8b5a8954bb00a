"""The seller's side of a mechanism: from a scenario option and one lot's draws to the lot's rules.

Why: the same option (say "English with the optimal reserve") gives each lot different rule
parameters, because reserves, starting and list prices follow rules of the lot's own values
(seller value, appraisal, lot scale), times the rule's noise when it has some (seller.py). This
module applies those seller rules in value units, then converts every amount to integer fen —
round(x × lot scale × scenario scale), at least one fen — and checks the result with the
engine's own parameter classes, so a scenario that the engine would refuse is refused at load
time with the key path.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..params import SettlementParams, field_names, from_dict
from ..rules import MODES
from ..rules.base import lot_kind
from .strategies import myerson_reserve, optimal_posted_price
from .values import make_dist

__all__ = ["MONEY_KEYS", "LotTerms", "lot_terms", "market_params", "to_fen"]

MONEY_KEYS = frozenset(
    {
        "start_price",
        "increment",
        "reserve",
        "step",
        "floor",
        "min_price",
        "list_price",
        "price",
        "auction_increment",
        "deposit",
    }
)
"""Rule parameters that are amounts of money: given in value units in a scenario, converted to fen."""
_SETTLEMENT = field_names(SettlementParams)


@dataclass(frozen=True)
class LotTerms:
    """One lot's rule parameters (engine units) and the amounts bidders reason with (value units).

    `unit` is fen per normalised value unit for this lot (lot scale × scenario scale); `reserve`
    and `floor` (the lowest admissible amount: starting, minimum or floor price) are normalised.
    `premium_key` names the rule parameter holding the opening price the seller set, which the
    `premium` metric divides by (metrics.py); None when the simulator filled the opening price in to
    satisfy the rules (a sealed lot's 1-fen minimum, an English start of one increment, a Dutch start
    at the top of the value distribution): a ratio to such a price says nothing about the market.
    """

    mode: str
    params: dict[str, Any]
    unit: float
    reserve: float
    floor: float
    list_price: float | None = None
    premium_key: str | None = None


def to_fen(x: float, unit: float) -> int:
    """An amount in normalised value units as integer fen (at least one fen)."""
    return max(1, round(x * unit))


def _convert(params: dict[str, Any], unit: float) -> dict[str, Any]:
    out = {}
    for key, value in params.items():
        if key in MONEY_KEYS and type(value) in (int, float):
            out[key] = to_fen(float(value), unit) if value > 0 else 0
        else:
            out[key] = value
    return out


def market_params(scenario: dict[str, Any]) -> dict[str, Any]:
    """Market-level rule parameters in engine units (amounts scaled by the scenario scale only)."""
    return _convert(scenario["market"]["params"], float(scenario["scenario"]["scale"]))


def _reserve(
    rule: dict[str, Any] | None, scenario: dict[str, Any], seller_value: float, appraisal: float, noise: float
) -> float | None:
    if rule is None or rule["rule"] == "none":
        return None
    kind = rule["rule"]
    if kind == "fixed":
        return float(rule["value"]) * noise
    if kind == "optimal":
        return myerson_reserve(make_dist(scenario["values"]["bidder"]), seller_value) * noise
    if kind == "seller_value":
        return float(rule["factor"]) * seller_value * noise
    return float(rule["factor"]) * appraisal * noise  # appraisal


def lot_terms(
    option: dict[str, Any],
    scenario: dict[str, Any],
    *,
    lot_scale: float,
    seller_value: float,
    appraisal: float,
    n_hint: int,
    noise: Mapping[str, float] | None = None,
) -> LotTerms:
    """Apply the seller rules of `option` to one lot; raise Rejected (from the engine's checks) if invalid.

    `noise` holds the lot's multiplicative noise factor of each seller rule that has noise (seller.py).
    """
    mode = option["mode"]
    unit = lot_scale * float(scenario["scenario"]["scale"])
    p = dict(option["params"])
    seller = option["seller"]
    noise = noise or {}
    reserve = _reserve(seller.get("reserve"), scenario, seller_value, appraisal, noise.get("reserve", 1.0))
    if reserve is None and "reserve" in p:
        reserve = float(p["reserve"])
    floor = 0.0
    list_price = None
    premium_key: str | None = None
    if mode == "english":
        premium_key = "start_price"
        if "start_price" not in p:
            rule = seller.get("start")
            increment = float(p["increment"])
            if rule is None:
                start = max(reserve or 0.0, increment)
            elif rule["rule"] == "fixed":
                start = float(rule["value"])
            elif rule["rule"] == "reserve":
                start = reserve if reserve else increment
            else:
                start = float(rule["factor"]) * appraisal
            if (rule is None or rule["rule"] == "reserve") and not (reserve and reserve >= increment):
                premium_key = None  # one increment: the lowest start the rules take, not the seller's price
            if rule is not None:
                start *= noise.get("start", 1.0)
            p["start_price"] = start
        if reserve:
            p["reserve"] = reserve
        floor = float(p["start_price"])
    elif mode == "dutch":
        premium_key = "start_price" if "start_price" in p else None  # else the top of the value distribution
        if "start_price" not in p:
            top = make_dist(scenario["values"]["bidder"]).hi
            if not math.isfinite(top):
                raise ValueError("a dutch mechanism over unbounded values needs params.start_price")
            p["start_price"] = top
        floor = max(float(p.get("floor", p["step"])), reserve or 0.0)
        p["floor"] = floor
    elif mode == "sealed":
        if reserve:
            p["reserve"] = reserve
        # the seller's minimum price, or else its reserve; a minimum of one fen is the simulator's
        premium_key = "min_price" if "min_price" in p else "reserve" if reserve else None
        floor = float(p["min_price"]) if "min_price" in p else 1.0 / unit
        if "min_price" not in p:
            p["min_price"] = floor
    elif mode == "listing":
        if "list_price" not in p:
            rule = seller["list_price"]
            kind = rule["rule"]
            if kind == "fixed":
                price = float(rule["value"])
            elif kind == "appraisal":
                price = float(rule["factor"]) * appraisal
            elif kind == "seller_value":
                price = float(rule["factor"]) * seller_value
            else:
                price = optimal_posted_price(make_dist(scenario["values"]["bidder"]), n_hint, seller_value)
            p["list_price"] = price * noise.get("list_price", 1.0)
        list_price = float(p["list_price"])
        floor = list_price
        premium_key = "list_price"
    elif mode == "agreement":
        p.setdefault("price", 1.0 / unit)  # set per lot by the negotiation; a placeholder for the checks
        p.setdefault("buyer", "b0")
        premium_key = "price"  # the negotiated price the lot opens at (the placeholder is replaced)
    params = _convert(p, unit)
    # The engine's own checks (the lot's layer merged over the market's, as the engine resolves them).
    merged = {**market_params(scenario), **params}
    mode_fields = field_names(MODES[mode].params)
    where = f" for {lot_kind(mode)}"
    from_dict(MODES[mode].params, {k: v for k, v in merged.items() if k in mode_fields}, where)
    from_dict(SettlementParams, {k: v for k, v in merged.items() if k in _SETTLEMENT}, where)
    return LotTerms(mode, params, unit, reserve or 0.0, floor, list_price, premium_key)
