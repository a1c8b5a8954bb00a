"""The rules' parameters described for forms: `GET /api/params-schema` and `GET /api/params-schema/{mode}`.

The operator console builds its open-lot and sub-market forms from this description (units, defaults,
bounds, choices), so a new parameter of a mode or of settlement gets its input without a change to the page.

Public, like the rules it describes: every field and default here is in `docs/rules.md` and in every
lot's `open_lot` ledger entry, and the market-wide values (`market`) are in the public log's genesis
entry. Nothing about a bidder or a lot is in it.

Each field is described as

- `name`; `kind`: `money` (fen), `duration` (milliseconds), `basis_points` (10000 = 100 %), `integer`,
  `boolean`, `text`, `choice` (with its `choices`, in order) or `dates` (a list of ISO dates, YYYY-MM-DD);
- `default` (JSON; null for none) and `required` (true when the class has no default: a lot must set it);
  `nullable` when null is a value (`reserve: Fen | None`: no reserve);
- `min` and `max` for the numeric kinds: the bounds each class's `check()` implies (a value beyond is
  refused), else at least 0 (a negative amount, span or count means nothing), at most 10^15.

`Fen`, `Ms` and `BasisPoints` are aliases of `int` (auction_engine/model.py), so the evaluated type hint
cannot tell money from a count. The unit is read from the annotation as written: a dataclass field's `type`
is that text under `from __future__ import annotations` (which every params module uses); otherwise the
class's source is parsed for it. A name ending `_ms` must be a duration and one ending `_bp` basis points,
and the other way round: a field whose name and annotation disagree, or whose type no kind fits, is a
SchemaError when the description is built (tests/server/test_params_schema.py builds it for every mode).
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import inspect
import re
import textwrap
import types
import typing
from typing import Annotated, Any

from fastapi import APIRouter
from fastapi import Path as PathParam
from starlette.requests import Request
from starlette.responses import Response

from ...market import OPERATOR_OPS
from ...model import HOUR, MAX_INT
from ...params import SettlementParams, field_names
from ...rules import MODES
from ..dependencies import market_of
from ..responses import ApiError, JSONAnswer
from .openapi import errors

__all__ = ["KINDS", "SchemaError", "describe_class", "router", "schema"]

router = APIRouter()

KINDS = ("money", "duration", "basis_points", "integer", "boolean", "text", "choice", "dates")
_UNITS = {"Fen": "money", "Ms": "duration", "BasisPoints": "basis_points"}
_SUFFIXES = {"_ms": "duration", "_bp": "basis_points"}
_DATE_LISTS = frozenset({"holidays", "workdays"})  # tuple[str, ...] fields SettlementParams.check() reads as dates
_NUMERIC = frozenset({"money", "duration", "basis_points", "integer"})

# Bounds the classes' check() enforces (a value beyond is refused), by field name, or by (class, field) where
# two classes differ. Every other numeric field is at least 0 and at most MAX_INT.
_BOUNDS: dict[str, tuple[int | None, int | None]] = {
    "start_price": (1, None),
    "increment": (1, None),
    "countdown_ms": (1, None),
    "step": (1, None),
    "step_ms": (1, None),
    "floor": (1, None),
    "min_price": (1, None),
    "bid_ms": (1, None),
    "reveal_ms": (1, None),
    "min_nonce_bytes": (1, None),
    "list_price": (1, None),
    "listing_working_days": (1, None),
    "extend_working_days": (1, None),
    "relist_price_bp": (1, 10_000),
    "max_rounds": (1, None),
    "auction_increment": (1, None),
    "auction_increment_bp": (1, None),
    "auction_countdown_ms": (1, None),
    "price": (1, None),
    "notice_days": (1, None),
    "payment_working_days": (1, None),
    "second_chance_working_days": (1, None),
    "second_chance_offers": (0, 100),
    "deposit_bp": (0, 10_000),
    "min_down_payment_bp": (0, 10_000),
    "inventor_share_bp": (0, 10_000),
    "transfer_staff_bp": (0, 10_000),
    "fee_bp": (0, 10_000),
    "utc_offset_ms": (-14 * HOUR, 14 * HOUR),  # the offsets time zones have (check() takes any)
}
_CLASS_BOUNDS: dict[tuple[str, str], tuple[int | None, int | None]] = {
    ("SealedParams", "reserve"): (1, None),
    ("ListingParams", "auction_free_ms"): (1, None),  # a converted listing opens at a deadline: free bidding > 0
}
UNCHECKED_BOUNDS = frozenset({"utc_offset_ms"})
"""Fields whose bounds are only obvious ones, not refused by check() (the test leaves them out)."""


class SchemaError(TypeError):
    """A params field no kind describes, or whose name and annotation disagree on its unit."""


def _written_annotations(cls: type) -> dict[str, str]:
    """The class's field annotations as written in its source, by name ({} when it has no source)."""
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):
        return {}
    out: dict[str, str] = {}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ClassDef) and node.name == cls.__name__:
            for item in node.body:
                if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                    out[item.target.id] = ast.unparse(item.annotation)
            break
    return out


