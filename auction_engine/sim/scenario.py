"""Scenario files: TOML in, a validated and normalised plain dict out, with precise errors.

Why data, not code: a scenario is what a researcher publishes next to a result, so it must be
readable, diffable and hashable. `load` parses the TOML (stdlib `tomllib`), checks every key
(unknown keys, wrong types and impossible values are refused with the key path, the file and,
where it can be found, the line: ``scenarios/x.toml:14: mechanism[1].params.incremnt: unknown
key (known: ...)``), fills every default, embeds empirical CSV data, and returns a `Scenario`
whose `data` is a plain JSON-able dict. That dict — not the file — is what runs get, what the
manifest records and what the run-spec hash covers, so a result never depends on a file that
changed after the run.

The reference of every table and key is in docs/researcher.md ("Scenario reference"); the
checks below are its executable form. Sweeps apply `--set path=value` overrides to the parsed
TOML and validate again, so an override is checked exactly like the file.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import hashlib
import json
import math
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..model import Rejected
from ..params import SettlementParams, field_names
from ..rules import MODES
from ..rules.base import lot_kind
from .negotiation import MODELS
from .seller import FIELDS, OPS, PRICE_RULES, resolve_target
from .strategies import STRATEGIES
from .values import DIST_KEYS, Dist, make_dist, read_empirical

__all__ = [
    "MONEY_KEYS",
    "Scenario",
    "ScenarioError",
    "apply_overrides",
    "canonical_json",
    "load",
    "loads",
    "parse_set",
]

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

DEFAULT_START = "2021-01-04T09:00:00+08:00"  # a Monday morning in Hangzhou
_SETTLEMENT_KEYS = field_names(SettlementParams)
_TOP = {
    "scenario",
    "experiment",
    "sweep",
    "market",
    "submarket",
    "population",
    "values",
    "strategy",
    "settlement",
    "behaviour",
    "mechanism",
}


class ScenarioError(ValueError):
    """A scenario is invalid: `path` is the key path, `file`/`line` where it is (when known)."""

    def __init__(self, path: str, message: str, file: str | None = None, line: int | None = None) -> None:
        self.path, self.message, self.file, self.line = path, message, file, line
        where = f"{file}:{line}: " if file and line else (f"{file}: " if file else "")
        super().__init__(f"{where}{path + ': ' if path else ''}{message}")


def canonical_json(data: Any) -> str:
    """Sorted-key compact JSON: the form that is hashed."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


# -- locating a key path in the TOML text -----------------------------------------------------------

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_.\-\"' ]+?)\s*=")


def _split_key(key: str) -> list[str]:
    return [part.strip().strip("\"'") for part in key.split(".")]


def _locate(text: str, path: list[str | int]) -> int | None:
    """The 1-based line that defines `path` (or its nearest ancestor), found by a light TOML scan.

    Inline values (`params = { a = 1 }`, and arrays of inline tables spread over several lines, as
    a mode rule is) are walked too, so a key inside them is found on its own line.
    """
    counters: dict[tuple[str, ...], int] = {}
    table: list[str | int] = []
    found: dict[tuple[str | int, ...], int] = {}
    lines = text.splitlines()
    skip_to = 0
    for lineno, line in enumerate(lines, start=1):
        if lineno <= skip_to:
            continue
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        header = _HEADER.match(line)
        if header and stripped.startswith("["):
            names = _split_key(header.group(2))
            if header.group(1) == "[[":
                key = tuple(names)
                counters[key] = counters.get(key, -1) + 1
                for nested in [k for k in counters if len(k) > len(key) and k[: len(key)] == key]:
                    del counters[nested]  # a new [[mechanism]] numbers its [[mechanism.option]] from 0 again
                table = [*names[:-1], names[-1], counters[key]]
                # arrays of tables nested under an array element: resolve earlier components
                if len(names) > 1:
                    parent = tuple(names[:-1])
                    if parent in counters:
                        table = [*names[:-1], counters[parent], names[-1], counters[key]]
            else:
                table = list(names)
                if len(names) > 1 and tuple(names[:1]) in counters:
                    table = [names[0], counters[(names[0],)], *names[1:]]
            found.setdefault(tuple(table), lineno)
            continue
        m = _KEY.match(line)
        if m:
            full = tuple(table + _split_key(m.group(1)))
            found.setdefault(full, lineno)
            # keys inside an inline table on this line: `params = { a = 1, b = 2 }`
            for inner in re.finditer(r"[{,]\s*([A-Za-z0-9_\-]+)\s*=", line):
                found.setdefault((*full, inner.group(1)), lineno)
            rest = line[m.end() :].lstrip()
            if rest[:1] in ("[", "{"):
                with contextlib.suppress(IndexError, ValueError):  # a value this scan cannot follow: keep what it has
                    skip_to = _walk_value(lines, lineno - 1, len(line) - len(rest), full, found)
    for end in range(len(path), 0, -1):
        hit = found.get(tuple(path[:end]))
        if hit is not None:
            return hit
    return None


