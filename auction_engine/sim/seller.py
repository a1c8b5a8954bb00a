"""Seller rules: how a seller chooses a lot's pricing mode, and the noise on its price rules.

Why: "sellers choose mode, list price and reserve by rule" must stay data, never code. A
mechanism's `seller` table names the seller's rule (`name`, `version`) and may hold a **mode
rule**: an ordered list of clauses, each a structured test on facts the seller knows about its
lot, ending in an `else` clause::

    mode = [
      { if = { field = "appraisal_yuan", op = ">=", value = 170_000 }, then = "agreement" },
      { if = [{ field = "appraisal", op = ">=", value = 2 }, { field = "seller_value", op = "<", value = 1 }],
        then = "listing" },
      { else = "english" },
    ]

The first clause whose conditions all hold picks the option (`then`: an option's `name`, or its
mode when only one option has it). Conditions compare one fact with one number by one of four
operators; nothing is parsed or evaluated as an expression. The facts (FIELDS) are in the lot's
money terms — its appraisal as the ledger records it, its seller value and its scale — drawn
from the run's common random numbers, so a rule needs no randomness of its own and every
mechanism sees the same lots.

The price rules (`reserve`, `start`, `list_price` of an option's `seller` table; mechanism.py
applies them) may carry `noise` = σ: the amount is multiplied by exp(σz − σ²/2) with z standard
normal (mean one, like the appraisal's noise), z drawn per lot from the population's `seller`
stream (values.py): the same lot gets the same noise under every mechanism.

`label` is the compact text recorded as the `seller_rule` field of a lot's `open_lot` entry
(``by-size@1 option=listing if=appraisal_yuan<60000 list_price=appraisal*1~0.1``), `describe`
the structured form recorded in manifest.json. scenario_mechanisms.py validates the seller tables.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .values import norm_ppf

__all__ = [
    "FIELDS",
    "NOISE_COLUMNS",
    "OPS",
    "PRICE_RULES",
    "Clause",
    "choose",
    "compile_mode_rule",
    "describe",
    "label",
    "noise_factor",
    "option_label",
    "resolve_target",
]

FIELDS: dict[str, str] = {
    "appraisal": "the lot's appraisal in value units (as recorded in the ledger: its fen ÷ the scenario scale)",
    "appraisal_yuan": "the lot's appraisal in yuan (as recorded in the ledger: its fen ÷ 100)",
    "seller_value": "the seller's own value of the lot in value units (its normalised value × the lot scale)",
    "lot_scale": "the lot's scale (values.lot_scale)",
}
"""The facts a mode rule may test, all known to the seller before it lists the lot."""

OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}

PRICE_RULES: dict[str, tuple[str, ...]] = {
    "reserve": ("none", "fixed", "optimal", "seller_value", "appraisal"),
    "start": ("fixed", "reserve", "appraisal"),
    "list_price": ("fixed", "appraisal", "optimal", "seller_value"),
}
"""Each price rule of an option's `seller` table and the rules it may follow."""

NOISE_COLUMNS: dict[str, int] = {"reserve": 0, "start": 1, "list_price": 2}
"""Which column of the population's per-lot seller uniforms (`Population.u_seller`) each rule's noise uses."""


def noise_factor(sigma: float, u: float) -> float:
    """The mean-one lognormal factor exp(σz − σ²/2), z = Φ⁻¹(u)."""
    if sigma <= 0:
        return 1.0
    z = float(norm_ppf(np.array([min(max(u, 1e-12), 1 - 1e-12)]))[0])
    return math.exp(sigma * z - sigma * sigma / 2)


# -- options and the mode rule --------------------------------------------------------------------


def option_label(options: Sequence[Mapping[str, Any]], index: int) -> str:
    """An option's readable name: its `name`, else its mode (with #index when several share the mode)."""
    o = options[index]
    if o.get("name"):
        return str(o["name"])
    if sum(1 for x in options if x["mode"] == o["mode"]) > 1:
        return f"{o['mode']}#{index}"
    return str(o["mode"])


