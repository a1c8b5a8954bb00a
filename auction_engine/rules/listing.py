"""Listed trading (挂牌交易): a list price for a listing period of working days, intending buyers
register (意向受让), and the number of qualified buyers at the end decides the outcome.

- The lot opens in phase "listing" until `listing_working_days` working days after the opening
  (same local time of day; weekends and the settlement calendar's holidays do not count).
- "register" {lot}: a party registers its intent. The deposit is not needed to register: the
  operator records it with the market's "deposit" command, before or after the registration.
  A buyer is **qualified** at the listing end when it is registered and holds the deposit
  (computed on the current list price). "withdraw_registration" {lot} before the end withdraws
  the intent and refunds any deposit at once. The seller may not register.
- At the listing end (entry "listing_end" names the qualified buyers, in registration order):
  - 0 qualified: per `on_no_buyer` — "delist" ends with no sale ("no_buyer"); "extend" adds
    `extend_working_days` to the period; "relist" starts a new period at the list price ×
    `relist_price_bp`. Extensions and re-lists count as rounds; when `max_rounds` rounds (the
    first included) have passed without a buyer, the lot ends with no sale ("rounds_exhausted").
    Registrations carry over to the next round. A re-list price below `approval_floor_bp` of the
    appraisal needs explicit approval (DOMAIN §3.2): entry "relist_needs_approval" flags it and
    the lot waits, with no deadline, in phase "awaiting_approval" for the operator's
    "approve_relist" {lot, approved} (rejected: no sale, "relist_rejected") or "relist" {lot,
    price} (the operator re-lists at a price of its choice; a price below the floor is flagged).
    Without an appraisal no re-list needs approval. A re-list price that rounds to 0 fen ends the
    lot ("price_exhausted"). After a no sale the achievement is re-listed by opening a new lot.
  - 1 qualified: a deal with that buyer at the list price ("listing.single_buyer").
  - 2 or more: the sale converts to an English auction starting at the list price, with free
    bidding for `auction_free_ms` (positive: the conversion happens at the listing's deadline,
    and a deadline must move forward). The qualified buyers keep their deposits and so may bid
    at once (the deposit basis, the starting price, is the list price they qualified at).
    Every other depositor (unregistered, or registered without the full deposit) is refunded at
    the conversion (reason "not_qualified") and loses its admission, so only the qualified
    buyers can bid — unless the operator records new deposits afterwards, which the English
    rules cannot tell from a qualification.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from ..model import HOUR, BasisPoints, Command, Fen, Ms, Rejected, apply_bp, percent, yuan
from . import english
from .base import Ctx, Lot, Mode, arg, at, phase_text, require_qualified, required_deposit

__all__ = ["MODE", "ListingParams", "ListingState"]


@dataclass(frozen=True)
class ListingParams:
    """Listed-trading rule settings (defaults from DOMAIN §3.2)."""

    list_price: Fen  # 挂牌价
    listing_working_days: int = 20  # 挂牌期, working days (also the length of a re-listed period)
    approval_floor_bp: BasisPoints = 9_000  # a re-list price below 90% of the appraisal needs approval
    on_no_buyer: Literal["delist", "extend", "relist"] = "delist"  # 0 qualified buyers at the end
    extend_working_days: int = 20  # length of an extension
    relist_price_bp: BasisPoints = 9_000  # an automatic re-list lists at 90% of the current price
    max_rounds: int = 3  # listing periods in all, the first included
    auction_increment: Fen | None = None  # 加价幅度 of the converted auction; None: auction_increment_bp
    auction_increment_bp: BasisPoints = 100  # increment as a share of the list price (DOMAIN gives none)
    auction_free_ms: Ms = HOUR  # free bidding of the converted auction (> 0: it opens at a deadline)
    auction_countdown_ms: Ms | None = None  # its countdown; None: the English setting (market layers)

    def check(self) -> None:
        """Reject impossible settings, naming the field."""
        if self.list_price <= 0:
            raise Rejected("bad_param", f"parameter 'list_price' must be positive (it is {yuan(self.list_price)})")
        if self.listing_working_days <= 0:
            raise Rejected(
                "bad_param",
                f"parameter 'listing_working_days' must be at least 1 working day (it is {self.listing_working_days})",
            )
        if self.extend_working_days <= 0:
            raise Rejected(
                "bad_param",
                f"parameter 'extend_working_days' must be at least 1 working day (it is {self.extend_working_days})",
            )
        if self.approval_floor_bp < 0:
            raise Rejected(
                "bad_param",
                f"parameter 'approval_floor_bp' must not be negative (it is {percent(self.approval_floor_bp)})",
            )
        if not 0 < self.relist_price_bp <= 10_000:  # a share of the current price, at most all of it
            raise Rejected(
                "bad_param",
                "parameter 'relist_price_bp' must be between 0.01% and 100% (1 to 10000 basis points), "
                f"not {percent(self.relist_price_bp)}",
            )
        if self.max_rounds <= 0:
            raise Rejected("bad_param", f"parameter 'max_rounds' must be at least 1 (it is {self.max_rounds})")
        english.check_conversion_settings(self, free_ms_positive=True)

    def auction_overrides(self, price: Fen) -> dict[str, Any]:
        """The English auction that two or more qualified buyers at list price `price` convert to."""
        return english.conversion_settings(price, self.increment(price), self)

    def increment(self, price: Fen) -> Fen:
        """The converted auction's increment at list price `price` (at least one fen)."""
        if self.auction_increment is not None:
            return self.auction_increment
        return max(1, apply_bp(price, self.auction_increment_bp))  # 1: the smallest unit, one fen