def _walk_value(
    lines: list[str], row: int, col: int, path: tuple[str | int, ...], found: dict[tuple[str | int, ...], int]
) -> int:
    """Record the line of every key and element of the inline value at lines[row][col]; return its last line."""

    def skip(r: int, c: int) -> tuple[int, int]:  # past blanks, newlines and comments
        while True:
            if r >= len(lines):
                raise ValueError("unterminated value")
            text = lines[r]
            while c < len(text) and text[c] in " \t":
                c += 1
            if c >= len(text) or text[c] == "#":
                r, c = r + 1, 0
                continue
            return r, c

    def value(r: int, c: int, here: tuple[str | int, ...]) -> tuple[int, int]:
        r, c = skip(r, c)
        found.setdefault(here, r + 1)
        ch = lines[r][c]
        if ch == "[":
            r, c, k = r, c + 1, 0
            while True:
                r, c = skip(r, c)
                if lines[r][c] == "]":
                    return r, c + 1
                r, c = value(r, c, (*here, k))
                k += 1
                r, c = skip(r, c)
                if lines[r][c] == ",":
                    c += 1
        if ch == "{":
            r, c = r, c + 1
            while True:
                r, c = skip(r, c)
                if lines[r][c] == "}":
                    return r, c + 1
                m = re.compile(r"([A-Za-z0-9_\-]+|\"[^\"]*\"|'[^']*')\s*=").match(lines[r], c)
                if m is None:
                    raise ValueError("not a key")
                r, c = value(r, m.end(), (*here, m.group(1).strip("\"'")))
                r, c = skip(r, c)
                if lines[r][c] == ",":
                    c += 1
        if ch in "\"'":
            end = lines[r].index(ch, c + 1)
            while ch == '"' and lines[r][end - 1] == "\\":  # an escaped quote
                end = lines[r].index(ch, end + 1)
            return r, end + 1
        m = re.compile(r"[^,\]}\s#]+").match(lines[r], c)  # a number, boolean or date
        if m is None:
            raise ValueError("not a value")
        return r, m.end()

    end_row, _ = value(row, col, path)
    return end_row + 1


