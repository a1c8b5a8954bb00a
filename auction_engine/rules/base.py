"""What every pricing-mode module provides, and what the engine gives the rules (`Ctx`).

A rule is plain data in, data out: a handler gets the lot and the command, checks it, and either
raises `Rejected(code, message)` before changing anything, or calls `ctx.accept(rule)` (which
writes the command's ledger entry) and then changes the lot and `ctx.emit`s every consequence.
The engine calls `on_deadline` once `next_deadline(lot)` has come; the rule decides what the
deadline means from the lot's state, so a countdown that restarts is just a new deadline value.
No rule imports simpy, the network, the filesystem or the ledger.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..model import Command, Fen, Ms, Rejected
from ..params import SettlementParams

__all__ = ["Ctx", "Handler", "Lot", "Mode", "Ranked", "arg", "require_qualified", "required_deposit"]


@dataclass(eq=False, slots=True)
class Lot:
    """One technology achievement on sale: common facts plus the current mode's own state."""

    id: str
    submarket: str
    seller: str
    title: str
    mode: str  # current pricing mode: agreement, listing, english, dutch, sealed
    params: Any  # the mode's resolved params dataclass
    settlement: SettlementParams
    opened_at: Ms
    appraisal: Fen | None = None
    phase: str = "open"  # mode-defined while pricing; then "settlement", "settled", "no_sale", ...
    state: Any = None  # the mode's own mutable state
    deposits: dict[str, Fen] = field(default_factory=dict)  # deposit held per party, in fen
    deal: Any = None  # settlement state once a deal is struck
    history: list[str] = field(default_factory=list)  # modes this lot went through (conversions)
    extra: dict[str, Any] = field(default_factory=dict)  # descriptive fields from open_lot


@dataclass(frozen=True, slots=True)
class Ranked:
    """A bidder's best valid offer, for choosing a runner-up: price first, then time, then order."""

    bidder: str
    amount: Fen
    t: Ms
    order: int


class Ctx(Protocol):
    """The engine's side of a rule call: the time, and how to record what happens."""

    now: Ms

    def accept(self, rule: str, **fields: Any) -> None:
        """Record the current command as accepted by `rule` (with optional normalised fields)."""
        ...

    def emit(self, kind: str, **fields: Any) -> None:
        """Record a consequence (phase change, close, proxy bid, refund, …) as a ledger entry."""
        ...

    def is_operator(self, actor: str) -> bool:
        """Whether `actor` is one of the market's operators (who may act on a party's behalf)."""
        ...

    def deal(self, lot: Lot, buyer: str, price: Fen, rule: str, ranking: list[Ranked]) -> None:
        """The pricing mode has a buyer and a price: hand the lot to settlement."""
        ...

    def no_sale(self, lot: Lot, reason: str) -> None:
        """The pricing mode ends without a buyer (流拍): refund deposits, close the lot."""
        ...

    def convert(self, lot: Lot, mode: str, overrides: Mapping[str, Any]) -> None:
        """Switch the lot to another pricing mode (listing → auction, agreement → auction)."""
        ...


Handler = Callable[[Ctx, Lot, Command], None]


@dataclass(frozen=True)
class Mode:
    """A pricing mode: its params class, how it opens, its command handlers and its deadlines."""

    name: str
    params: type
    open: Callable[[Ctx, Lot], None]
    commands: Mapping[str, Handler]
    next_deadline: Callable[[Lot], Ms | None]
    on_deadline: Callable[[Ctx, Lot], None]
    opening_price: Callable[[Any], Fen]  # the price a deposit percentage applies to
    view: Callable[[Lot, str | None], dict[str, Any]]  # what `viewer` may see (None: the public)
    live_view: Callable[[Lot, Ms], dict[str, Any]] | None = None  # view fields that depend on the time (a clock)
    secret_fields: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # op -> fields kept out of rejections
    # The mode this one may convert to and its settings, checked when a lot opens (None: never converts).
    conversion: Callable[[Any], tuple[str, Mapping[str, Any]] | None] | None = None


def required_deposit(lot: Lot, opening_price: Fen) -> Fen:
    s = lot.settlement
    return s.deposit if s.deposit is not None else s.deposit_bp * opening_price // 10_000


def require_qualified(lot: Lot, party: str, needed: Fen) -> None:
    """Reject unless `party` holds at least the deposit this lot requires."""
    held = lot.deposits.get(party, 0)
    if held < needed or (held == 0 and needed == 0 and party not in lot.deposits):
        raise Rejected("not_qualified", f"{party} has not paid the deposit of {needed} fen for lot {lot.id}")


def arg(cmd: Command, name: str, kind: type = int) -> Any:
    """A command argument of the given type, or a precise rejection naming the field."""
    if name not in cmd:
        raise Rejected("bad_command", f"{cmd.get('op', 'command')} needs the field {name!r}")
    value = cmd[name]
    if type(value) is not kind:
        raise Rejected("bad_command", f"field {name!r} must be {kind.__name__}, not {value!r}")
    if kind is int and value < 0:
        raise Rejected("bad_command", f"field {name!r} must not be negative")
    return value
