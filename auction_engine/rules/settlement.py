"""After the pricing mode: deal, deposits refunded or applied, payment, default, revenue split.

Money is conserved to the fen: every deposit ends as exactly one of refunded, forfeited or
applied to the price, and the ledger shows each movement as its own entry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..model import Command, Fen, Ms, Rejected, apply_bp
from .base import Ctx, Lot, Ranked, arg

__all__ = ["COMMANDS", "PHASES", "Deal", "next_deadline", "no_sale", "on_deadline", "start"]

PHASES = frozenset({"awaiting_payment", "second_chance", "settled", "no_sale", "defaulted", "cancelled"})
OPEN_PHASES = frozenset({"awaiting_payment", "second_chance"})


@dataclass(slots=True)
class Deal:
    """A struck deal and its payment progress."""

    buyer: str
    price: Fen
    rule: str
    struck_at: Ms
    due: Ms  # payment (or down-payment) deadline
    ranking: list[Ranked] = field(default_factory=list)
    paid: Fen = 0
    deposit_applied: Fen = 0
    offers: int = 0  # second-chance offers made


def _refund(ctx: Ctx, lot: Lot, party: str, reason: str) -> None:
    amount = lot.deposits.get(party, 0)
    if amount:
        lot.deposits[party] = 0
        ctx.emit("refund", lot=lot.id, party=party, amount=amount, reason=reason)


def start(ctx: Ctx, lot: Lot, buyer: str, price: Fen, rule: str, ranking: list[Ranked]) -> None:
    """The mode struck a deal: record it, refund the losers, wait for payment."""
    s = lot.settlement
    cal = s.calendar()
    due = cal.add_working_days(ctx.now, s.payment_working_days)
    runner_up = next((r for r in ranking if r.bidder != buyer), None)
    lot.deal = Deal(buyer, price, rule, ctx.now, due, [r for r in ranking if r.bidder != buyer])
    lot.phase = "awaiting_payment"
    ctx.emit("deal", lot=lot.id, buyer=buyer, price=price, rule=rule, mode=lot.mode, seller=lot.seller, due=due)
    keep = {buyer}
    if s.second_chance and runner_up is not None and lot.deposits.get(runner_up.bidder, 0):
        keep.add(runner_up.bidder)
    for party in sorted(lot.deposits):
        if party not in keep:
            _refund(ctx, lot, party, "lost")


def no_sale(ctx: Ctx, lot: Lot, reason: str) -> None:
    """The mode ended without a buyer (流拍): refund every deposit."""
    lot.phase = "no_sale"
    ctx.emit("no_sale", lot=lot.id, reason=reason, mode=lot.mode)
    for party in sorted(lot.deposits):
        _refund(ctx, lot, party, "no_sale")


def _pay(ctx: Ctx, lot: Lot, cmd: Command) -> None:
    """The operator confirms money received from the buyer."""
    deal: Deal | None = lot.deal
    if deal is None or lot.phase != "awaiting_payment":
        raise Rejected("not_awaiting_payment", f"lot {lot.id} is not awaiting payment")
    amount = arg(cmd, "amount")
    payer = cmd.get("payer", deal.buyer)
    if payer != deal.buyer:
        raise Rejected("wrong_payer", f"{payer} is not the buyer of lot {lot.id}")
    remaining = deal.price - deal.paid - lot.deposits.get(deal.buyer, 0)
    if amount <= 0 or amount > remaining:
        raise Rejected("bad_amount", f"the payment must be between 1 and {remaining} fen")
    ctx.accept("settlement.payment")
    deal.paid += amount
    if deal.paid + lot.deposits.get(deal.buyer, 0) >= deal.price:
        _complete(ctx, lot)


def _complete(ctx: Ctx, lot: Lot) -> None:
    deal: Deal = lot.deal
    held = lot.deposits.get(deal.buyer, 0)
    applied = deal.price - deal.paid
    lot.deposits[deal.buyer] = held - applied
    deal.deposit_applied = applied
    deal.paid = deal.price
    ctx.emit("deposit_applied", lot=lot.id, party=deal.buyer, amount=applied)
    _refund(ctx, lot, deal.buyer, "excess")
    for party in sorted(lot.deposits):
        _refund(ctx, lot, party, "deal_paid")
    lot.phase = "settled"
    s = lot.settlement
    fee = apply_bp(deal.price, s.fee_bp)
    net = deal.price - fee
    if s.institutional:
        inventors = apply_bp(net, s.inventor_share_bp)
        staff = apply_bp(inventors, s.transfer_staff_bp)
        ctx.emit(
            "split", lot=lot.id, price=deal.price, fee=fee, inventors=inventors - staff,
            transfer_staff=staff, institution=net - inventors,
        )
    ctx.emit("settled", lot=lot.id, buyer=deal.buyer, price=deal.price)


def next_deadline(lot: Lot) -> Ms | None:
    if lot.phase in OPEN_PHASES and lot.deal is not None:
        return lot.deal.due
    return None


def on_deadline(ctx: Ctx, lot: Lot) -> None:
    """The buyer did not pay in time: forfeit the deposit; offer the runner-up if the rules say so."""
    deal: Deal = lot.deal
    forfeited = lot.deposits.get(deal.buyer, 0)
    if forfeited:
        lot.deposits[deal.buyer] = 0
        ctx.emit("forfeit", lot=lot.id, party=deal.buyer, amount=forfeited, reason="payment_default")
    ctx.emit("default", lot=lot.id, buyer=deal.buyer, paid=deal.paid)
    if deal.paid:
        ctx.emit("repay", lot=lot.id, party=deal.buyer, amount=deal.paid, reason="default")
    lot.phase = "defaulted"
    for party in sorted(lot.deposits):
        _refund(ctx, lot, party, "buyer_default")


def view(lot: Lot) -> dict[str, Any]:
    deal: Deal | None = lot.deal
    if deal is None:
        return {}
    return {"buyer": deal.buyer, "price": deal.price, "paid": deal.paid, "due": deal.due}


COMMANDS = {"pay": _pay}