def _unit(cls: type, f: dataclasses.Field[Any], written: dict[str, str]) -> str | None:
    """The unit alias kind a field is declared with (money, duration, basis points), or None."""
    text = f.type if isinstance(f.type, str) else written.get(f.name)
    if text is None:
        raise SchemaError(f"{cls.__name__}.{f.name}: its annotation as written cannot be read (no source)")
    found = {_UNITS[word] for word in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text) if word in _UNITS}
    if len(found) > 1:
        raise SchemaError(f"{cls.__name__}.{f.name}: the annotation {text!r} names more than one unit")
    unit = found.pop() if found else None
    by_name = next((kind for suffix, kind in _SUFFIXES.items() if f.name.endswith(suffix)), None)
    if (unit in _SUFFIXES.values() or by_name is not None) and unit != by_name:
        raise SchemaError(
            f"{cls.__name__}.{f.name}: the name and the annotation {text!r} disagree on the unit "
            "(a duration is `Ms` named …_ms, basis points are `BasisPoints` named …_bp)"
        )
    return unit


def _json_default(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    return value


def describe_class(cls: type) -> list[dict[str, Any]]:
    """Every field of a params dataclass as a form describes it (see the module's docstring)."""
    hints = typing.get_type_hints(cls)
    written = {} if all(isinstance(f.type, str) for f in dataclasses.fields(cls)) else _written_annotations(cls)
    out: list[dict[str, Any]] = []
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        nullable = False
        origin = typing.get_origin(hint)
        if origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(hint) if a is not type(None)]
            if len(args) != 1 or len(args) == len(typing.get_args(hint)):
                raise SchemaError(f"{cls.__name__}.{f.name}: the type {hint} is not one type or none")
            nullable = True
            hint = args[0]
            origin = typing.get_origin(hint)
        unit = _unit(cls, f, written)
        field: dict[str, Any] = {"name": f.name}
        if unit is not None:
            if hint is not int:
                raise SchemaError(f"{cls.__name__}.{f.name}: a {unit} field must be an integer, not {hint}")
            field["kind"] = unit
        elif hint is bool:
            field["kind"] = "boolean"
        elif hint is int:
            field["kind"] = "integer"
        elif hint is str:
            field["kind"] = "text"
        elif origin is typing.Literal:
            field["kind"] = "choice"
            field["choices"] = list(typing.get_args(hint))
        elif origin is tuple and typing.get_args(hint) == (str, ...) and f.name in _DATE_LISTS:
            field["kind"] = "dates"
        else:
            raise SchemaError(f"{cls.__name__}.{f.name}: no form kind describes the type {hint}")
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = None
        field["default"] = _json_default(default)
        field["required"] = required
        field["nullable"] = nullable
        if field["kind"] in _NUMERIC:
            least, most = _CLASS_BOUNDS.get((cls.__name__, f.name), _BOUNDS.get(f.name, (0, None)))
            field["min"] = 0 if least is None else least
            field["max"] = MAX_INT if most is None else most
        out.append(field)
    return out


@functools.cache
def schema() -> dict[str, Any]:
    """The description of every mode's parameters and of settlement's (built once; SchemaError if it cannot be)."""
    modes: dict[str, Any] = {}
    for name, mode in MODES.items():
        modes[name] = {
            "fields": describe_class(mode.params),
            "closable": mode.closable,
            "operator_commands": sorted(set(mode.commands) & OPERATOR_OPS),
        }
    return {"modes": modes, "settlement": {"fields": describe_class(SettlementParams)}}


def _known_names() -> frozenset[str]:
    names = set(field_names(SettlementParams))
    for mode in MODES.values():
        names |= field_names(mode.params)
    return frozenset(names)


def _market_values(request: Request) -> dict[str, Any]:
    """The market-wide parameter values (the genesis entry's): a lot's unless it or its sub-market sets them."""
    params = market_of(request).engine.market.params or {}
    known = _known_names()
    return {k: _json_default(v) for k, v in sorted(params.items()) if k in known}


@router.get("/api/params-schema", tags=["public"])
async def params_schema(request: Request) -> Response:
    """Every mode's parameters and settlement's: kind (unit), default, required, bounds, choices; and the
    market-wide values (`market`), the layer below a sub-market's and a lot's."""
    return JSONAnswer({**schema(), "market": _market_values(request)})


ModePath = Annotated[str, PathParam(pattern=r"^[a-z][a-z_]{0,39}$")]


@router.get("/api/params-schema/{mode}", tags=["public"], responses=errors(404, 422))
async def mode_params_schema(mode: ModePath, request: Request) -> Response:
    """One mode's parameters, with settlement's and the market-wide values; 404 `unknown_mode` for another name."""
    described = schema()
    if mode not in described["modes"]:
        known = ", ".join(sorted(described["modes"]))
        raise ApiError(404, "unknown_mode", f"there is no mode {mode!r} (the modes are {known})", field="mode")
    return JSONAnswer(
        {
            "mode": mode,
            **described["modes"][mode],
            "settlement": described["settlement"],
            "market": _market_values(request),
        }
    )
