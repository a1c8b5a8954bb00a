"""Agreement pricing (协议定价) with public notice (公示), objections (异议) and optional competing offers.

The parties have negotiated a price and a buyer; the law (促进科技成果转化法 §18) requires a state
institution to publish the achievement and the intended price before the deal. The lot opens in
phase "notice" for `notice_days` **calendar** days (DOMAIN §3.1 says "15 days", not working days),
ending at the same instant `notice_days` × 24 h after the opening.

- Anyone may lodge an objection during the notice: "object" {lot, grounds} (the field is not
  called "reason", which is reserved for results). Objections are numbered from 0 in the order
  lodged; the operator resolves each: "resolve_objection" {lot, objection, upheld}. An upheld
  objection cancels the deal at once (no sale, reason "objection_upheld"); the seller may re-list
  the achievement by opening a new lot. A dismissed objection leaves the deal standing.
- At the notice end with no objection pending, the deal is struck at the negotiated price
  (rule "agreement.notice_passed"). With objections still pending, the lot passes into phase
  "objection_pending", which has no deadline: the lot waits for the operator, and the deal is
  struck when the last pending objection is dismissed (rule "agreement.objections_dismissed"),
  or cancelled when one is upheld. No objection can be lodged after the notice end.
- Optionally (`competing_offers`) a third party may offer more during the notice: "offer"
  {lot, amount}. The offeror must hold the deposit computed on the agreed price (the mode's
  opening price); the offer must be the agreed price plus a whole multiple of the auction
  increment, and at least the agreed price plus `competing_min_premium_bp`. The first valid offer
  converts the sale to an English auction that starts at the agreed price, with the offer
  standing as its opening bid (entry "opening_bid"): the offer is binding (the offeror leads at
  that amount and wins if nobody outbids it), and the deposit basis is unchanged. Every party
  holding the deposit may bid, so the original buyer competes by having the operator record its
  deposit ("deposit") at any time, before or after the conversion (free bidding lasts
  `auction_free_ms`). Objections still pending at a conversion lapse (entry "objection_lapsed":
  the negotiated deal they contest no longer exists). The negotiated buyer and the seller may
  not make competing offers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..model import DAY, HOUR, BasisPoints, Command, Fen, Ms, Rejected, apply_bp, percent, yuan
from . import english
from .base import Ctx, Lot, Mode, arg, at, nearest_valid, require_qualified, required_deposit

__all__ = ["MODE", "AgreementParams", "AgreementState", "Objection"]


@dataclass(frozen=True)
class AgreementParams:
    """Agreement-pricing rule settings (defaults from DOMAIN §3.1)."""

    price: Fen  # the negotiated price (协议价), published in the notice
    buyer: str  # the negotiated buyer
    notice_days: int = 15  # 公示期, calendar days
    competing_offers: bool = False  # a higher offer with a deposit converts the sale to an auction
    competing_min_premium_bp: BasisPoints = 0  # minimum premium of an offer over the price (0: any higher)
    auction_increment: Fen | None = None  # 加价幅度 of the converted auction; None: auction_increment_bp
    auction_increment_bp: BasisPoints = 100  # increment as a share of the agreed price (DOMAIN gives none)
    auction_free_ms: Ms = HOUR  # free bidding of the converted auction (time to admit the parties)
    auction_countdown_ms: Ms | None = None  # its countdown; None: the English setting (market layers)

    def check(self) -> None:
        """Reject impossible settings, naming the field."""
        if self.price <= 0:
            raise Rejected("bad_param", f"parameter 'price' must be positive (it is {yuan(self.price)})")
        if not self.buyer:
            raise Rejected("bad_param", "parameter 'buyer' must name the negotiated buyer, not be empty")
        if self.notice_days <= 0:
            raise Rejected(
                "bad_param", f"parameter 'notice_days' must be at least 1 calendar day (it is {self.notice_days})"
            )
        if self.competing_min_premium_bp < 0:
            raise Rejected(
                "bad_param",
                "parameter 'competing_min_premium_bp' must not be negative "
                f"(it is {percent(self.competing_min_premium_bp)})",
            )
        english.check_conversion_settings(self, free_ms_positive=False)

    def auction_overrides(self) -> dict[str, Any]:
        """The English auction a competing offer converts the sale to (its lot-level settings)."""
        return english.conversion_settings(self.price, self.increment(), self)

    def increment(self) -> Fen:
        """The converted auction's increment: fixed, or a share of the price (at least one fen)."""
        if self.auction_increment is not None:
            return self.auction_increment
        return max(1, apply_bp(self.price, self.auction_increment_bp))  # 1: the smallest unit, one fen

    def min_offer(self) -> Fen:
        """The lowest valid competing offer: above the price by the premium, on the increment grid."""
        inc = self.increment()
        least = self.price + max(1, apply_bp(self.price, self.competing_min_premium_bp))
        steps = -(-(least - self.price) // inc)  # ceiling division
        return self.price + steps * inc


@dataclass(slots=True)
class Objection:
    """An objection (异议) to the published deal."""

    party: str
    grounds: str  # why (the command field is "grounds": "reason" is reserved for results)
    t: Ms
    status: str = "pending"  # pending, dismissed, upheld, lapsed


@dataclass(slots=True)
class AgreementState:
    """The live state of one agreement-pricing notice."""

    notice_end: Ms
    objections: list[Objection] = field(default_factory=list)

    def pending(self) -> int:
        """How many objections await the operator."""
        return sum(1 for o in self.objections if o.status == "pending")


def _open(ctx: Ctx, lot: Lot) -> None:
    p: AgreementParams = lot.params
    end = lot.opened_at + p.notice_days * DAY
    lot.state = AgreementState(notice_end=end)
    lot.phase = "notice"
    ctx.emit("phase", lot=lot.id, phase="notice", until=end, price=p.price, buyer=p.buyer)


def _check_notice(lot: Lot, now: Ms) -> None:
    s: AgreementState = lot.state
    if lot.phase != "notice" or now >= s.notice_end:
        raise Rejected("notice_over", f"the public notice of lot {lot.id} ended at {at(lot, s.notice_end)}")


def _object(ctx: Ctx, lot: Lot, cmd: Command) -> None:
    s: AgreementState = lot.state
    grounds = arg(cmd, "grounds", str)
    if not grounds.strip():
        raise Rejected("bad_command", f"field 'grounds' of an objection to lot {lot.id} must say why, not be empty")
    _check_notice(lot, ctx.now)
    ctx.accept("agreement.objection", objection=len(s.objections))
    s.objections.append(Objection(cmd["actor"], grounds, ctx.now))


def _resolve_objection(ctx: Ctx, lot: Lot, cmd: Command) -> None:
    p: AgreementParams = lot.params
    s: AgreementState = lot.state
    index = arg(cmd, "objection")
    upheld = arg(cmd, "upheld", bool)
    if index >= len(s.objections):
        count = len(s.objections)
        numbers = "it has none" if count == 0 else "its only one is 0" if count == 1 else f"they are 0 to {count - 1}"
        raise Rejected("unknown_objection", f"lot {lot.id} has no objection {index} ({numbers})")
    objection = s.objections[index]
    if objection.status != "pending":
        raise Rejected("objection_resolved", f"objection {index} to lot {lot.id} was already {objection.status}")
    if upheld:
        ctx.accept("agreement.objection_upheld")
        objection.status = "upheld"
        ctx.no_sale(lot, "objection_upheld")
        return
    ctx.accept("agreement.objection_dismissed")
    objection.status = "dismissed"
    if lot.phase == "objection_pending" and s.pending() == 0:
        ctx.deal(lot, p.buyer, p.price, "agreement.objections_dismissed", [])


def _offer(ctx: Ctx, lot: Lot, cmd: Command) -> None:
    p: AgreementParams = lot.params
    s: AgreementState = lot.state
    offeror = cmd["actor"]
    amount = arg(cmd, "amount")
    if not p.competing_offers:
        raise Rejected("offers_not_allowed", f"lot {lot.id} does not accept competing offers")
    _check_notice(lot, ctx.now)
    if offeror == p.buyer:
        raise Rejected(
            "buyer_cannot_offer",
            f"{offeror} is the negotiated buyer of lot {lot.id} and may not make a competing offer",
        )
    least = p.min_offer()
    if amount < least:
        raise Rejected(
            "offer_too_low",
            f"field 'amount' must be at least {yuan(least)} ({least} fen) to compete with the agreed price "
            f"of {yuan(p.price)} for lot {lot.id}",
        )
    inc = p.increment()
    if (amount - p.price) % inc:
        raise Rejected(
            "not_increment_multiple",
            f"field 'amount' must be the agreed price of {yuan(p.price)} for lot {lot.id} plus a whole multiple "
            f"of {yuan(inc)}; {nearest_valid(p.price, inc, amount, least, 'offer')}",
        )
    require_qualified(lot, offeror, required_deposit(lot, p.price))
    ctx.accept("agreement.competing_offer")
    for i, objection in enumerate(s.objections):
        if objection.status == "pending":
            objection.status = "lapsed"
            ctx.emit("objection_lapsed", lot=lot.id, objection=i, reason="converted")
    ctx.convert(lot, "english", p.auction_overrides())
    # The offer is binding: it stands as the auction's opening bid, ranked at the offer's time.
    english.opening_bid(ctx, lot, offeror, amount, "agreement.competing_offer")


def _next_deadline(lot: Lot) -> Ms | None:
    if lot.phase == "notice":
        return lot.state.notice_end
    return None  # objection_pending waits for the operator


def _on_deadline(ctx: Ctx, lot: Lot) -> None:
    p: AgreementParams = lot.params
    s: AgreementState = lot.state
    pending = s.pending()
    ctx.emit("notice_end", lot=lot.id, objections=len(s.objections), pending=pending)
    if pending:
        lot.phase = "objection_pending"
        ctx.emit("phase", lot=lot.id, phase="objection_pending", pending=pending)
        return
    ctx.deal(lot, p.buyer, p.price, "agreement.notice_passed", [])


def _view(lot: Lot, viewer: str | None) -> dict[str, Any]:
    p: AgreementParams = lot.params
    s: AgreementState = lot.state
    out: dict[str, Any] = {
        "price": p.price,
        "buyer": p.buyer,
        "notice_end": s.notice_end,
        "objections": len(s.objections),
        "pending_objections": s.pending(),
        "competing_offers": p.competing_offers,
    }
    if p.competing_offers:
        out["min_offer"] = p.min_offer()
        out["deposit"] = required_deposit(lot, p.price)
    if viewer is not None:
        out["my_objections"] = [
            {"objection": i, "status": o.status} for i, o in enumerate(s.objections) if o.party == viewer
        ]
    return out


MODE = Mode(
    name="agreement",
    params=AgreementParams,
    open=_open,
    commands={"object": _object, "resolve_objection": _resolve_objection, "offer": _offer},
    next_deadline=_next_deadline,
    on_deadline=_on_deadline,
    opening_price=lambda params: params.price,
    closable=False,  # the public notice period is required by law (促进科技成果转化法 §18): never cut short
    conversion=lambda params: ("english", params.auction_overrides()) if params.competing_offers else None,
    view=_view,
)
