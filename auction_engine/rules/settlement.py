"""After the pricing mode: deal, confirmation, publication, payment, default, second chance, split.

A pricing mode hands a lot over with `start` (a deal: buyer, price, ranking of the other bidders)
or `no_sale` (流拍). Every number below is a `SettlementParams` field; every money movement is its
own ledger entry; times are integer ms and working days follow `lot.settlement.calendar()`.

Phases: ``awaiting_payment`` → ``settled`` (paid in full), or → ``second_chance`` (the buyer
defaulted and a runner-up holds an offer) → ``awaiting_payment`` again (offer accepted) or
``no_sale`` (nobody left). ``cancelled`` is a terminal phase a mode may use; it has no deadline.

The rules, as an operator should read them:

1. **Deal** (`deal` entry: lot, seller, buyer, mode, rule, price, and what an auditor needs to
   follow the money: the buyer's deposit credited to the price `deposit`, the cash still due
   `cash`, the payment `plan` as ``[[due, cumulative cash due by then], ...]``, the first payment
   deadline `due`, the end of publication `publication_until`, and the `backups` whose deposits
   stay held). The payment deadline is `payment_working_days` working days after the deal.
2. **Losers' deposits** are refunded at once (one `refund` entry with reason ``lost``, listing the
   losers under `parties` when there are several); each refund entry carries `due`: the instant,
   `refund_working_days` working days later, by which the money must have reached the party.
   Exception: the best `second_chance_offers` runners-up (ranking order: price, then time, then
   arrival) that hold a deposit and whose best bid meets the lot's reserve (if its mode has one)
   keep their deposit as backups while a second chance is possible (a bidder with no deposit at
   stake is never held to an offer; `second_chance_offers` = 0 or `second_chance` off: nobody is
   held). Backups are released (reason ``buyer_paid``) as soon as the buyer meets the first payment
   deadline's amount (the lump sum, or the down payment of a plan) — so a runner-up is never held
   for a year of instalments — and with reason ``deal_settled`` when the deal settles.
3. **Deposit as part payment**: the buyer's deposit counts toward the price (保证金转价款), up to
   the price: credit = min(deposit, price), cash due = price − credit. It is applied when the
   price is fully covered (`deposit_applied` entry); any deposit above the price is refunded then
   (reason ``excess``). If the deposit covers the whole price the deal settles at once.
4. **Payment plans**: lump sum by default (the whole cash by `due`). If `instalments` is true,
   the buyer (or an operator for the buyer) may choose once, before confirming or paying
   (afterwards ``plan_fixed``), a plan
   ``payment_plan {down, schedule: [[due_ms, amount], ...]}``: `down` is cash due by the first
   payment deadline; the deposit counts toward the down payment, so down + credit must reach
   ⌈price × min_down_payment_bp⌉ (``plan_down_too_low``); instalment dates must be strictly
   increasing and after the first deadline (``bad_plan``), none later than the deal plus
   `max_instalment_days` calendar days (``plan_too_long``); down + Σ amounts must equal the cash
   due exactly (``plan_wrong_sum``). Each plan amount has its own deadline.
5. **Payment** (`pay`, operator only: money received; an optional `payer` must be the buyer, else
   ``wrong_payer``): any amount from 1 fen (``bad_amount``) up to the cash still due (more is
   ``overpayment``); outside ``awaiting_payment`` it is ``not_awaiting_payment``. Payments count
   cumulatively, so paying ahead of a plan is fine. A deadline is missed (reason ``unpaid``) when
   the cash paid by then is below the plan's cumulative amount for it.
6. **Confirmation** (成交确认书): ``confirm`` by the buyer (or an operator) records the signed terms
   (buyer, seller, price, mode, plan) and fixes the plan. If `require_confirmation` is true, the
   buyer must confirm by the first payment deadline (else default, reason ``not_confirmed``) and
   the deal settles only once confirmed; otherwise confirmation is an optional record.
7. **Settlement** when the cash is paid (and confirmation given if required): `deposit_applied`,
   refunds of everything still held, then `split` and `settled` (phase ``settled``; the engine
   then issues the transaction code).
8. **Revenue split** (`split` entry, the parts sum exactly to the price): fee = ⌊price × fee_bp⌋
   (a charge, rounded in the payer's favour); net = price − fee; for an institutional achievement
   (职务科技成果) the inventors' reward = ⌈net × inventor_share_bp⌉ and the transfer staff's part of
   it = ⌈reward × transfer_staff_bp⌉ — rounded up because the law sets minimum shares (≥ 70%,
   ≥ 5%), so a fen of rounding never takes anyone below the minimum; `inventors` is the reward less
   the staff part; the institution gets the remainder, net − reward. A non-institutional seller
   gets the whole net (reported under `institution`, with `institutional` false).
9. **Publication** of the result (公示) starts with the deal entry and lasts
   `publication_working_days`; at its end a `published` entry is written. The deal is **final**
   (`final` entry; certificates may be issued) once it is both settled and published, whichever
   comes last. With 0 days the result is published at once. A second-chance deal is published
   anew; a deal voided by default before its publication ends is never marked published. When the
   end of publication and a payment deadline fall on the same instant, publication ends first.
10. **Default**: at a missed deadline the buyer defaults (`default` entry with the reason, the
    deadline, the amount required and paid). The buyer's whole deposit is forfeited (`forfeit`);
    cash already paid is returned (`repay`): the forfeited deposit is the agreed penalty, and the
    seller keeps the achievement. Then, if `second_chance` is on and a backup is left, the best
    backup gets a `second_chance_offer` at their own best bid (not the defaulted price), open for
    `second_chance_working_days`. Where the forfeited deposit goes (seller, market) is the operator's
    business outside this ledger; the `forfeit` entry records that it left the buyer.
    ``accept_offer`` (the runner-up, or an operator for them) makes a new `deal` with rule
    ``settlement.second_chance`` (their deposit is credited, later backups stay held);
    ``decline_offer`` or the offer lapsing (`offer_lapsed`) refunds that runner-up without penalty
    (they bid under no obligation to take a lot someone else won) and the next backup is offered.
    With no backup left: `no_sale` (reason ``buyer_default``) and every deposit still held is refunded.

Money is conserved to the fen on every path: each deposit ends as refunded, forfeited or applied
(the buyer's may be partly applied and partly refunded as excess), and each payment ends applied
to the price (recorded in `settled.paid`) or repaid.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

from ..model import DAY, Command, Fen, Ms, Rejected, percent, yuan
from .base import Ctx, Lot, Ranked, arg, at, phase_text
from .settlement_money import refund, refund_all, revenue_split

__all__ = [
    "COMMANDS",
    "PHASES",
    "PHASE_COMMANDS",
    "Deal",
    "next_deadline",
    "no_sale",
    "on_deadline",
    "revenue_split",
    "start",
    "view",
]

_TIME_ORDER = attrgetter("t", "order")
_AMOUNT = attrgetter("amount")
PHASES = frozenset({"awaiting_payment", "second_chance", "settled", "no_sale", "cancelled"})
_DEAL_STANDS = frozenset({"awaiting_payment", "settled"})


@dataclass(slots=True)
class Deal:
    """A struck deal and its payment progress (amounts in fen, times in ms)."""

    buyer: str
    price: Fen
    rule: str
    struck_at: Ms
    due: Ms  # first payment deadline: the lump sum or the down payment (and the confirmation)
    credit: Fen  # the buyer's deposit counted toward the price: min(deposit, price)
    publication_until: Ms
    plan: list[tuple[Ms, Fen]]  # (deadline, cumulative cash due by then), both increasing
    backups: list[Ranked] = field(default_factory=list)  # runners-up whose deposits are held, best first
    paid: Fen = 0  # cash received
    deposit_applied: Fen = 0
    planned: bool = False  # the buyer chose a payment plan
    confirmed: bool = False  # 成交确认书 signed
    published: bool = False
    final: bool = False
    offer: Ranked | None = None  # the runner-up holding a second-chance offer
    offer_until: Ms = 0
    offers: int = 0  # second-chance offers made for this lot so far

    @property
    def cash(self) -> Fen:
        """Cash due in total: the price less the deposit credited."""
        return self.price - self.credit


# -- the deal -------------------------------------------------------------------------------------


def _backups(lot: Lot, buyer: str, ranking: list[Ranked]) -> list[Ranked]:
    """The runners-up to hold as backups: best first, with a deposit, meeting the reserve."""
    s = lot.settlement
    limit = s.second_chance_offers if s.second_chance else 0
    if limit == 0:
        return []
    reserve = getattr(lot.params, "reserve", None)
    seen = {buyer}
    out: list[Ranked] = []
    # Best first: price down, then time and order up. Two stable sorts, time and order first, then
    # price descending (reverse keeps equal prices in their time order).
    ranked = sorted(ranking, key=_TIME_ORDER)
    ranked.sort(key=_AMOUNT, reverse=True)
    for r in ranked:
        if len(out) >= limit:
            break
        if r.bidder in seen:
            continue
        seen.add(r.bidder)
        if lot.deposits.get(r.bidder, 0) <= 0 or r.amount <= 0:
            continue  # no deposit at stake: not held to an offer
        if type(reserve) is int and r.amount < reserve:
            continue
        out.append(r)
    return out


def _plan_out(deal: Deal) -> list[list[int]]:
    return [[due, cum] for due, cum in deal.plan]


def _strike(ctx: Ctx, lot: Lot, buyer: str, price: Fen, rule: str, backups: list[Ranked], offers: int) -> None:
    """Record a deal, refund everyone who is neither the buyer nor a backup, wait for payment."""
    s = lot.settlement
    cal = s.calendar()
    now = ctx.now
    due = cal.add_working_days(now, s.payment_working_days)
    credit = min(lot.deposits.get(buyer, 0), price)
    until = cal.add_working_days(now, s.publication_working_days)
    deal = Deal(buyer, price, rule, now, due, credit, until, [(due, price - credit)], backups, offers=offers)
    lot.deal = deal
    lot.phase = "awaiting_payment"
    ctx.emit(
        "deal",
        lot=lot.id,
        seller=lot.seller,
        buyer=buyer,
        mode=lot.mode,
        rule=rule,
        price=price,
        deposit=credit,
        cash=deal.cash,
        due=due,
        plan=_plan_out(deal),
        publication_until=until,
        backups=[b.bidder for b in backups],
    )
    refund_all(ctx, lot, "lost", keep={buyer} | {b.bidder for b in backups})
    if until <= now:
        _publish(ctx, lot)
    _progress(ctx, lot)


def start(ctx: Ctx, lot: Lot, buyer: str, price: Fen, rule: str, ranking: list[Ranked]) -> None:
    """The mode struck a deal: record it, refund the losers (backups excepted), wait for payment."""
    _strike(ctx, lot, buyer, price, rule, _backups(lot, buyer, ranking), 0)


def no_sale(ctx: Ctx, lot: Lot, reason: str) -> None:
    """The lot ends without a buyer (流拍): refund every deposit still held."""
    lot.phase = "no_sale"
    ctx.emit("no_sale", lot=lot.id, reason=reason, mode=lot.mode)
    refund_all(ctx, lot, "no_sale")


def _progress(ctx: Ctx, lot: Lot) -> None:
    """After a payment, plan or confirmation: settle if everything is in, else release backups if secure."""
    deal: Deal = lot.deal
    if not deal.confirmed and lot.settlement.require_confirmation:
        return
    if deal.paid >= deal.cash:
        _complete(ctx, lot)
    elif deal.backups and deal.paid >= deal.plan[0][1]:  # the first deadline is met: release the backups
        for backup in deal.backups:
            refund(ctx, lot, backup.bidder, "buyer_paid")
        deal.backups = []


def _complete(ctx: Ctx, lot: Lot) -> None:
    deal: Deal = lot.deal
    deal.backups = []
    if deal.credit:
        lot.deposits[deal.buyer] -= deal.credit
        deal.deposit_applied = deal.credit
        ctx.emit("deposit_applied", lot=lot.id, party=deal.buyer, amount=deal.credit)
    refund(ctx, lot, deal.buyer, "excess")
    refund_all(ctx, lot, "deal_settled")
    lot.phase = "settled"
    s = lot.settlement
    parts = revenue_split(deal.price, s)
    ctx.emit(
        "split",
        lot=lot.id,
        seller=lot.seller,
        price=deal.price,
        institutional=s.institutional,
        fee_bp=s.fee_bp,
        inventor_share_bp=s.inventor_share_bp if s.institutional else 0,
        transfer_staff_bp=s.transfer_staff_bp if s.institutional else 0,
        **parts,
    )
    ctx.emit(
        "settled", lot=lot.id, buyer=deal.buyer, price=deal.price, paid=deal.paid, deposit_applied=deal.deposit_applied
    )
    if deal.published:
        _finalize(ctx, lot)


def _publish(ctx: Ctx, lot: Lot) -> None:
    deal: Deal = lot.deal
    deal.published = True
    ctx.emit("published", lot=lot.id, buyer=deal.buyer, price=deal.price, since=deal.struck_at)
    if lot.phase == "settled":
        _finalize(ctx, lot)


def _finalize(ctx: Ctx, lot: Lot) -> None:
    deal: Deal = lot.deal
    deal.final = True
    ctx.emit("final", lot=lot.id, seller=lot.seller, buyer=deal.buyer, mode=lot.mode, rule=deal.rule, price=deal.price)


# -- default and second chance --------------------------------------------------------------------


def _missed(lot: Lot, now: Ms) -> tuple[str, Ms, Fen] | None:
    """The first obligation due at or before `now` and not met: (reason, deadline, amount required)."""
    deal: Deal = lot.deal
    if lot.settlement.require_confirmation and not deal.confirmed and deal.due <= now:
        return "not_confirmed", deal.due, deal.plan[0][1]
    for due, cum in deal.plan:
        if cum > deal.paid:
            return ("unpaid", due, cum) if due <= now else None
    return None


def _default(ctx: Ctx, lot: Lot, reason: str, due: Ms, required: Fen) -> None:
    deal: Deal = lot.deal
    ctx.emit(
        "default",
        lot=lot.id,
        buyer=deal.buyer,
        price=deal.price,
        reason=reason,
        due=due,
        required=required,
        paid=deal.paid,
    )
    forfeited = lot.deposits.get(deal.buyer, 0)
    if forfeited:
        lot.deposits[deal.buyer] = 0
        ctx.emit("forfeit", lot=lot.id, party=deal.buyer, amount=forfeited, reason="payment_default")
    if deal.paid:
        ctx.emit("repay", lot=lot.id, party=deal.buyer, amount=deal.paid, reason="default")
    _next_offer(ctx, lot)


def _next_offer(ctx: Ctx, lot: Lot) -> None:
    """Offer the lot to the best backup left, or end in no sale."""
    deal: Deal = lot.deal
    deal.offer = None
    while deal.backups:
        backup = deal.backups.pop(0)
        if lot.deposits.get(backup.bidder, 0) <= 0:
            continue
        s = lot.settlement
        deal.offer = backup
        deal.offer_until = s.calendar().add_working_days(ctx.now, s.second_chance_working_days)
        deal.offers += 1
        lot.phase = "second_chance"
        ctx.emit(
            "second_chance_offer",
            lot=lot.id,
            party=backup.bidder,
            price=backup.amount,
            until=deal.offer_until,
            offer=deal.offers,
        )
        return
    no_sale(ctx, lot, "buyer_default")


# -- commands -------------------------------------------------------------------------------------


def _awaiting(lot: Lot) -> Deal:
    if lot.phase != "awaiting_payment" or lot.deal is None:
        raise Rejected("not_awaiting_payment", f"lot {lot.id} is not awaiting payment: it is {phase_text(lot.phase)}")
    deal: Deal = lot.deal
    return deal


def _require_buyer(ctx: Ctx, lot: Lot, deal: Deal, actor: str) -> None:
    if actor != deal.buyer and not ctx.is_operator(actor):
        raise Rejected("not_buyer", f"{actor} is neither the buyer of lot {lot.id} nor an operator")


def _pay(ctx: Ctx, lot: Lot, cmd: Command) -> None:
    """The operator confirms money received from the buyer."""
    deal = _awaiting(lot)
    amount = arg(cmd, "amount")
    payer = cmd.get("payer", deal.buyer)
    if payer != deal.buyer:
        raise Rejected("wrong_payer", f"field 'payer' is {payer!r}, but the buyer of lot {lot.id} is {deal.buyer!r}")
    remaining = deal.cash - deal.paid
    if amount == 0:
        raise Rejected("bad_amount", f"field 'amount' of a payment on lot {lot.id} must be at least ¥0.01 (1 fen)")
    if amount > remaining:
        raise Rejected(
            "overpayment",
            f"field 'amount' is {yuan(amount)} but only {yuan(remaining)} ({remaining} fen) is still due "
            f"on lot {lot.id}",
        )
    ctx.accept("settlement.payment", remaining=remaining - amount)
    deal.paid += amount
    _progress(ctx, lot)


def _schedule(cmd: Command) -> list[tuple[Ms, Fen]]:
    raw = cmd.get("schedule", [])
    if type(raw) not in (list, tuple):
        raise Rejected(
            "bad_plan", "field 'schedule' must be a list of [due, amount] pairs (epoch milliseconds and fen)"
        )
    items: list[tuple[Ms, Fen]] = []
    for i, item in enumerate(raw):
        if type(item) not in (list, tuple) or len(item) != 2 or any(type(v) is not int for v in item):
            raise Rejected(
                "bad_plan", f"field 'schedule' item {i} must be a pair [due, amount] of integers (epoch ms and fen)"
            )
        if item[1] <= 0:
            raise Rejected(
                "bad_plan", f"the amount of field 'schedule' item {i} must be at least ¥0.01 (1 fen), not {item[1]} fen"
            )
        items.append((item[0], item[1]))
    return items


def _payment_plan(ctx: Ctx, lot: Lot, cmd: Command) -> None:
    """The buyer chooses instalments: a down payment by the first deadline, then dated amounts."""
    deal = _awaiting(lot)
    _require_buyer(ctx, lot, deal, cmd["actor"])
    s = lot.settlement
    if not s.instalments:
        raise Rejected("instalments_not_allowed", f"lot {lot.id} must be paid in a lump sum, not by instalments")
    if deal.planned or deal.confirmed or deal.paid:
        raise Rejected(
            "plan_fixed",
            f"the payment plan of lot {lot.id} can no longer change: it was already chosen, confirmed or paid into",
        )
    down = arg(cmd, "down")
    items = _schedule(cmd)
    after, previous = deal.due, "the first payment deadline"
    for i, (due, _) in enumerate(items):
        if due <= after:
            raise Rejected(
                "bad_plan",
                f"field 'schedule' item {i} must be due after {previous}, {at(lot, after)}, not {at(lot, due)}",
            )
        after, previous = due, f"item {i}"
    last = deal.struck_at + s.max_instalment_days * DAY
    if items and items[-1][0] > last:
        raise Rejected(
            "plan_too_long",
            f"the last instalment in field 'schedule' must be due by {at(lot, last)}, {s.max_instalment_days} days "
            f"after the deal on lot {lot.id}, not {at(lot, items[-1][0])}",
        )
    needed = -(-deal.price * s.min_down_payment_bp // 10_000)
    if down + deal.credit < needed:
        raise Rejected(
            "plan_down_too_low",
            f"field 'down' ({yuan(down)}) plus the deposit credited ({yuan(deal.credit)}) must reach "
            f"{yuan(needed)}, {percent(s.min_down_payment_bp)} of the price of lot {lot.id}, so 'down' must be "
            f"at least {yuan(needed - deal.credit)} ({needed - deal.credit} fen)",
        )
    total = down + sum(amount for _, amount in items)
    if total != deal.cash:
        raise Rejected(
            "plan_wrong_sum",
            f"fields 'down' and 'schedule' add up to {yuan(total)} but the cash due on lot {lot.id} is "
            f"{yuan(deal.cash)} ({deal.cash} fen)",
        )
    plan = [(deal.due, down)]
    for due, amount in items:
        plan.append((due, plan[-1][1] + amount))
    ctx.accept("settlement.payment_plan", plan=[[d, c] for d, c in plan], deposit=deal.credit)
    deal.plan = plan
    deal.planned = True
    _progress(ctx, lot)


def _confirm(ctx: Ctx, lot: Lot, cmd: Command) -> None:
    """The buyer signs the deal confirmation (成交确认书): the terms are recorded and fixed."""
    deal = _awaiting(lot)
    _require_buyer(ctx, lot, deal, cmd["actor"])
    if deal.confirmed:
        raise Rejected("already_confirmed", f"the deal on lot {lot.id} has already been confirmed")
    ctx.accept(
        "settlement.confirm",
        seller=lot.seller,
        buyer=deal.buyer,
        mode=lot.mode,
        price=deal.price,
        plan=_plan_out(deal),
    )
    deal.confirmed = True
    _progress(ctx, lot)


def _offered(ctx: Ctx, lot: Lot, cmd: Command) -> Ranked:
    deal: Deal | None = lot.deal
    if lot.phase != "second_chance" or deal is None or deal.offer is None:
        raise Rejected("no_offer", f"lot {lot.id} has no second-chance offer open: it is {phase_text(lot.phase)}")
    actor = cmd["actor"]
    if actor != deal.offer.bidder and not ctx.is_operator(actor):
        raise Rejected(
            "not_offered", f"the second-chance offer on lot {lot.id} is made to {deal.offer.bidder}, not to {actor}"
        )
    return deal.offer


def _accept_offer(ctx: Ctx, lot: Lot, cmd: Command) -> None:
    """The runner-up takes the lot at their own best bid: a new deal."""
    offer = _offered(ctx, lot, cmd)
    ctx.accept("settlement.accept_offer", party=offer.bidder, price=offer.amount)
    deal: Deal = lot.deal
    _strike(ctx, lot, offer.bidder, offer.amount, "settlement.second_chance", deal.backups, deal.offers)


def _decline_offer(ctx: Ctx, lot: Lot, cmd: Command) -> None:
    """The runner-up declines: their deposit is refunded, the next backup is offered."""
    offer = _offered(ctx, lot, cmd)
    ctx.accept("settlement.decline_offer", party=offer.bidder)
    refund(ctx, lot, offer.bidder, "offer_declined")
    _next_offer(ctx, lot)


# -- deadlines and view ---------------------------------------------------------------------------


def _payment_due(deal: Deal) -> Ms | None:
    """The deadline of the first plan amount not yet covered by the cash paid."""
    return next((due for due, cum in deal.plan if cum > deal.paid), None)


def next_deadline(lot: Lot) -> Ms | None:
    """The next instant settlement must act on: publication end, a payment deadline, an offer's end."""
    deal: Deal | None = lot.deal
    if deal is None:
        return None
    if lot.phase == "second_chance":
        return deal.offer_until
    times: list[Ms] = []
    if lot.phase in _DEAL_STANDS and not deal.published:
        times.append(deal.publication_until)
    if lot.phase == "awaiting_payment":
        if lot.settlement.require_confirmation and not deal.confirmed:
            times.append(deal.due)
        due = _payment_due(deal)
        if due is not None:
            times.append(due)
    return min(times) if times else None