@dataclass(slots=True)
class ListingState:
    """The live state of one listing."""

    price: Fen  # the current list price
    end: Ms  # the current period's end (meaningless while awaiting approval)
    round: int = 1  # the current listing period, counting from 1
    registrations: dict[str, Ms] = field(default_factory=dict)  # party -> registration time, in order
    pending_price: Fen | None = None  # the re-list price awaiting approval


def _open(ctx: Ctx, lot: Lot) -> None:
    p: ListingParams = lot.params
    end = lot.settlement.calendar().add_working_days(lot.opened_at, p.listing_working_days)
    lot.state = ListingState(price=p.list_price, end=end)
    lot.phase = "listing"
    ctx.emit("phase", lot=lot.id, phase="listing", until=end, price=p.list_price, round=1)


def _floor(lot: Lot) -> Fen | None:
    """The re-list price below which approval is needed (None: no appraisal, no approval rule)."""
    p: ListingParams = lot.params
    return None if lot.appraisal is None else apply_bp(lot.appraisal, p.approval_floor_bp)


def _check_listing(lot: Lot, now: Ms) -> None:
    s: ListingState = lot.state
    if lot.phase != "listing":
        raise Rejected("not_listing", f"lot {lot.id} is not in a listing period: it is {phase_text(lot.phase)}")
    if now >= s.end:
        raise Rejected("not_listing", f"the listing period of lot {lot.id} ended at {at(lot, s.end)}")


def _qualified(lot: Lot) -> list[str]:
    """Registered parties holding the deposit for the current price, in registration order."""
    s: ListingState = lot.state
    needed = required_deposit(lot, s.price)
    out = []
    for party in s.registrations:
        try:
            require_qualified(lot, party, needed)
        except Rejected:
            continue
        out.append(party)
    return out


def _register(ctx: Ctx, lot: Lot, cmd: Command) -> None:
    s: ListingState = lot.state
    party = cmd["actor"]
    _check_listing(lot, ctx.now)
    if party in s.registrations:
        raise Rejected("already_registered", f"{party} is already registered as an intending buyer of lot {lot.id}")
    ctx.accept("listing.register", deposit=required_deposit(lot, s.price))
    s.registrations[party] = ctx.now


def _withdraw_registration(ctx: Ctx, lot: Lot, cmd: Command) -> None:
    s: ListingState = lot.state
    party = cmd["actor"]
    _check_listing(lot, ctx.now)
    if party not in s.registrations:
        raise Rejected("not_registered", f"{party} is not registered as an intending buyer of lot {lot.id}")
    ctx.accept("listing.withdraw")
    del s.registrations[party]
    _drop_deposit(ctx, lot, party, "withdrawn")


def _drop_deposit(ctx: Ctx, lot: Lot, party: str, reason: str) -> None:
    """Refund a party's deposit and remove its admission (even a zero deposit admits)."""
    amount = lot.deposits.pop(party, 0)
    if amount:
        ctx.emit("refund", lot=lot.id, party=party, amount=amount, reason=reason)


def _start_round(ctx: Ctx, lot: Lot, price: Fen, kind: str, **fields: Any) -> None:
    """Begin the next listing period at `price` from now."""
    p: ListingParams = lot.params
    s: ListingState = lot.state
    previous = s.price
    s.round += 1
    s.price = price
    s.pending_price = None
    s.end = lot.settlement.calendar().add_working_days(ctx.now, p.listing_working_days)
    lot.phase = "listing"
    ctx.emit(kind, lot=lot.id, round=s.round, price=price, previous=previous, until=s.end, **fields)


