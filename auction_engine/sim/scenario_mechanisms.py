"""The scenario's mechanisms: each a set of options (a pricing mode with its parameters, seller rules,
negotiation and strategies), and the seller policy that chooses an option per lot."""

from __future__ import annotations

import math
import re
from typing import Any

from ..model import Rejected
from ..rules import MODES
from .negotiation import MODELS
from .scenario_check import Checker, kind_text
from .scenario_tables import engine_params, strategy_mix
from .seller import FIELDS, OPS, PRICE_RULES, resolve_target
from .values import make_dist

_SELLER_RULES = PRICE_RULES
_POLICY_KEYS = ("name", "version", "mode")


def _seller(ck: Checker, raw: Any, path: list[str | int], policy: bool = False) -> dict[str, Any]:
    """An option's price rules (`reserve`, `start`, `list_price`); `policy`: the table may also hold
    the mechanism's seller rule keys (name, version, mode: see `_seller_policy`), which are skipped here."""
    if isinstance(raw, dict) and not policy:
        for key in _POLICY_KEYS:
            if key in raw:
                raise ck.fail(
                    [*path, key],
                    "the seller rule's name, version and mode rule belong to the mechanism's "
                    "seller table ([mechanism.seller]), not to an option's",
                )
    sl = ck.table(raw, path, [*_SELLER_RULES, *(_POLICY_KEYS if policy else ())])
    out: dict[str, Any] = {}
    for key, rules in _SELLER_RULES.items():
        if key not in sl:
            continue
        rp = [*path, key]
        item = sl[key]
        if type(item) in (int, float):
            item = {"rule": "fixed", "value": item}
        rule_table = ck.table(item, rp, ["rule", "value", "factor", "noise"])
        rule = ck.value(rule_table, rp, "rule", (str,), required=True, choices=rules)
        entry: dict[str, Any] = {"rule": rule}
        if rule == "fixed":
            entry["value"] = ck.value(rule_table, rp, "value", (float,), required=True, minimum=0)
        elif "value" in rule_table:
            raise ck.fail([*rp, "value"], "only for rule = 'fixed'")
        if rule in ("appraisal", "seller_value"):
            entry["factor"] = ck.value(rule_table, rp, "factor", (float,), 1.0, minimum=0)
        elif "factor" in rule_table:
            raise ck.fail([*rp, "factor"], f"only for rule = 'appraisal' or 'seller_value', not {rule!r}")
        if "noise" in rule_table:  # kept only when given, so scenarios without noise normalise as before
            if rule == "none":
                raise ck.fail([*rp, "noise"], "a rule = 'none' sets no amount to add noise to")
            entry["noise"] = ck.value(rule_table, rp, "noise", (float,), minimum=0, maximum=5)
        out[key] = entry
    return out


def _seller_policy(ck: Checker, raw: Any, path: list[str | int], options: bool) -> dict[str, Any] | None:
    """A mechanism's seller rule: `name`, `version` and, among [[mechanism.option]] entries, a `mode` rule.

    Returns None when the table names no rule (a seller table of price rules only, as before).
    """
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ck.fail(path, f"must be a table, not {kind_text(raw)}")
    if options:
        for key in _SELLER_RULES:
            if key in raw:
                raise ck.fail(
                    [*path, key],
                    "with [[mechanism.option]] entries, price rules are set in each option's "
                    "seller table; the mechanism's holds name, version and mode",
                )
        ck.table(raw, path, _POLICY_KEYS)
    if not any(key in raw for key in _POLICY_KEYS):
        return None
    if "name" not in raw:
        what = "a mode rule" if "mode" in raw else "seller.version"
        raise ck.fail(
            path,
            f"{what} needs seller.name: the rule's name is recorded in manifest.json and in each lot's open_lot entry",
        )
    name = ck.value(raw, path, "name", (str,), required=True)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.\-]*", name):
        raise ck.fail([*path, "name"], f"must be letters, digits, '.', '_' or '-': {name!r}")
    out: dict[str, Any] = {"name": name, "version": ck.value(raw, path, "version", (int,), 1, minimum=1), "mode": None}
    if "mode" in raw:
        if not options:
            raise ck.fail(
                [*path, "mode"],
                "a mode rule chooses among [[mechanism.option]] entries; this mechanism has a single mode",
            )
        out["mode"] = _mode_rule(ck, raw["mode"], [*path, "mode"])
    return out