def _path_text(path: list[str | int]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out


# -- the checker ------------------------------------------------------------------------------------


class _Checker:
    """Walks the parsed TOML, raising ScenarioError with the key path, file and line."""

    def __init__(self, text: str, file: str | None, base: Path | None) -> None:
        self.text, self.file, self.base = text, file, base

    def fail(self, path: list[str | int], message: str) -> ScenarioError:
        line = _locate(self.text, path) if self.text else None
        return ScenarioError(_path_text(path), message, self.file, line)

    def table(self, raw: Any, path: list[str | int], known: Iterable[str]) -> dict[str, Any]:
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            raise self.fail(path, f"must be a table, not {_kind(raw)}")
        known = set(known)
        for key in raw:
            if key not in known:
                raise self.fail([*path, key], f"unknown key {key!r} (known: {', '.join(sorted(known))})")
        return raw

    def value(
        self,
        raw: Mapping[str, Any],
        path: list[str | int],
        key: str,
        kinds: tuple[type, ...],
        default: Any = None,
        required: bool = False,
        choices: Iterable[Any] | None = None,
        minimum: float | None = None,
        maximum: float | None = None,
        exclusive_min: bool = False,
    ) -> Any:
        here = [*path, key]
        if key not in raw:
            if required:
                raise self.fail(path, f"the key {key!r} is required")
            return default
        value = raw[key]
        ok = any(type(value) is k or (k is float and type(value) is int) for k in kinds)
        if not ok:
            names = " or ".join("number" if k is float else _TYPE_NAMES.get(k, k.__name__) for k in kinds)
            raise self.fail(here, f"must be {names}, not {_kind(value)} {value!r}")
        if float in kinds and type(value) is int and int not in kinds:
            value = float(value)
        if type(value) is float and not math.isfinite(value):
            raise self.fail(here, f"must be a finite number, not {value!r}")
        if choices is not None and value not in choices:
            raise self.fail(here, f"must be one of {', '.join(repr(c) for c in choices)}, not {value!r}")
        if (
            minimum is not None
            and type(value) in (int, float)
            and (value < minimum or (exclusive_min and value == minimum))
        ):
            raise self.fail(here, f"must be {'>' if exclusive_min else '≥'} {minimum}, not {value!r}")
        if maximum is not None and type(value) in (int, float) and value > maximum:
            raise self.fail(here, f"must be ≤ {maximum}, not {value!r}")
        return value

    # -- distributions ---------------------------------------------------------------------------

    def dist(self, raw: Any, path: list[str | int], default: dict[str, Any] | None = None) -> dict[str, Any]:
        """A distribution table {dist = name, ...}, or a bare number (a point mass)."""
        if raw is None:
            if default is None:
                raise self.fail(path, "a distribution is required")
            return default
        if type(raw) in (int, float):
            return {"dist": "point", "value": float(raw)}
        if not isinstance(raw, dict):
            raise self.fail(path, f"must be a number or a distribution table, not {_kind(raw)}")
        kind = self.value(raw, path, "dist", (str,), required=True, choices=sorted(DIST_KEYS))
        known = DIST_KEYS[kind]
        self.table(raw, path, ["dist", *known])
        out: dict[str, Any] = {"dist": kind}
        for key, kinds in known.items():
            if key in raw and key not in ("data", "source", "n"):
                out[key] = self.value(raw, path, key, kinds)
        if kind == "uniform":
            out.setdefault("low", 0.0)
            out.setdefault("high", 1.0)
            if not out["high"] > out["low"]:
                raise self.fail([*path, "high"], f"must be greater than low ({out['low']})")
        elif kind == "exponential":
            out.setdefault("mean", 1.0)
            out.setdefault("shift", 0.0)
            if out["mean"] <= 0:
                raise self.fail([*path, "mean"], "must be positive")
        elif kind == "lognormal":
            given = [k for k in ("mu", "median", "mean") if k in out]
            if len(given) > 1:
                raise self.fail([*path, given[1]], f"give one of mu, median or mean, not {given[0]} and {given[1]}")
            out.setdefault("sigma", 1.0)
            if out["sigma"] <= 0:
                raise self.fail([*path, "sigma"], "must be positive")
            for k in ("median", "mean"):
                if k in out and out[k] <= 0:
                    raise self.fail([*path, k], "must be positive")
            if not given:
                out["mu"] = 0.0
        elif kind == "beta":
            for k in ("a", "b"):
                out.setdefault(k, 2.0)
                if out[k] <= 0:
                    raise self.fail([*path, k], "must be positive")
            out.setdefault("low", 0.0)
            out.setdefault("high", 1.0)
            if not out["high"] > out["low"]:
                raise self.fail([*path, "high"], f"must be greater than low ({out['low']})")
        elif kind == "empirical":
            if "data" in raw:  # already normalised (a scenario dict passed back in)
                data = raw["data"]
                if not isinstance(data, list) or len(data) < 2 or not all(type(x) in (int, float) for x in data):
                    raise self.fail([*path, "data"], "must be a list of at least two numbers")
                out["data"] = [float(x) for x in data]
                out["source"] = str(raw.get("source", ""))
            else:
                file = self.value(raw, path, "file", (str,), required=True)
                column = self.value(raw, path, "column", (str,))
                where = Path(file)
                if not where.is_absolute() and self.base is not None:
                    where = self.base / where
                try:
                    data = read_empirical(where, column)
                except OSError as exc:
                    raise self.fail([*path, "file"], f"cannot read {str(where)!r}: {exc.strerror or exc}") from None
                except ValueError as exc:
                    raise self.fail([*path, "file"], str(exc)) from None
                out = {"dist": "empirical", "source": f"{file}{'#' + column if column else ''}", "data": data}
            out.pop("file", None)
            out.pop("column", None)
        elif kind == "point":
            out.setdefault("value", 0.0)
        return out


_TYPE_NAMES = {str: "a string", int: "an integer", bool: "true or false", list: "a list", dict: "a table"}


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__


def _to_ms(value: Any) -> int:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone(dt.timedelta(hours=8)))
        return int(value.timestamp() * 1000)
    if isinstance(value, dt.date):
        return _to_ms(dt.datetime(value.year, value.month, value.day, 9, tzinfo=dt.timezone(dt.timedelta(hours=8))))
    return int(value)


