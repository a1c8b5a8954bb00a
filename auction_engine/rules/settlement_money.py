"""Settlement's money movements: deposits refunded (one party or several at once) and the price divided.

The rules of when each happens are in `settlement` (its docstring, points 2, 8 and 10); here is how a
refund is written (its `due` instant `refund_working_days` working days on) and the revenue split of
point 8 (fee, inventors, transfer staff, institution: the parts sum to the price, fen for fen).
"""

from __future__ import annotations

from ..model import Fen, Ms, apply_bp
from ..params import SettlementParams
from .base import Ctx, Lot

__all__ = ["refund", "refund_all", "refund_due", "revenue_split"]


def refund_due(ctx: Ctx, lot: Lot) -> Ms:
    """The instant by which a refund made now must reach the party (`refund_working_days` later)."""
    s = lot.settlement
    return s.calendar().add_working_days(ctx.now, s.refund_working_days)


def refund(ctx: Ctx, lot: Lot, party: str, reason: str, due: Ms | None = None) -> None:
    """Return all `party` still holds on this lot (nothing to write if that is nothing)."""
    amount = lot.deposits.get(party, 0)
    if amount:
        lot.deposits[party] = 0
        if due is None:
            due = refund_due(ctx, lot)
        ctx.emit("refund", lot=lot.id, party=party, amount=amount, reason=reason, due=due)


def refund_all(ctx: Ctx, lot: Lot, reason: str, keep: frozenset[str] | set[str] = frozenset()) -> None:
    """Refund every party still holding a deposit but those in `keep`, at once.

    One party: a `refund` entry naming it. Several: one `refund` entry listing them all in party
    order (`parties`: each `party` and `amount`), with the one reason and due date they share.
    """
    deposits = lot.deposits
    items = [{"party": p, "amount": held} for p, held in sorted(deposits.items()) if held and p not in keep]
    if not items:
        return
    due = refund_due(ctx, lot)
    if len(items) == 1:
        refund(ctx, lot, items[0]["party"], reason, due)
        return
    for item in items:
        deposits[item["party"]] = 0
    ctx.emit("refund", lot=lot.id, parties=items, reason=reason, due=due)


def revenue_split(price: Fen, s: SettlementParams) -> dict[str, Fen]:
    """The price divided into fee, inventors, transfer staff and institution; the parts sum to it."""
    fee = apply_bp(price, s.fee_bp)
    net = price - fee
    reward = -(-net * s.inventor_share_bp // 10_000) if s.institutional else 0  # rounded up: a minimum
    staff = -(-reward * s.transfer_staff_bp // 10_000)
    return {"fee": fee, "inventors": reward - staff, "transfer_staff": staff, "institution": net - reward}