def _mode_rule(ck: Checker, raw: Any, path: list[str | int]) -> list[dict[str, Any]]:
    """`[{ if = COND or [COND, …], then = OPTION }, …, { else = OPTION }]`, COND = `{ field, op, value }`."""
    example = (
        'e.g. mode = [{ if = { field = "appraisal", op = ">=", value = 50 }, then = "agreement" }, '
        '{ else = "english" }]'
    )
    if not isinstance(raw, list) or not raw:
        raise ck.fail(path, f"must be a non-empty list of clauses, {example}")
    out: list[dict[str, Any]] = []
    for k, clause in enumerate(raw):
        cp = [*path, k]
        if not isinstance(clause, dict):
            raise ck.fail(
                cp, f"must be a clause table {{ if = …, then = … }} or {{ else = … }}, not {kind_text(clause)}"
            )
        if "else" in clause:
            if "if" in clause or "then" in clause:
                raise ck.fail([*cp, "else"], "a clause is either { if = …, then = … } or { else = … }, not both")
            ck.table(clause, cp, ["else"])
            if k != len(raw) - 1:
                raise ck.fail(cp, "the else clause must be the last one (the clauses after it could never apply)")
            out.append({"else": ck.value(clause, cp, "else", (str,), required=True)})
            continue
        ck.table(clause, cp, ["if", "then"])
        if "if" not in clause:
            raise ck.fail(cp, "a clause needs `if` (a condition or a list of them) and `then`, or is { else = … }")
        conds = clause["if"]
        if isinstance(conds, str):
            m = re.fullmatch(
                r"\s*([a-z_]+)\s*(<=|>=|<|>)\s*([-+]?[0-9][0-9_]*(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?)\s*", conds
            )
            table = (
                f'{{ field = "{m.group(1)}", op = "{m.group(2)}", value = {m.group(3)} }}'
                if m
                else '{ field = "appraisal", op = ">=", value = 50 }'
            )
            raise ck.fail(
                [*cp, "if"], f"conditions are tables, not text (nothing is evaluated): write {conds!r} as {table}"
            )
        many = isinstance(conds, list)
        if isinstance(conds, dict):
            conds = [conds]
        if not isinstance(conds, list) or not conds:
            raise ck.fail(
                [*cp, "if"],
                "must be a condition table { field, op, value } or a non-empty list of them (all must hold)",
            )
        tests = []
        for c, cond in enumerate(conds):
            cpath = [*cp, "if", c] if many else [*cp, "if"]
            if not isinstance(cond, dict):
                raise ck.fail(cpath, f"must be a condition table {{ field, op, value }}, not {kind_text(cond)}")
            ck.table(cond, cpath, ["field", "op", "value"])
            tests.append(
                {
                    "field": ck.value(cond, cpath, "field", (str,), required=True, choices=list(FIELDS)),
                    "op": ck.value(cond, cpath, "op", (str,), required=True, choices=list(OPS)),
                    "value": ck.value(cond, cpath, "value", (float,), required=True),
                }
            )
        # kept in the file's shape (one table, or a list), so --set paths are the file's paths
        out.append({"if": tests if many else tests[0], "then": ck.value(clause, cp, "then", (str,), required=True)})
    if "else" not in out[-1]:
        raise ck.fail([*path, len(raw) - 1], "the last clause must be { else = … }, so that every lot gets an option")
    return out


_OPTION_KEYS = ["mode", "params", "seller", "negotiation", "strategy", "submarket", "lot_scale", "arrival_window_ms"]


