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
from typing import Any, NamedTuple, Protocol

from ..model import Command, Fen, Ms, Rejected, local_time, yuan
from ..params import SettlementParams

__all__ = [
    "FEN_FIELDS",
    "Ctx",
    "Handler",
    "Lot",
    "Mode",
    "Ranked",
    "arg",
    "at",
    "lot_kind",
    "nearest_valid",
    "phase_text",
    "require_qualified",
    "required_deposit",
]


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
    # The engine's bookkeeping, kept on the lot (so that it goes wherever the lot goes): the entries
    # naming this lot so far (each entry's `lot_seq`; None until its first entry
    # after opening, while the engine's map of lots not yet open counts them), and the deadline the
    # engine's timer heap holds an entry for (None: none).
    entries: int | None = None
    armed: Ms | None = None


class Ranked(NamedTuple):
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

    def unsealed(self, cmd: Command) -> Command:
        """The command as its sender sent it: with its sealed fields (`Mode.sealed_fields`) in clear.

        Reading them is recorded: the engine reveals what a rule read when the lot's pricing ends,
        so that anyone can replay the decision. A rule reads them only where its decision needs them.
        """
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
    # op -> fields the ledger records only as a commitment until the lot's pricing ends (a proxy's maximum):
    # a rule reads them with `ctx.unsealed(cmd)`, and what it read is revealed before the deal or no sale.
    sealed_fields: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # Fields a refusal of a buyer's command on this mode's lot leaves out of its entry while the lot is being
    # priced, whatever the op (a sealed-bid lot keeps every amount secret); a rule that reads one of them
    # must refuse with `disclose` (its entry then records it) or not read it at all.
    private_fields: tuple[str, ...] = ()
    closable: bool = True  # may an operator end its phases early (close_phase) where the lot allows it?
    # The mode this one may convert to and its settings, checked when a lot opens (None: never converts).
    conversion: Callable[[Any], tuple[str, Mapping[str, Any]] | None] | None = None


def required_deposit(lot: Lot, opening_price: Fen) -> Fen:
    s = lot.settlement
    return s.deposit if s.deposit is not None else s.deposit_bp * opening_price // 10_000


def require_qualified(lot: Lot, party: str, needed: Fen) -> None:
    """Reject unless `party` holds at least the deposit this lot requires."""
    held = lot.deposits.get(party, 0)
    if held >= needed and (held != 0 or needed != 0 or party in lot.deposits):
        return
    if held == 0 and needed == 0:
        raise Rejected(
            "not_qualified", f"{party} is not admitted to lot {lot.id} until the operator records its deposit (¥0.00)"
        )
    if held == 0:
        raise Rejected("not_qualified", f"{party} has not paid the deposit of {yuan(needed)} for lot {lot.id}")
    raise Rejected("not_qualified", f"{party} has paid {yuan(held)} of the deposit of {yuan(needed)} for lot {lot.id}")


# -- words for messages (a rejection's message is for a person; see model.yuan, model.local_time) --------------

FEN_FIELDS = frozenset({"amount", "price", "max", "down"})  # command fields that are money, in fen

_KINDS = {int: "an integer", str: "a string", bytes: "bytes", bool: "true or false"}
_KIND_NAMES = {str: "string", bytes: "byte string", bool: "boolean", list: "list", dict: "map", type(None): "null"}

_PHASES = {
    "open": "open",
    "free": "in free bidding",
    "timed": "in timed bidding",
    "clock": "on the clock",
    "commit": "taking sealed bids",
    "reveal": "taking reveals",
    "listing": "listed",
    "awaiting_approval": "waiting for a re-list to be approved",
    "notice": "under public notice",
    "objection_pending": "waiting for its objections to be resolved",
    "closed": "closed",
    "awaiting_payment": "awaiting payment",
    "second_chance": "offered to a runner-up",
    "settled": "settled",
    "no_sale": "closed without a sale",
    "cancelled": "cancelled",
}

_LOT_KINDS = {
    "english": "an English lot",
    "dutch": "a Dutch lot",
    "sealed": "a sealed-bid lot",
    "listing": "a listing lot",
    "agreement": "an agreement lot",
}


def at(lot: Lot, t: Ms) -> str:
    """An instant in the lot's local time, for a message: '2021-03-01 10:00 (UTC+08:00)'."""
    return local_time(t, lot.settlement.utc_offset_ms)


def phase_text(phase: str) -> str:
    """A lot phase in words, to follow "it is": 'awaiting_payment' -> 'awaiting payment'."""
    return _PHASES.get(phase, f"in phase {phase}")


def lot_kind(mode: str) -> str:
    """A lot of a pricing mode, with its article: 'english' -> 'an English lot'."""
    return _LOT_KINDS.get(mode, f"{'an' if mode[:1] in 'aeiou' else 'a'} {mode} lot")


def nearest_valid(base: Fen, step: Fen, amount: Fen, least: Fen, what: str = "bid") -> str:
    """The valid amounts nearest `amount` on the grid base + k × step (never below `least`), in words."""
    above = base + -(-(amount - base) // step) * step
    above = max(above, least)
    below = above - step
    if below < least or below >= amount:
        return f"the next valid {what} is {yuan(above)} ({above} fen)"
    return f"the nearest valid {what}s are {yuan(below)} and {yuan(above)} ({below} and {above} fen)"


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:39] + "…"


def arg(cmd: Command, name: str, kind: type = int, *, secret: bool = False) -> Any:
    """A command argument of the given type, or a precise rejection naming the field.

    With `secret` (a sealed field), the rejection's message names the field but never shows its value,
    which the entry keeps sealed.
    """
    if name not in cmd:
        raise Rejected("bad_command", f"the {cmd.get('op', 'command')} command needs the field {name!r}")
    value = cmd[name]
    if type(value) is not kind:
        wanted = "a whole number of fen" if kind is int and name in FEN_FIELDS else _KINDS.get(kind, kind.__name__)
        shown = f"a {_KIND_NAMES.get(type(value), 'value')}" if secret else _shown(value)
        raise Rejected("bad_command", f"field {name!r} must be {wanted}, not {shown}")
    if kind is int and value < 0:
        unit = " fen" if name in FEN_FIELDS else ""
        if secret:
            raise Rejected("bad_command", f"field {name!r} must not be negative")
        raise Rejected("bad_command", f"field {name!r} must not be negative (it is {value}{unit})")
    return value