def on_deadline(ctx: Ctx, lot: Lot) -> None:
    """End publication, default an unpaid buyer, or lapse an unanswered offer, as the time says."""
    deal: Deal = lot.deal
    now = ctx.now
    if lot.phase == "second_chance":
        if deal.offer is not None and deal.offer_until <= now:
            party = deal.offer.bidder
            ctx.emit("offer_lapsed", lot=lot.id, party=party)
            refund(ctx, lot, party, "offer_lapsed")
            _next_offer(ctx, lot)
        return
    if lot.phase in _DEAL_STANDS and not deal.published and deal.publication_until <= now:
        _publish(ctx, lot)
    if lot.phase == "awaiting_payment":
        missed = _missed(lot, now)
        if missed is not None:
            _default(ctx, lot, *missed)


def view(lot: Lot) -> dict[str, Any]:
    """What anyone may see of a lot in settlement."""
    deal: Deal | None = lot.deal
    if deal is None:
        return {}
    out: dict[str, Any] = {
        "buyer": deal.buyer,
        "price": deal.price,
        "deposit_credit": deal.credit,
        "cash": deal.cash,
        "paid": deal.paid,
        "due": _payment_due(deal) if lot.phase == "awaiting_payment" else None,
        "plan": _plan_out(deal),
        "confirmed": deal.confirmed,
        "published": deal.published,
        "final": deal.final,
    }
    if lot.phase == "second_chance" and deal.offer is not None:
        out["offer"] = {"party": deal.offer.bidder, "price": deal.offer.amount, "until": deal.offer_until}
    return out


COMMANDS = {
    "pay": _pay,
    "payment_plan": _payment_plan,
    "confirm": _confirm,
    "accept_offer": _accept_offer,
    "decline_offer": _decline_offer,
}
# The commands each settlement phase takes (the others have none): named in a refusal's message.
PHASE_COMMANDS: dict[str, tuple[str, ...]] = {
    "awaiting_payment": ("confirm", "pay", "payment_plan"),
    "second_chance": ("accept_offer", "decline_offer"),
}