def mechanism_table(ck: Checker, raw: Any, path: list[str | int], scenario: dict[str, Any]) -> dict[str, Any]:
    mech = ck.table(raw, path, ["name", "option", *_OPTION_KEYS])
    name = ck.value(mech, path, "name", (str,), required=True)
    has_options = "option" in mech
    policy = _seller_policy(ck, mech.get("seller"), [*path, "seller"], has_options)
    ruled = policy is not None and policy["mode"] is not None
    if has_options:
        for key in _OPTION_KEYS:
            if key in mech and key != "seller":
                raise ck.fail([*path, key], "a mechanism with [[mechanism.option]] sets this inside each option")
        raw_options = mech["option"]
        if not isinstance(raw_options, list) or not raw_options:
            raise ck.fail([*path, "option"], "must be an array of tables ([[mechanism.option]])")
        share = "ruled" if ruled else "share"
        options = [_option(ck, o, [*path, "option", i], scenario, share=share) for i, o in enumerate(raw_options)]
        labels = [o["name"] for o in options if "name" in o]
        for i, o in enumerate(options):
            if "name" in o and labels.count(o["name"]) > 1:
                raise ck.fail([*path, "option", i, "name"], f"two options are named {o['name']!r}")
        if not ruled:
            total = sum(o["share"] for o in options)
            if total <= 0:
                raise ck.fail([*path, "option"], "the options' shares must add up to a positive number")
            for o in options:
                o["share"] /= total
    else:
        options = [_option(ck, mech, path, scenario, share=False)]
    out: dict[str, Any] = {"name": name, "options": options}
    if policy is not None:
        if ruled:
            for k, clause in enumerate(policy["mode"]):
                key = "else" if "else" in clause else "then"
                try:
                    resolve_target(options, clause[key])
                except ValueError as exc:
                    raise ck.fail([*path, "seller", "mode", k, key], str(exc)) from None
            for i, o in enumerate(options):
                if o["lot_scale"] is not None:
                    raise ck.fail(
                        [*path, "option", i, "lot_scale"],
                        "a mode rule chooses the option from the lot's appraisal and scale, so the lot's "
                        "scale is drawn before the choice: set values.lot_scale, not an option's",
                    )
        out["seller"] = policy
    return out


