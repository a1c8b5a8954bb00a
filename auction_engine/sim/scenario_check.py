"""Checking a parsed scenario: `Checker` walks it, refusing unknown keys, wrong types and impossible
values with a `ScenarioError` that names the key path, the file and the line."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .scenario_lines import locate, path_text
from .values import DIST_KEYS, read_empirical


class ScenarioError(ValueError):
    """A scenario is invalid: `path` is the key path, `file`/`line` where it is (when known)."""

    def __init__(self, path: str, message: str, file: str | None = None, line: int | None = None) -> None:
        self.path, self.message, self.file, self.line = path, message, file, line
        where = f"{file}:{line}: " if file and line else (f"{file}: " if file else "")
        super().__init__(f"{where}{path + ': ' if path else ''}{message}")


class Checker:
    """Walks the parsed TOML, raising ScenarioError with the key path, file and line."""

    def __init__(self, text: str, file: str | None, base: Path | None) -> None:
        self.text, self.file, self.base = text, file, base

    def fail(self, path: list[str | int], message: str) -> ScenarioError:
        line = locate(self.text, path) if self.text else None
        return ScenarioError(path_text(path), message, self.file, line)

    def table(self, raw: Any, path: list[str | int], known: Iterable[str]) -> dict[str, Any]:
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            raise self.fail(path, f"must be a table, not {kind_text(raw)}")
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
            raise self.fail(here, f"must be {names}, not {kind_text(value)} {value!r}")
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
            raise self.fail(path, f"must be a number or a distribution table, not {kind_text(raw)}")
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


def kind_text(value: Any) -> str:
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
