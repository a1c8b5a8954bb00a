"""Rule parameters: typed dataclasses with DOMAIN.md defaults, layered market < sub-market < lot.

Every number a rule uses is a field here or in a mode's own params class, never a literal in the
rules. `resolve` merges the layers, checks every key and type (naming the offending field), and
the resolved parameters are written into the ledger when a lot opens, so replay needs nothing else.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from .calendar import Calendar
from .model import HOUR, MAX_INT, BasisPoints, Fen, Ms, Rejected, percent, yuan

__all__ = ["SettlementParams", "field_names", "from_dict", "resolve", "to_dict"]

P = TypeVar("P")


@dataclass(frozen=True, slots=True)
class SettlementParams:
    """After the deal (DOMAIN §3.3-3.4): deposits, refunds, payment, default, revenue split.

    The rules that use these fields are documented in `auction_engine.rules.settlement`.
    """

    deposit: Fen | None = None  # deposit to qualify; None: deposit_bp of the lot's opening price
    deposit_bp: BasisPoints = 1_000  # 10% of the starting / list price when deposit is None
    refund_working_days: int = 5  # refunds are recorded at once and must reach the party within this
    publication_working_days: int = 5  # result published ≥ 5 working days (state assets); 0: none
    payment_working_days: int = 10  # winner must pay (or pay the down payment) within this
    require_confirmation: bool = False  # the buyer must sign the 成交确认书 by the first payment deadline
    operator_may_close: bool = False  # may the operator end a pricing phase before its timer (close_phase)?
    require_signed_bids: bool = False  # every bidder command on the lot signed by the bidder's bound key
    instalments: bool = False  # allow payment by instalments
    min_down_payment_bp: BasisPoints = 3_000  # instalments: ≥ 30% down (the buyer's deposit counts)
    max_instalment_days: int = 365  # instalments: paid in full within 1 year (calendar days) of the deal
    second_chance: bool = True  # offer the lot to the runner-up when the winner defaults
    second_chance_offers: int = 1  # runners-up whose deposits are held and who are offered the lot in turn
    second_chance_working_days: int = 3  # runner-up has this long to accept
    institutional: bool = True  # 职务科技成果: split the net income
    inventor_share_bp: BasisPoints = 7_000  # ≥ 70% of net income to the inventors (Zhejiang)
    transfer_staff_bp: BasisPoints = 0  # share of the inventors' reward for transfer staff (Ningbo ≥ 5%)
    fee_bp: BasisPoints = 0  # market service fee deducted before the split
    utc_offset_ms: Ms = 8 * HOUR  # local time for working days (Asia/Shanghai)
    holidays: tuple[str, ...] = ()  # ISO dates that are not working days
    workdays: tuple[str, ...] = ()  # ISO dates of weekend days that are working days (调休)

    def check(self) -> None:
        """Reject settings no settlement can follow (naming the field)."""
        for name in ("refund_working_days", "publication_working_days", "max_instalment_days", "second_chance_offers"):
            if getattr(self, name) < 0:
                raise Rejected("bad_param", f"parameter {name!r} must not be negative (it is {getattr(self, name)})")
        if self.second_chance_offers > 100:
            raise Rejected(
                "bad_param", f"parameter 'second_chance_offers' must be at most 100 (it is {self.second_chance_offers})"
            )
        for name in ("payment_working_days", "second_chance_working_days"):
            if getattr(self, name) < 1:
                raise Rejected(
                    "bad_param", f"parameter {name!r} must be at least 1 working day (it is {getattr(self, name)})"
                )
        for name in ("deposit_bp", "min_down_payment_bp", "inventor_share_bp", "transfer_staff_bp", "fee_bp"):
            if not 0 <= getattr(self, name) <= 10_000:
                raise Rejected(
                    "bad_param",
                    f"parameter {name!r} must be between 0% and 100% (0 to 10000 basis points), "
                    f"not {percent(getattr(self, name))}",
                )
        if self.deposit is not None and self.deposit < 0:
            raise Rejected("bad_param", f"parameter 'deposit' must not be negative (it is {yuan(self.deposit)})")
        for name in ("holidays", "workdays"):
            for day in getattr(self, name):
                if not _is_iso_date(day):
                    raise Rejected(
                        "bad_param", f"parameter {name!r} must list dates written YYYY-MM-DD, and {day!r} is not one"
                    )

    def calendar(self) -> Calendar:
        """The working-day calendar these settings describe (one object per distinct setting)."""
        return _calendar(self.utc_offset_ms, self.holidays, self.workdays)


@functools.lru_cache(maxsize=256)
def _calendar(utc_offset_ms: Ms, holidays: tuple[str, ...], workdays: tuple[str, ...]) -> Calendar:
    return Calendar(utc_offset_ms, frozenset(holidays), frozenset(workdays))


def _is_iso_date(text: str) -> bool:
    """Whether text is a calendar date written exactly YYYY-MM-DD (as the working-day calendar compares them)."""
    try:
        return datetime.date.fromisoformat(text).isoformat() == text
    except ValueError:
        return False


def _describe(hint: Any) -> str:
    """A type hint in words, for a message: `int | None` -> 'an integer or null'."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(hint))
    if origin is tuple:
        return "a list"
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(hint))
    words = {bool: "true or false", int: "an integer", str: "a string", type(None): "null"}
    return words.get(hint, str(hint))