def _option(
    ck: Checker, raw: Any, path: list[str | int], scenario: dict[str, Any], share: bool | str
) -> dict[str, Any]:
    """One option; `share`: False (a single-mode mechanism), "share" (drawn by share) or "ruled" (by a mode rule)."""
    keys = [*_OPTION_KEYS, *(["share", "name"] if share == "share" else ["name"] if share else ["name", "option"])]
    if share == "ruled" and isinstance(raw, dict) and "share" in raw:
        raise ck.fail([*path, "share"], "not used: the mechanism's seller.mode rule chooses the option (remove it)")
    opt = ck.table(raw, path, keys)
    mode = ck.value(opt, path, "mode", (str,), required=True, choices=sorted(MODES))
    params = engine_params(ck, ck.value(opt, path, "params", (dict,), {}), [*path, "params"], mode)
    seller = _seller(ck, opt.get("seller"), [*path, "seller"], policy=not share)
    out: dict[str, Any] = {
        "share": (
            ck.value(opt, path, "share", (float,), required=True, minimum=0)
            if share == "share"
            else None
            if share
            else 1.0
        ),
        "mode": mode,
        "params": params,
        "seller": seller,
        "negotiation": None,
        "strategy": strategy_mix(ck, opt.get("strategy"), [*path, "strategy"], scenario["values"]),
        "submarket": ck.value(opt, path, "submarket", (str,), None),
        "lot_scale": None,
        "arrival_window_ms": ck.value(opt, path, "arrival_window_ms", (int,), None, minimum=1),
    }
    if share and "name" in opt:  # an option's name (what a mode rule's clauses may pick); kept only when given
        out["name"] = ck.value(opt, path, "name", (str,))
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.\-]*", out["name"]):
            raise ck.fail([*path, "name"], f"must be letters, digits, '.', '_' or '-': {out['name']!r}")
    if out["submarket"] is not None and out["submarket"] not in {s["name"] for s in scenario["submarkets"]}:
        raise ck.fail([*path, "submarket"], f"there is no [[submarket]] named {out['submarket']!r}")
    if opt.get("lot_scale") is not None:
        out["lot_scale"] = ck.dist(opt["lot_scale"], [*path, "lot_scale"])
    # Which amounts the seller rules may set, per mode; a rule and an explicit parameter conflict.
    for key in seller:
        target = {"reserve": "reserve", "start": "start_price", "list_price": "list_price"}[key]
        if mode not in _RULE_MODES[key]:
            only = ", ".join(_RULE_MODES[key])
            raise ck.fail([*path, "seller", key], f"does not apply to a {mode} lot (only {only})")
        if target in params:
            raise ck.fail([*path, "params", target], f"set either params.{target} or seller.{key}, not both")
    if mode == "english" and "increment" not in params:
        raise ck.fail([*path, "params"], "an english mechanism needs params.increment (value units)")
    if mode == "dutch":
        for key in ("step",):
            if key not in params:
                raise ck.fail([*path, "params"], f"a dutch mechanism needs params.{key} (value units)")
        if "start_price" not in params and not math.isfinite(make_dist(scenario["values"]["bidder"]).hi):
            raise ck.fail([*path, "params"], "a dutch mechanism over unbounded values needs params.start_price")
    if mode == "sealed" and "price_rule" not in params:
        raise ck.fail([*path, "params"], "a sealed mechanism needs params.price_rule = 'first' or 'second'")
    if mode == "listing" and "list_price" not in params and "list_price" not in seller:
        raise ck.fail([*path], "a listing mechanism needs params.list_price or seller.list_price")
    if mode == "agreement":
        for key in ("price", "buyer"):
            if key in params:
                raise ck.fail([*path, "params", key], "is set by the negotiation model, not the scenario")
        neg = ck.table(
            opt.get("negotiation", {}), [*path, "negotiation"], ["model", "params", "counterpart", "duration_ms"]
        )
        npath = [*path, "negotiation"]
        model = ck.value(neg, npath, "model", (str,), "nash", choices=sorted(MODELS))
        cls = MODELS[model]
        nparams = ck.value(neg, npath, "params", (dict,), {})
        ck.table(nparams, [*npath, "params"], cls.params)
        clean = {
            k: ck.value(nparams, [*npath, "params"], k, (kind,), default) for k, (kind, default) in cls.params.items()
        }
        for key in ("power", "k", "delta_buyer", "delta_seller"):
            if key in clean and not 0 <= clean[key] <= 1:
                raise ck.fail([*npath, "params", key], "must be between 0 and 1")
        if model == "alternating" and clean["first"] not in ("seller", "buyer"):
            raise ck.fail([*npath, "params", "first"], "must be 'seller' or 'buyer'")
        if model == "alternating" and clean["delta_buyer"] * clean["delta_seller"] >= 1:
            raise ck.fail([*npath, "params"], "delta_buyer × delta_seller must be below 1")
        if model == "k_double":
            if clean["offers"] not in ("linear", "truthful"):
                raise ck.fail([*npath, "params", "offers"], "must be 'linear' or 'truthful'")
            b, s = scenario["values"]["bidder"], scenario["values"]["seller"]
            if clean["offers"] == "linear" and not (
                b["dist"] == "uniform" and s["dist"] == "uniform" and (b["low"], b["high"]) == (s["low"], s["high"])
            ):
                raise ck.fail(
                    [*npath, "params", "offers"],
                    "the linear equilibrium needs buyer and seller values "
                    "uniform on the same interval (use offers = 'truthful')",
                )
        out["negotiation"] = {
            "model": model,
            "params": clean,
            "counterpart": ck.value(neg, npath, "counterpart", (str,), "first", choices=("first", "best")),
            "duration_ms": ck.value(neg, npath, "duration_ms", (int,), 7 * 86_400_000, minimum=0),
        }
    elif "negotiation" in opt:
        raise ck.fail([*path, "negotiation"], "only for mode = 'agreement'")
    # Dry-run the engine's own parameter checks on a typical lot (scale 1, seller value 0).
    from .mechanism import lot_terms  # local: mechanism imports this module's constants

    try:
        lot_terms(out, scenario, lot_scale=1.0, seller_value=0.0, appraisal=1.0, n_hint=1)
    except Rejected as rej:
        raise ck.fail([*path, "params"], rej.message) from None
    except ValueError as exc:
        raise ck.fail([*path], str(exc)) from None
    return out


_RULE_MODES = {
    "reserve": ("english", "sealed", "dutch"),
    "start": ("english",),
    "list_price": ("listing",),
}