def resolve_target(options: Sequence[Mapping[str, Any]], target: str) -> int:
    """The index of the option a clause names (an option's name, or a mode only one option has); ValueError if none."""
    for i, o in enumerate(options):
        if o.get("name") == target:
            return i
    same = [i for i, o in enumerate(options) if o["mode"] == target]
    if len(same) == 1:
        return same[0]
    if len(same) > 1:
        raise ValueError(f'{len(same)} options have mode {target!r}: give each a name (name = "…") and use it')
    known = ", ".join(repr(option_label(options, i)) for i in range(len(options)))
    raise ValueError(f"no option named {target!r} and none of that mode (options: {known})")


def _number(x: float) -> str:
    return f"{x:.12g}"


def condition_text(cond: Mapping[str, Any]) -> str:
    return f"{cond['field']}{cond['op']}{_number(float(cond['value']))}"


def conditions(clause: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """A clause's conditions as a list (`if` is one condition table or a list of them)."""
    conds = clause["if"]
    return [conds] if isinstance(conds, Mapping) else list(conds)


def clause_text(clause: Mapping[str, Any]) -> str:
    """``else``, or the conditions joined by ``&``: ``appraisal_yuan>=170000&seller_value<2``."""
    if "else" in clause:
        return "else"
    return "&".join(condition_text(c) for c in conditions(clause))


@dataclass(frozen=True)
class Clause:
    """A compiled clause: (field, test, threshold) triples that must all hold, and the option it picks."""

    tests: tuple[tuple[str, Callable[[float, float], bool], float], ...]
    index: int
    text: str


def compile_mode_rule(rule: Sequence[Mapping[str, Any]], options: Sequence[Mapping[str, Any]]) -> list[Clause]:
    """A validated mode rule (scenario data) as clauses with their options resolved."""
    out = []
    for clause in rule:
        if "else" in clause:
            out.append(Clause((), resolve_target(options, clause["else"]), "else"))
        else:
            tests = tuple((c["field"], OPS[c["op"]], float(c["value"])) for c in conditions(clause))
            out.append(Clause(tests, resolve_target(options, clause["then"]), clause_text(clause)))
    return out


def choose(clauses: Sequence[Clause], facts: Mapping[str, float]) -> tuple[int, str]:
    """The option the first matching clause picks, and that clause's text (the rule ends with `else`)."""
    for clause in clauses:
        if all(test(facts[field], value) for field, test, value in clause.tests):
            return clause.index, clause.text
    raise ValueError("the mode rule has no else clause")  # validation makes this unreachable


# -- records --------------------------------------------------------------------------------------


def rule_text(rule: Mapping[str, Any]) -> str:
    """A price rule in a few characters: ``optimal``, ``appraisal*0.7``, ``0.5`` (fixed), ``~σ`` for noise."""
    kind = rule["rule"]
    if kind == "fixed":
        text = _number(float(rule["value"]))
    elif kind in ("appraisal", "seller_value"):
        text = f"{kind}*{_number(float(rule['factor']))}"
    else:
        text = kind
    if rule.get("noise"):
        text += f"~{_number(float(rule['noise']))}"
    return text


def label(policy: Mapping[str, Any], options: Sequence[Mapping[str, Any]], index: int, choice: str | None) -> str:
    """The `seller_rule` text of one lot's `open_lot` entry: name@version, the choice and the option's price rules."""
    parts = [f"{policy['name']}@{policy['version']}"]
    if len(options) > 1:
        parts.append(f"option={option_label(options, index)}")
    if choice is not None:
        parts.append(f"if={choice}")
    rules = options[index]["seller"]
    parts += [f"{key}={rule_text(rules[key])}" for key in PRICE_RULES if key in rules]
    return " ".join(parts)


def describe(mechanism: Mapping[str, Any]) -> dict[str, Any]:
    """A mechanism's seller rule as manifest.json records it: name, version, how the option is chosen, price rules."""
    policy = mechanism.get("seller") or {}
    options = mechanism["options"]
    rule = policy.get("mode")
    if rule:
        how = "rule"
    elif len(options) > 1:
        how = "shares"
    else:
        how = "single"
    return {
        "name": policy.get("name"),
        "version": policy.get("version"),
        "choice": how,
        "mode": rule,
        "options": [
            {"option": option_label(options, i), "mode": o["mode"], "share": o.get("share"), "seller": o["seller"]}
            for i, o in enumerate(options)
        ],
    }