def _check_type(value: Any, hint: Any, name: str) -> Any:
    """Return value converted to the hinted type, or raise Rejected naming the field."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _check_type(value, arg, name)
            except Rejected:
                continue
        raise Rejected("bad_param", f"parameter {name!r} must be {_describe(hint)}, not {value!r}")
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise Rejected("bad_param", f"parameter {name!r} must be a list")
        (item,) = typing.get_args(hint)[:1]
        return tuple(_check_type(v, item, f"{name}[{i}]") for i, v in enumerate(value))
    if origin is typing.Literal:
        if value not in typing.get_args(hint):
            choices = ", ".join(repr(a) for a in typing.get_args(hint))
            raise Rejected("bad_param", f"parameter {name!r} must be one of {choices}, not {value!r}")
        return value
    words = _PLAIN_WORDS.get(hint)
    if words is not None:
        if type(value) is not hint:  # exact type: true is not an integer here
            raise Rejected("bad_param", f"parameter {name!r} must be {words}, not {value!r}")
        if hint is int and not -MAX_INT <= value <= MAX_INT:
            raise Rejected("bad_param", f"parameter {name!r} must be between -10^15 and 10^15, not {value}")
        return value
    raise Rejected("bad_param", f"parameter {name!r} has a type the rules cannot check ({hint})")


_PLAIN_WORDS: dict[Any, str] = {bool: "true or false", int: "an integer", str: "a string"}  # what a message asks for
_PLAIN = tuple(_PLAIN_WORDS)  # hints checked by exact type alone (see _check_type)


def _quick(hint: Any) -> tuple[tuple[Any, ...], bool, tuple[Any, ...] | None] | None:
    """What `_check_type` accepts unchanged for a simple hint, as (exact types, None allowed, literal values).

    None for the other hints (tuples, wider unions): those always go through `_check_type`. A value
    the quick test refuses goes through `_check_type` too, which raises the precise message.
    """
    if hint in _PLAIN:
        return (hint,), False, None
    origin = typing.get_origin(hint)
    if origin is typing.Literal:
        return (), False, typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1 and len(args) == 2 and rest[0] in _PLAIN:
            return (rest[0],), True, None
    return None


@functools.cache
def _hints(cls: type) -> tuple[dict[str, Any], dict[str, dataclasses.Field[Any]], tuple[str, ...], dict[str, Any]]:
    """(type hints, fields by name, required field names in order, quick checks) of a params class, once per class."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    required = tuple(
        n for n, f in fields.items() if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    )
    hints = typing.get_type_hints(cls)
    return hints, fields, required, {n: _quick(hints[n]) for n in fields}


@functools.cache
def _names(cls: type) -> tuple[str, ...]:
    """The field names of a params class, in declaration order (computed once per class)."""
    return tuple(f.name for f in dataclasses.fields(cls))


def from_dict(cls: type[P], data: Mapping[str, Any], what: str = "") -> P:
    """Build a params dataclass from a mapping; unknown keys and wrong types are rejected by name."""
    hints, fields, required, quick = _hints(cls)
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in fields:
            known = ", ".join(sorted(fields))
            raise Rejected("bad_param", f"unknown parameter {key!r}{what} (known: {known})")
        q = quick[key]
        if q is not None:  # the common cases, accepted unchanged exactly as _check_type would accept them
            exact, optional, literal = q
            kind = type(value)
            if (
                (kind in exact and (kind is not int or -MAX_INT <= value <= MAX_INT))
                or (optional and value is None)
                or (literal is not None and value in literal)
            ):
                kwargs[key] = value
                continue
        kwargs[key] = _check_type(value, hints[key], key)
    for n in required:
        if n not in kwargs:
            raise Rejected("missing_param", f"required parameter {n!r}{what} is not set")
    params = cls(**kwargs)
    check = getattr(params, "check", None)
    if check is not None:
        check()
    return params


_RESOLVED: dict[tuple[Any, ...], Any] = {}  # (class, key, type, value, ...) -> the params it resolved to
_RESOLVED_LIMIT = 4096
_KEYABLE = frozenset({int, str, bool, type(None)})


def resolve(cls: type[P], *layers: Mapping[str, Any] | None, what: str = "") -> P:
    """Merge layers (later wins), keeping the keys `cls` knows; the caller rejects unknown keys.

    Params are frozen, so the same merged settings give the same object: a valid result is
    remembered when every value is a plain scalar (keyed by type and value, so 1 and True differ);
    anything else, and every rejection, goes through `from_dict` each time.
    """
    names = field_names(cls)
    merged: dict[str, Any] = {}
    for layer in layers:
        if layer:
            for k, v in layer.items():
                if k in names:
                    merged[k] = v
    parts: list[Any] = [cls]
    for k, v in merged.items():
        kind = type(v)
        if kind not in _KEYABLE:
            return from_dict(cls, merged, what)
        parts += (k, kind, v)
    key = tuple(parts)
    hit: P | None = _RESOLVED.get(key)
    if hit is None:
        hit = from_dict(cls, merged, what)
        if len(_RESOLVED) >= _RESOLVED_LIMIT:
            _RESOLVED.clear()
        _RESOLVED[key] = hit
    return hit


@functools.cache
def field_names(cls: type) -> frozenset[str]:
    """The parameter names a params class knows (computed once per class)."""
    return frozenset(f.name for f in dataclasses.fields(cls))


def to_dict(params: Any) -> dict[str, Any]:
    """Params as a plain map for the ledger (tuples become lists, None values dropped)."""
    out: dict[str, Any] = {}
    for name in _names(type(params)):
        value = getattr(params, name)
        kind = type(value)
        if kind is int or kind is str or kind is bool:
            out[name] = value
        elif value is not None:
            out[name] = list(value) if isinstance(value, tuple) else value
    return out