# -- normalisation ----------------------------------------------------------------------------------

_SELLER_RULES = PRICE_RULES
_POLICY_KEYS = ("name", "version", "mode")


def _normalise(raw: dict[str, Any], ck: _Checker) -> dict[str, Any]:
    ck.table(raw, [], _TOP)
    out: dict[str, Any] = {}

    sc = ck.table(raw.get("scenario"), ["scenario"], ["name", "description", "scale", "start", "market"])
    if "scenario" not in raw:
        raise ck.fail([], "the table [scenario] (with at least `name`) is required")
    name = ck.value(sc, ["scenario"], "name", (str,), required=True)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.\-]*", name):
        raise ck.fail(["scenario", "name"], f"must be letters, digits, '.', '_' or '-' (it names the ledger): {name!r}")
    start = sc.get("start", DEFAULT_START)
    if isinstance(start, str):
        try:
            start = dt.datetime.fromisoformat(start)
        except ValueError:
            raise ck.fail(["scenario", "start"], f"must be a date-time like {DEFAULT_START!r}, not {start!r}") from None
    if not isinstance(start, (dt.datetime, dt.date, int)) or isinstance(start, bool):
        raise ck.fail(["scenario", "start"], "must be a date-time or integer milliseconds since the epoch")
    out["scenario"] = {
        "name": name,
        "description": ck.value(sc, ["scenario"], "description", (str,), ""),
        "scale": ck.value(sc, ["scenario"], "scale", (int,), 1_000_000, minimum=1),
        "start": _to_ms(start),
        "market": ck.value(sc, ["scenario"], "market", (str,), f"sim.{name}"),
    }
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.\-]*", out["scenario"]["market"]):
        raise ck.fail(["scenario", "market"], "must be letters, digits, '.', '_' or '-' (a ledger origin)")

    ex = ck.table(raw.get("experiment"), ["experiment"], ["runs", "seed", "crn", "horizon_days", "ledger"])
    out["experiment"] = {
        "runs": ck.value(ex, ["experiment"], "runs", (int,), 10, minimum=1),
        "seed": ck.value(ex, ["experiment"], "seed", (int,), 0, minimum=0),
        "crn": ck.value(ex, ["experiment"], "crn", (str,), "cell", choices=("cell", "sweep")),
        "horizon_days": ck.value(ex, ["experiment"], "horizon_days", (float,), 3650.0, minimum=0, exclusive_min=True),
        "ledger": ck.value(ex, ["experiment"], "ledger", (str,), "first", choices=("first", "all", "none")),
    }

    sw = raw.get("sweep") or {}
    if not isinstance(sw, dict):
        raise ck.fail(["sweep"], "must be a table of `path = [values]`")
    out["sweep"] = {}
    for key, values in sw.items():
        if not isinstance(values, list) or not values:
            raise ck.fail(["sweep", key], "must be a non-empty list of values")
        out["sweep"][key] = values

    mk = ck.table(raw.get("market"), ["market"], ["params"])
    market_params = ck.value(mk, ["market"], "params", (dict,), {})
    out["market"] = {"params": _engine_params(ck, market_params, ["market", "params"], None)}

    subs = raw.get("submarket") or []
    if not isinstance(subs, list):
        raise ck.fail(["submarket"], "must be an array of tables ([[submarket]])")
    out["submarkets"] = []
    for i, sub in enumerate(subs):
        path: list[str | int] = ["submarket", i]
        ck.table(sub, path, ["name", "title", "share", "params"])
        sname = ck.value(sub, path, "name", (str,), required=True)
        if sname == "main" or any(s["name"] == sname for s in out["submarkets"]):
            raise ck.fail([*path, "name"], f"sub-market {sname!r} is defined twice (or is the reserved 'main')")
        out["submarkets"].append(
            {
                "name": sname,
                "title": ck.value(sub, path, "title", (str,), sname),
                "share": ck.value(sub, path, "share", (float,), 0.0, minimum=0.0, maximum=1.0),
                "params": _engine_params(ck, ck.value(sub, path, "params", (dict,), {}), [*path, "params"], None),
            }
        )
    if sum(s["share"] for s in out["submarkets"]) > 1.0 + 1e-9:
        raise ck.fail(["submarket"], "the sub-markets' shares add up to more than 1")

    out["population"] = _population(ck, raw.get("population"))
    out["values"] = _values(ck, raw.get("values"))
    out["strategy"] = _strategy_mix(ck, raw.get("strategy", {"name": "bne"}), ["strategy"], out["values"])

    st = ck.table(
        raw.get("settlement"),
        ["settlement"],
        ["mode", "pay_probability", "pay_delay_working_days", "second_chance_accept"],
    )
    delay = st.get("pay_delay_working_days", [1, 5])
    if (
        not isinstance(delay, list)
        or len(delay) != 2
        or any(type(d) is not int or d < 0 for d in delay)
        or delay[0] > delay[1]
    ):
        raise ck.fail(["settlement", "pay_delay_working_days"], "must be [min, max] working days (integers, min ≤ max)")
    out["settlement"] = {
        "mode": ck.value(st, ["settlement"], "mode", (str,), "none", choices=("none", "pay")),
        "pay_probability": ck.value(st, ["settlement"], "pay_probability", (float,), 1.0, minimum=0, maximum=1),
        "pay_delay_working_days": delay,
        "second_chance_accept": ck.value(
            st, ["settlement"], "second_chance_accept", (float,), 1.0, minimum=0, maximum=1
        ),
    }

    bh = ck.table(
        raw.get("behaviour"),
        ["behaviour"],
        ["objection_probability", "objection_upheld", "operator_delay_ms", "relist_approval"],
    )
    out["behaviour"] = {
        "objection_probability": ck.value(
            bh, ["behaviour"], "objection_probability", (float,), 0.0, minimum=0, maximum=1
        ),
        "objection_upheld": ck.value(bh, ["behaviour"], "objection_upheld", (float,), 0.0, minimum=0, maximum=1),
        "operator_delay_ms": ck.value(bh, ["behaviour"], "operator_delay_ms", (int,), 86_400_000, minimum=1),
        "relist_approval": ck.value(bh, ["behaviour"], "relist_approval", (float,), 1.0, minimum=0, maximum=1),
    }

    mechs = raw.get("mechanism")
    if not isinstance(mechs, list) or not mechs:
        raise ck.fail(["mechanism"], "at least one [[mechanism]] is required")
    out["mechanisms"] = []
    for i, mech in enumerate(mechs):
        out["mechanisms"].append(_mechanism(ck, mech, ["mechanism", i], out))
    names = [m["name"] for m in out["mechanisms"]]
    for i, n in enumerate(names):
        if n in names[:i]:
            raise ck.fail(["mechanism", i, "name"], f"mechanism {n!r} is defined twice")
    return out


