"""The scenario tables of the market and its agents: rule parameters, the population, values and strategies."""

from __future__ import annotations

from typing import Any

from ..params import SettlementParams, field_names
from ..rules import MODES
from ..rules.base import lot_kind
from .mechanism import MONEY_KEYS
from .scenario_check import Checker
from .strategies import STRATEGIES
from .values import DIST_KEYS

_SETTLEMENT_KEYS = field_names(SettlementParams)


def engine_params(ck: Checker, params: dict[str, Any], path: list[str | int], mode: str | None) -> dict[str, Any]:
    """Rule parameters: keys the engine knows (mode's and settlement's), scalar values."""
    known = set(_SETTLEMENT_KEYS)
    for m in [mode] if mode else list(MODES):
        known |= field_names(MODES[m].params)
    for key, value in params.items():
        if key not in known:
            lot = f" for {lot_kind(mode)}" if mode else ""
            raise ck.fail([*path, key], f"unknown rule parameter {key!r}{lot} (known: {', '.join(sorted(known))})")
        if isinstance(value, dict):
            raise ck.fail([*path, key], "must be a value, not a table")
        if key in MONEY_KEYS and (type(value) not in (int, float) or value < 0):
            raise ck.fail([*path, key], f"is an amount in value units and must be a non-negative number, not {value!r}")
    return dict(params)


def population_table(ck: Checker, raw: Any) -> dict[str, Any]:
    path: list[str | int] = ["population"]
    pop = ck.table(raw, path, ["lots", "arrival", "bidders"])
    arrival = ck.table(pop.get("arrival", {}), [*path, "arrival"], ["process", "every_ms", "per_day", "days"])
    process = ck.value(arrival, [*path, "arrival"], "process", (str,), "scheduled", choices=("scheduled", "poisson"))
    if process == "scheduled":
        for key in ("per_day", "days"):
            if key in arrival:
                raise ck.fail([*path, "arrival", key], "only for process = 'poisson'")
        arr = {
            "process": "scheduled",
            "lots": ck.value(pop, path, "lots", (int,), 1, minimum=1),
            "every_ms": ck.value(arrival, [*path, "arrival"], "every_ms", (int,), 0, minimum=0),
        }
    else:
        if "lots" in pop:
            raise ck.fail(
                [*path, "lots"],
                "a Poisson arrival process sets the number of lots: give arrival.per_day and arrival.days instead",
            )
        if "every_ms" in arrival:
            raise ck.fail([*path, "arrival", "every_ms"], "only for process = 'scheduled'")
        arr = {
            "process": "poisson",
            "per_day": ck.value(
                arrival, [*path, "arrival"], "per_day", (float,), required=True, minimum=0, exclusive_min=True
            ),
            "days": ck.value(
                arrival, [*path, "arrival"], "days", (float,), required=True, minimum=0, exclusive_min=True
            ),
        }
    bidders = pop.get("bidders", 5)
    if type(bidders) is int:
        if bidders < 1:
            raise ck.fail([*path, "bidders"], "must be at least 1")
        bid = {"dist": "fixed", "n": bidders}
    elif isinstance(bidders, dict):
        ck.table(bidders, [*path, "bidders"], ["dist", "mean", "min", "max"])
        ck.value(bidders, [*path, "bidders"], "dist", (str,), required=True, choices=("poisson",))
        bid = {
            "dist": "poisson",
            "mean": ck.value(bidders, [*path, "bidders"], "mean", (float,), required=True, minimum=0),
            "min": ck.value(bidders, [*path, "bidders"], "min", (int,), 0, minimum=0),
            "max": ck.value(bidders, [*path, "bidders"], "max", (int,), 50, minimum=1),
        }
        if bid["min"] > bid["max"]:
            raise ck.fail([*path, "bidders", "min"], f"must not exceed max ({bid['max']})")
    else:
        raise ck.fail([*path, "bidders"], f"must be an integer or a table {{dist = 'poisson', mean = …}}: {bidders!r}")
    return {"arrival": arr, "bidders": bid}


