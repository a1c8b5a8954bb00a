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
checks are its executable form: this module assembles the whole (`_normalise`) and holds the
public API; `scenario_check` is the checker and its errors (`scenario_lines` finds a key's line),
`scenario_tables` the market, population, values and strategy tables, `scenario_mechanisms` the
mechanisms with their options and seller rules. Sweeps apply `--set path=value` overrides to the
parsed TOML (`scenario_overrides`) and validate again, so an override is checked exactly like the file.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .scenario_check import Checker, ScenarioError
from .scenario_mechanisms import mechanism_table
from .scenario_overrides import parse_set, set_path, to_raw
from .scenario_tables import MONEY_KEYS, engine_params, population_table, strategy_mix, values_table
from .values import Dist, make_dist

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

DEFAULT_START = "2021-01-04T09:00:00+08:00"  # a Monday morning in Hangzhou
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


def canonical_json(data: Any) -> str:
    """Sorted-key compact JSON: the form that is hashed."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _to_ms(value: Any) -> int:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone(dt.timedelta(hours=8)))
        return int(value.timestamp() * 1000)
    if isinstance(value, dt.date):
        return _to_ms(dt.datetime(value.year, value.month, value.day, 9, tzinfo=dt.timezone(dt.timedelta(hours=8))))
    return int(value)


def _normalise(raw: dict[str, Any], ck: Checker) -> dict[str, Any]:
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
    out["market"] = {"params": engine_params(ck, market_params, ["market", "params"], None)}

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
                "params": engine_params(ck, ck.value(sub, path, "params", (dict,), {}), [*path, "params"], None),
            }
        )
    if sum(s["share"] for s in out["submarkets"]) > 1.0 + 1e-9:
        raise ck.fail(["submarket"], "the sub-markets' shares add up to more than 1")

    out["population"] = population_table(ck, raw.get("population"))
    out["values"] = values_table(ck, raw.get("values"))
    out["strategy"] = strategy_mix(ck, raw.get("strategy", {"name": "bne"}), ["strategy"], out["values"])

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
        out["mechanisms"].append(mechanism_table(ck, mech, ["mechanism", i], out))
    names = [m["name"] for m in out["mechanisms"]]
    for i, n in enumerate(names):
        if n in names[:i]:
            raise ck.fail(["mechanism", i, "name"], f"mechanism {n!r} is defined twice")
    return out


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
    ck = Checker(text, file, base)
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
            set_path(raw, parts, value)
        except KeyError as exc:
            raise ScenarioError(path, f"--set: {exc.args[0]}", scenario.file) from None
    try:
        return from_raw(raw, file=scenario.file)
    except ScenarioError as exc:
        setting = ", ".join(f"{k}={v!r}" for k, v in overrides.items())
        raise ScenarioError(exc.path, f"{exc.message} (with --set {setting})", scenario.file) from None