def _engine_params(ck: _Checker, params: dict[str, Any], path: list[str | int], mode: str | None) -> dict[str, Any]:
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


def _population(ck: _Checker, raw: Any) -> dict[str, Any]:
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


def _values(ck: _Checker, raw: Any) -> dict[str, Any]:
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


def _strategy_one(ck: _Checker, raw: Any, path: list[str | int], share: bool) -> dict[str, Any]:
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


def _strategy_mix(ck: _Checker, raw: Any, path: list[str | int], values: dict[str, Any]) -> list[dict[str, Any]] | None:
    if raw is None:
        return None
    if isinstance(raw, dict) and "mix" in raw:
        ck.table(raw, path, ["mix"])
        mix = raw["mix"]
        if not isinstance(mix, list) or not mix:
            raise ck.fail([*path, "mix"], "must be an array of tables ([[strategy.mix]]) with share, name, params")
        out = [_strategy_one(ck, m, [*path, "mix", i], share=True) for i, m in enumerate(mix)]
        total = sum(m["share"] for m in out if "bidders" not in m)
        if total <= 0:
            raise ck.fail([*path, "mix"], "the shares of the entries without `bidders` must add up to more than 0")
        for m in out:
            if "bidders" not in m:
                m["share"] = m["share"] / total
    else:
        out = [{"share": 1.0, **_strategy_one(ck, raw, path, share=False)}]
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