def _approve_relist(ctx: Ctx, lot: Lot, cmd: Command) -> None:
    s: ListingState = lot.state
    approved = arg(cmd, "approved", bool)
    if lot.phase != "awaiting_approval" or s.pending_price is None:
        raise Rejected(
            "no_relist_pending", f"lot {lot.id} has no re-list awaiting approval: it is {phase_text(lot.phase)}"
        )
    if not approved:
        ctx.accept("listing.relist_rejected")
        ctx.no_sale(lot, "relist_rejected")
        return
    ctx.accept("listing.relist_approved", price=s.pending_price)
    _start_round(ctx, lot, s.pending_price, "relist", below_floor=True, approved=True)


def _relist(ctx: Ctx, lot: Lot, cmd: Command) -> None:
    s: ListingState = lot.state
    price = arg(cmd, "price")
    if lot.phase != "awaiting_approval" or s.pending_price is None:
        raise Rejected(
            "no_relist_pending", f"lot {lot.id} has no re-list awaiting approval: it is {phase_text(lot.phase)}"
        )
    if price <= 0:
        raise Rejected("bad_command", f"field 'price' of a re-list of lot {lot.id} must be at least ¥0.01 (1 fen)")
    floor = _floor(lot)
    below = floor is not None and price < floor
    ctx.accept("listing.relist_manual", below_floor=below)
    _start_round(ctx, lot, price, "relist", below_floor=below, approved=True)


def _next_deadline(lot: Lot) -> Ms | None:
    if lot.phase == "listing":
        return lot.state.end
    return None  # awaiting_approval waits for the operator


def _convert(ctx: Ctx, lot: Lot, qualified: list[str]) -> None:
    """Two or more qualified buyers: refund everyone else, then auction from the list price."""
    p: ListingParams = lot.params
    s: ListingState = lot.state
    for party in sorted(lot.deposits):
        if party not in qualified:
            _drop_deposit(ctx, lot, party, "not_qualified")
    ctx.convert(lot, "english", p.auction_overrides(s.price))


def _on_deadline(ctx: Ctx, lot: Lot) -> None:
    p: ListingParams = lot.params
    s: ListingState = lot.state
    qualified = _qualified(lot)
    ctx.emit(
        "listing_end",
        lot=lot.id,
        round=s.round,
        price=s.price,
        registered=len(s.registrations),
        qualified=qualified,
    )
    if len(qualified) == 1:
        ctx.deal(lot, qualified[0], s.price, "listing.single_buyer", [])
        return
    if len(qualified) > 1:
        _convert(ctx, lot, qualified)
        return
    if p.on_no_buyer == "delist":
        ctx.no_sale(lot, "no_buyer")
        return
    if s.round >= p.max_rounds:
        ctx.no_sale(lot, "rounds_exhausted")
        return
    if p.on_no_buyer == "extend":
        s.round += 1
        s.end = lot.settlement.calendar().add_working_days(s.end, p.extend_working_days)
        ctx.emit("extend", lot=lot.id, round=s.round, until=s.end)
        return
    price = apply_bp(s.price, p.relist_price_bp)
    if price <= 0:
        ctx.no_sale(lot, "price_exhausted")
        return
    floor = _floor(lot)
    if floor is not None and price < floor:
        s.pending_price = price
        lot.phase = "awaiting_approval"
        ctx.emit(
            "relist_needs_approval",
            lot=lot.id,
            price=price,
            floor=floor,
            appraisal=lot.appraisal,
            rule="listing.approval_floor",
            flagged=True,
        )
        return
    _start_round(ctx, lot, price, "relist", below_floor=False, approved=False)


def _view(lot: Lot, viewer: str | None) -> dict[str, Any]:
    p: ListingParams = lot.params
    s: ListingState = lot.state
    out: dict[str, Any] = {
        "price": s.price,
        "round": s.round,
        "max_rounds": p.max_rounds,
        "listing_end": s.end if lot.phase == "listing" else None,
        "deposit": required_deposit(lot, s.price),
    }
    if s.pending_price is not None:
        out["pending_price"] = s.pending_price
    if viewer is not None:
        out["registered"] = viewer in s.registrations
    return out


MODE = Mode(
    name="listing",
    params=ListingParams,
    open=_open,
    commands={
        "register": _register,
        "withdraw_registration": _withdraw_registration,
        "approve_relist": _approve_relist,
        "relist": _relist,
    },
    next_deadline=_next_deadline,
    on_deadline=_on_deadline,
    opening_price=lambda params: params.list_price,
    conversion=lambda params: ("english", params.auction_overrides(params.list_price)),
    view=_view,
)