def values_table(ck: Checker, raw: Any) -> dict[str, Any]:
    path: list[str | int] = ["values"]
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ck.fail(path, "must be a table")
    sub = ("seller", "common", "lot_scale", "appraisal")
    bidder_raw = {k: v for k, v in raw.items() if k not in sub}
    for key in raw:
        if key not in sub and key != "dist" and key not in DIST_KEYS.get(str(raw.get("dist")), {}):
            known = ["dist", *sorted(DIST_KEYS.get(str(raw.get("dist")), {})), *sub]
            raise ck.fail([*path, key], f"unknown key {key!r} (known: {', '.join(known)})")
    bidder = ck.dist(bidder_raw or None, path, {"dist": "uniform", "low": 0.0, "high": 1.0})
    if bidder["dist"] == "point":
        raise ck.fail(path, "bidders' values need a distribution, not a constant")
    seller = ck.dist(raw.get("seller"), [*path, "seller"], {"dist": "point", "value": 0.0})
    scale = ck.dist(raw.get("lot_scale"), [*path, "lot_scale"], {"dist": "point", "value": 1.0})
    if scale["dist"] == "point" and scale["value"] <= 0:
        raise ck.fail([*path, "lot_scale"], "must be positive")
    common = None
    if raw.get("common") is not None:
        cpath = [*path, "common"]
        dist_keys = {k for d in DIST_KEYS.values() for k in d}
        cm = ck.table(raw["common"], cpath, ["kind", "weight", "dist", "noise", *dist_keys])
        kind = ck.value(cm, cpath, "kind", (str,), "additive", choices=("additive", "signal"))
        dist_raw = {k: v for k, v in cm.items() if k not in ("kind", "weight", "noise")}
        common = {"kind": kind, "dist": ck.dist(dist_raw or None, cpath, {"dist": "uniform", "low": 0.0, "high": 1.0})}
        if kind == "additive":
            common["weight"] = ck.value(cm, cpath, "weight", (float,), 0.5, minimum=0, maximum=1)
            if "noise" in cm:
                raise ck.fail([*cpath, "noise"], "only for kind = 'signal'")
        else:
            if "weight" in cm:
                raise ck.fail([*cpath, "weight"], "only for kind = 'additive'")
            common["noise"] = ck.dist(cm.get("noise"), [*cpath, "noise"], {"dist": "uniform", "low": -0.1, "high": 0.1})
    ap = ck.table(raw.get("appraisal"), [*path, "appraisal"], ["rule", "factor", "noise"])
    appraisal = {
        "rule": ck.value(
            ap,
            [*path, "appraisal"],
            "rule",
            (str,),
            "expected_value",
            choices=("expected_value", "seller_value", "max_value"),
        ),
        "factor": ck.value(ap, [*path, "appraisal"], "factor", (float,), 1.0, minimum=0, exclusive_min=True),
        "noise": ck.value(ap, [*path, "appraisal"], "noise", (float,), 0.0, minimum=0),
    }
    return {"bidder": bidder, "seller": seller, "lot_scale": scale, "common": common, "appraisal": appraisal}


def strategy_one(ck: Checker, raw: Any, path: list[str | int], share: bool) -> dict[str, Any]:
    keys = ["name", "version", "params", *(["share", "bidders"] if share else [])]
    st = ck.table(raw, path, keys)
    name = ck.value(st, path, "name", (str,), required=True, choices=sorted(STRATEGIES))
    versions = STRATEGIES[name]
    version = ck.value(st, path, "version", (int,), max(versions))
    if version not in versions:
        raise ck.fail([*path, "version"], f"strategy {name!r} has versions {sorted(versions)}, not {version}")
    cls = versions[version]
    params = ck.value(st, path, "params", (dict,), {})
    ck.table(params, [*path, "params"], cls.params)
    clean = {}
    for key, (kind, default) in cls.params.items():
        value = ck.value(params, [*path, "params"], key, (kind,), default)
        clean[key] = value
    if name == "crra" and not 0 <= clean["rho"] < 1:
        raise ck.fail([*path, "params", "rho"], "relative risk aversion must be in [0, 1)")
    if name in ("shade", "proxy") and clean["factor"] <= 0:
        raise ck.fail([*path, "params", "factor"], "must be positive")
    out = {"name": name, "version": version, "params": clean}
    if share:
        bidders = st.get("bidders")
        if bidders is not None:
            if "share" in st:
                raise ck.fail([*path, "share"], "give either share or bidders (fixed bidder indices), not both")
            if not isinstance(bidders, list) or not bidders or any(type(b) is not int or b < 0 for b in bidders):
                raise ck.fail([*path, "bidders"], "must be a non-empty list of bidder indices (0 = the first bidder)")
            return {"share": 0.0, "bidders": sorted(set(bidders)), **out}
        out = {"share": ck.value(st, path, "share", (float,), required=True, minimum=0), **out}
    return out


def strategy_mix(ck: Checker, raw: Any, path: list[str | int], values: dict[str, Any]) -> list[dict[str, Any]] | None:
    if raw is None:
        return None
    if isinstance(raw, dict) and "mix" in raw:
        ck.table(raw, path, ["mix"])
        mix = raw["mix"]
        if not isinstance(mix, list) or not mix:
            raise ck.fail([*path, "mix"], "must be an array of tables ([[strategy.mix]]) with share, name, params")
        out = [strategy_one(ck, m, [*path, "mix", i], share=True) for i, m in enumerate(mix)]
        total = sum(m["share"] for m in out if "bidders" not in m)
        if total <= 0:
            raise ck.fail([*path, "mix"], "the shares of the entries without `bidders` must add up to more than 0")
        for m in out:
            if "bidders" not in m:
                m["share"] = m["share"] / total
    else:
        out = [{"share": 1.0, **strategy_one(ck, raw, path, share=False)}]
    common = values.get("common")
    for i, m in enumerate(out):
        if STRATEGIES[m["name"]][m["version"]].needs_ipv and common is not None:
            where = [*path, "mix", i] if len(out) > 1 or (isinstance(raw, dict) and "mix" in raw) else path
            raise ck.fail(
                [*where, "name"],
                f"strategy {m['name']!r} is an equilibrium for independent private values; "
                "values.common makes values correlated (use truthful, shade, proxy, …)",
            )
    return out
