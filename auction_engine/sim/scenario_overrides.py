"""A scenario's TOML form and `--set PATH=VALUES` overrides: parsing them and setting a dotted path."""

from __future__ import annotations

import copy
import tomllib
from typing import Any

from .scenario_check import ScenarioError


def to_raw(data: dict[str, Any]) -> dict[str, Any]:
    """The TOML-shaped form of normalised data (so overrides use the same paths as the file)."""
    raw = copy.deepcopy(data)
    raw["submarket"] = raw.pop("submarkets")
    mechs = []
    for m in raw.pop("mechanisms"):
        policy = {k: v for k, v in (m.get("seller") or {}).items() if v is not None}
        if len(m["options"]) == 1 and m["options"][0]["share"] == 1.0 and "name" not in m["options"][0]:
            (o,) = m["options"]
            mech = {"name": m["name"], **{k: v for k, v in o.items() if k != "share" and v is not None}}
            if policy:
                mech["seller"] = {**policy, **mech.get("seller", {})}
        else:
            mech = {"name": m["name"], "option": [{k: v for k, v in o.items() if v is not None} for o in m["options"]]}
            if policy:
                mech["seller"] = policy
        for target in [mech, *mech.get("option", [])]:
            if target.get("negotiation") is None:
                target.pop("negotiation", None)
            if "strategy" in target:
                target["strategy"] = _raw_strategy(target["strategy"])
        mechs.append(mech)
    raw["mechanism"] = mechs
    raw["strategy"] = _raw_strategy(raw["strategy"])
    pop = raw["population"]
    arr = pop["arrival"]
    if arr["process"] == "scheduled":
        pop["lots"] = arr.pop("lots")
    b = pop["bidders"]
    pop["bidders"] = b["n"] if b["dist"] == "fixed" else b
    values = raw["values"]
    bidder = values.pop("bidder")
    values.update(bidder)
    if values.get("common") is None:
        values.pop("common", None)
    return raw


def _raw_strategy(mix: list[dict[str, Any]]) -> dict[str, Any]:
    if len(mix) == 1 and "bidders" not in mix[0]:
        return {k: v for k, v in mix[0].items() if k != "share"}
    return {"mix": [{k: v for k, v in m.items() if not (k == "share" and "bidders" in m)} for m in mix]}


def parse_set(item: str) -> tuple[str, list[Any]]:
    """`path=v1,v2,...` (values as TOML literals; bare words are strings) → (path, values)."""
    if "=" not in item:
        raise ScenarioError("", f"--set {item!r}: expected PATH=V1,V2,...")
    path, _, rest = item.partition("=")
    path = path.strip()
    if not path:
        raise ScenarioError("", f"--set {item!r}: the path is empty")
    values = []
    for text in _split_values(rest):
        try:
            values.append(tomllib.loads(f"v = {text}")["v"])
        except tomllib.TOMLDecodeError:
            values.append(text.strip())
    if not values:
        raise ScenarioError("", f"--set {item!r}: no values")
    return path, values


def _split_values(text: str) -> list[str]:
    """Split on commas outside brackets/braces/quotes."""
    parts, depth, quote, cur = [], 0, "", ""
    for ch in text:
        if quote:
            cur += ch
            if ch == quote:
                quote = ""
            continue
        if ch in "\"'":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(cur.strip())
            cur = ""
            continue
        cur += ch
    if cur.strip():
        parts.append(cur.strip())
    return parts


def set_path(node: Any, parts: list[str], value: Any) -> None:
    head, rest = parts[0], parts[1:]
    if isinstance(node, list):
        if head == "*":
            for item in node:
                set_path(item, rest, value) if rest else None
            return
        if head.isdigit() and int(head) < len(node):
            target = int(head)
            if not rest:
                node[target] = value
            else:
                set_path(node[target], rest, value)
            return
        raise KeyError(f"no element {head!r} in a list of {len(node)}")
    if not isinstance(node, dict):
        raise KeyError(f"cannot set {head!r} inside a value")
    if head == "mechanism" and rest:
        mechs = node.get("mechanism", [])
        sel = rest[0]
        chosen = [m for m in mechs if sel == "*" or m.get("name") == sel]
        if not chosen and sel.isdigit() and int(sel) < len(mechs):
            chosen = [mechs[int(sel)]]
        if not chosen:
            names = ", ".join(m.get("name", "?") for m in mechs)
            raise KeyError(f"no mechanism named {sel!r} (mechanisms: {names}; or use * for all)")
        if not rest[1:]:
            raise KeyError("name a key inside the mechanism")
        for mech in chosen:
            set_path(mech, rest[1:], value)
        return
    if not rest:
        node[head] = value
        return
    child = node.get(head)
    if child is None:
        child = node[head] = {}
    set_path(child, rest, value)