def _seller(ck: _Checker, raw: Any, path: list[str | int], policy: bool = False) -> dict[str, Any]:
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


def _seller_policy(ck: _Checker, raw: Any, path: list[str | int], options: bool) -> dict[str, Any] | None:
    """A mechanism's seller rule: `name`, `version` and, among [[mechanism.option]] entries, a `mode` rule.

    Returns None when the table names no rule (a seller table of price rules only, as before).
    """
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ck.fail(path, f"must be a table, not {_kind(raw)}")
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


def _mode_rule(ck: _Checker, raw: Any, path: list[str | int]) -> list[dict[str, Any]]:
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
            raise ck.fail(cp, f"must be a clause table {{ if = …, then = … }} or {{ else = … }}, not {_kind(clause)}")
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
                raise ck.fail(cpath, f"must be a condition table {{ field, op, value }}, not {_kind(cond)}")
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


def _mechanism(ck: _Checker, raw: Any, path: list[str | int], scenario: dict[str, Any]) -> dict[str, Any]:
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
    ck: _Checker, raw: Any, path: list[str | int], scenario: dict[str, Any], share: bool | str
) -> dict[str, Any]:
    """One option; `share`: False (a single-mode mechanism), "share" (drawn by share) or "ruled" (by a mode rule)."""
    keys = [*_OPTION_KEYS, *(["share", "name"] if share == "share" else ["name"] if share else ["name", "option"])]
    if share == "ruled" and isinstance(raw, dict) and "share" in raw:
        raise ck.fail([*path, "share"], "not used: the mechanism's seller.mode rule chooses the option (remove it)")
    opt = ck.table(raw, path, keys)
    mode = ck.value(opt, path, "mode", (str,), required=True, choices=sorted(MODES))
    params = _engine_params(ck, ck.value(opt, path, "params", (dict,), {}), [*path, "params"], mode)
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
        "strategy": _strategy_mix(ck, opt.get("strategy"), [*path, "strategy"], scenario["values"]),
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


# -- public API -------------------------------------------------------------------------------------


@dataclass
class Scenario:
    """A validated scenario: `data` (plain, normalised, JSON-able) and where it came from."""

    data: dict[str, Any]
    file: str | None = None

    @property
    def name(self) -> str:
        return str(self.data["scenario"]["name"])

    @property
    def hash(self) -> str:
        """SHA-256 of the canonical JSON of `data` (what a run spec's hash covers)."""
        return hashlib.sha256(canonical_json(self.data).encode()).hexdigest()

    @property
    def mechanisms(self) -> list[str]:
        return [m["name"] for m in self.data["mechanisms"]]

    def bidder_dist(self) -> Dist:
        return make_dist(self.data["values"]["bidder"])


def loads(text: str, file: str | None = None, base: Path | None = None) -> Scenario:
    """Parse and validate scenario text (`file` names it in errors; `base` resolves CSV paths)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        raise ScenarioError("", f"not valid TOML: {exc}", file, int(m.group(1)) if m else None) from None
    return from_raw(raw, text=text, file=file, base=base)


def from_raw(raw: dict[str, Any], text: str = "", file: str | None = None, base: Path | None = None) -> Scenario:
    """Validate an already-parsed scenario (a TOML dict, or a scenario's `data` with overrides)."""
    ck = _Checker(text, file, base)
    if "mechanisms" in raw and "mechanism" not in raw:  # a normalised dict passed back in: revalidate its raw form
        raw = to_raw(raw)
    return Scenario(_normalise(copy.deepcopy(raw), ck), file)


def load(path: str | Path) -> Scenario:
    """Read, parse and validate a scenario file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError("", f"cannot read the scenario: {exc.strerror or exc}", str(path)) from None
    except UnicodeDecodeError:
        raise ScenarioError("", "the scenario is not UTF-8 text", str(path)) from None
    return loads(text, str(path), p.parent)


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


def apply_overrides(scenario: Scenario, overrides: Mapping[str, Any]) -> Scenario:
    """A new scenario with `path = value` overrides applied to its TOML form, validated again.

    Paths are dotted keys as in the file; a mechanism is addressed by name or `*` (all of
    them): ``population.bidders``, ``mechanism.english.params.increment``,
    ``mechanism.*.seller.reserve.value``; an option by index: ``mechanism.market.option.0.share``.
    """
    raw = to_raw(scenario.data)
    for path, value in overrides.items():
        parts = path.split(".")
        try:
            _set(raw, parts, value)
        except KeyError as exc:
            raise ScenarioError(path, f"--set: {exc.args[0]}", scenario.file) from None
    try:
        return from_raw(raw, file=scenario.file)
    except ScenarioError as exc:
        setting = ", ".join(f"{k}={v!r}" for k, v in overrides.items())
        raise ScenarioError(exc.path, f"{exc.message} (with --set {setting})", scenario.file) from None


def _set(node: Any, parts: list[str], value: Any) -> None:
    head, rest = parts[0], parts[1:]
    if isinstance(node, list):
        if head == "*":
            for item in node:
                _set(item, rest, value) if rest else None
            return
        if head.isdigit() and int(head) < len(node):
            target = int(head)
            if not rest:
                node[target] = value
            else:
                _set(node[target], rest, value)
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
            _set(mech, rest[1:], value)
        return
    if not rest:
        node[head] = value
        return
    child = node.get(head)
    if child is None:
        child = node[head] = {}
    _set(child, rest, value)
