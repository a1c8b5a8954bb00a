"""Sealed-bid auction (一次性报价): bids committed by hash, revealed after the commit window, first- or second-price.

Why commit-reveal: nobody — the operator included — can read or change a bid before the bidding
closes, yet an auditor can check every price from the ledger alone. The ledger holds only a
bidder's hash until the reveal window; a reveal must open that exact hash.

Windows: commit from the lot's opening for `bid_ms`, then reveal for `reveal_ms`. A lot with no
commitment at the end of the commit window closes at once without a sale (no reveal window).

Commitment (normative; clients compute it with `commitment`):
    SHA-256( b"auction-engine/sealed-bid/v1\\n" + lot + b"\\n" + bidder + b"\\n" + amount + b"\\n" + nonce )
where lot and bidder are UTF-8 (neither may contain a newline, so the fields split one way only),
amount is the bid in fen as ASCII decimal digits (no sign, no leading zeros), and nonce is the
bidder's secret random bytes, at least `min_nonce_bytes` long (it hides the amount: without it a
hash over a few million possible prices could be inverted by trying them all). Binding the lot and
bidder means a commitment copied from someone else's entry cannot be opened by the copier.

Choices:
- One commitment per bidder, final once accepted (`already_committed`): DOMAIN §3.3 says an
  accepted bid cannot be withdrawn, and 一次性报价 is a one-time offer; a replaceable commitment
  would be a withdrawal.
- `price_rule` has no default: first- and second-price give different prices for the same bids,
  so the market, sub-market or lot must say which it runs (the open entry records it).
- A mismatching reveal is refused (`commitment_mismatch`) and the bid stays unrevealed; the bidder
  may try again until the reveal window ends.
- A bid is valid when revealed with amount ≥ min_price. Void bids (unrevealed, or below min_price)
  lose their deposit when `unrevealed` is "forfeit" (the default: an unrevealed bid could be a
  bidder hiding a price it regrets), or are refunded with everyone else's when it is "refund".
- Winner: the highest valid amount; ties by commitment time, then commitment arrival order
  (价格优先、时间优先). The winner's amount must reach the reserve, else no sale.
- First-price: the winner pays its own amount. Second-price: the winner pays
  max(second-highest valid amount, min_price, reserve) — with one valid bid that is
  max(min_price, reserve); the reserve also lifts a lower second bid (the price never falls below
  the reserve, which is the second-price auction with reserve of DOMAIN §5).
- After the reveal window a `close` entry lists every revealed amount (valid or not), so the ledger
  alone shows how the price follows from the bids.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Literal

from ..model import DAY, HOUR, Command, Fen, Ms, Rejected, duration, yuan
from .base import Ctx, Lot, Mode, Ranked, arg, at, phase_text, require_qualified, required_deposit

__all__ = ["COMMITMENT_PREFIX", "MODE", "Commitment", "SealedParams", "SealedState", "commitment"]

COMMITMENT_PREFIX = b"auction-engine/sealed-bid/v1\n"
HASH_BYTES = hashlib.sha256().digest_size


def commitment(lot: str, bidder: str, amount: Fen, nonce: bytes) -> bytes:
    """The 32-byte SHA-256 commitment to a sealed bid (format in the module docstring)."""
    if "\n" in lot or "\n" in bidder:
        raise ValueError("lot and bidder ids must not contain a newline")
    if type(amount) is not int or amount < 0:
        raise ValueError("amount must be a non-negative integer of fen")
    data = b"\n".join((lot.encode(), bidder.encode(), str(amount).encode("ascii"), bytes(nonce)))
    return hashlib.sha256(COMMITMENT_PREFIX + data).digest()


@dataclass(frozen=True)
class SealedParams:
    """Sealed-bid auction rule settings (DOMAIN §3.3)."""

    price_rule: Literal["first", "second"]  # first: pay your bid; second: pay the second-highest (Vickrey)
    min_price: Fen  # bids below are void at reveal; the deposit percentage applies to it
    reserve: Fen | None = None  # 保留价: the winner's bid below it → no sale
    bid_ms: Ms = DAY  # commit window, from the lot's opening
    reveal_ms: Ms = HOUR  # reveal window, after the commit window
    unrevealed: Literal["forfeit", "refund"] = "forfeit"  # the deposit of a void (unrevealed or below-min) bid
    min_nonce_bytes: int = 16  # shortest nonce a reveal may use (it hides the amount)

    def check(self) -> None:
        """Reject settings that make no auction (each message names the field)."""
        if self.min_price <= 0:
            raise Rejected("bad_param", f"parameter 'min_price' must be positive (it is {yuan(self.min_price)})")
        if self.reserve is not None and self.reserve <= 0:
            raise Rejected("bad_param", f"parameter 'reserve' must be positive (it is {yuan(self.reserve)})")
        if self.bid_ms <= 0:
            raise Rejected("bad_param", f"parameter 'bid_ms' must be positive (it is {duration(self.bid_ms)})")
        if self.reveal_ms <= 0:
            raise Rejected("bad_param", f"parameter 'reveal_ms' must be positive (it is {duration(self.reveal_ms)})")
        if self.min_nonce_bytes <= 0:
            raise Rejected(
                "bad_param", f"parameter 'min_nonce_bytes' must be at least 1 byte (it is {self.min_nonce_bytes})"
            )


@dataclass(slots=True)
class Commitment:
    """One bidder's sealed bid: the hash until revealed, then the amount."""

    hash: bytes
    t: Ms  # when it was committed (the time tie-break)
    order: int  # commitment arrival order (the last tie-break)
    amount: Fen | None = None  # set by a matching reveal


@dataclass(slots=True)
class SealedState:
    """The live state of one sealed-bid auction."""

    commit_end: Ms
    reveal_end: Ms
    commits: dict[str, Commitment] = field(default_factory=dict)
    revealed: int = 0


def _open(ctx: Ctx, lot: Lot) -> None:
    p: SealedParams = lot.params
    commit_end = lot.opened_at + p.bid_ms
    lot.state = SealedState(commit_end=commit_end, reveal_end=commit_end + p.reveal_ms)
    lot.phase = "commit"


def _commit(ctx: Ctx, lot: Lot, cmd: Command) -> None:
    p: SealedParams = lot.params
    s: SealedState = lot.state
    bidder = cmd["actor"]
    if lot.phase != "commit":
        raise Rejected(
            "commit_closed",
            f"lot {lot.id} took sealed bids until {at(lot, s.commit_end)} and is now {phase_text(lot.phase)}",
        )
    if ctx.now >= s.commit_end:  # the engine fires due deadlines first; this is the belt to those braces
        raise Rejected("late_commit", f"lot {lot.id} took sealed bids until {at(lot, s.commit_end)}")
    digest = arg(cmd, "hash", bytes)
    if len(digest) != HASH_BYTES:
        raise Rejected(
            "bad_hash", f"field 'hash' must be the {HASH_BYTES}-byte SHA-256 commitment, not {len(digest)} bytes"
        )
    if "\n" in bidder or "\n" in lot.id:
        raise Rejected(
            "bad_command",
            f"lot {lot.id!r} cannot take a sealed bid from {bidder!r}: the commitment forbids a newline in either id",
        )
    require_qualified(lot, bidder, required_deposit(lot, p.min_price))
    if bidder in s.commits:
        raise Rejected(
            "already_committed",
            f"{bidder} has already committed a sealed bid on lot {lot.id}, and sealed bids are final",
        )
    ctx.accept("sealed.commit")
    s.commits[bidder] = Commitment(digest, ctx.now, len(s.commits) + 1)


def _reveal(ctx: Ctx, lot: Lot, cmd: Command) -> None:
    s: SealedState = lot.state
    bidder = cmd["actor"]
    if lot.phase == "commit":
        raise Rejected(
            "reveal_not_open", f"lot {lot.id} takes reveals from {at(lot, s.commit_end)}, when its sealed bidding ends"
        )
    if lot.phase != "reveal":
        raise Rejected("lot_closed", f"lot {lot.id} is not taking reveals: it is {phase_text(lot.phase)}")
    if ctx.now >= s.reveal_end:  # belt to the engine's braces, as above
        raise Rejected("late_reveal", f"lot {lot.id} took reveals until {at(lot, s.reveal_end)}")
    mine = s.commits.get(bidder)
    if mine is None:
        raise Rejected("no_commitment", f"{bidder} has no sealed bid on lot {lot.id} to reveal")
    if mine.amount is not None:
        raise Rejected("already_revealed", f"{bidder} has already revealed its sealed bid on lot {lot.id}")
    try:
        _open_commitment(ctx, lot, cmd, mine)
    except Rejected as rej:
        rej.disclose = True  # the reveal window is open: publishing a failed reveal is the point
        raise


def _open_commitment(ctx: Ctx, lot: Lot, cmd: Command, mine: Any) -> None:
    """Check the revealed amount and nonce against the commitment and record the bid."""
    p: SealedParams = lot.params
    s: SealedState = lot.state
    bidder = cmd["actor"]
    amount = arg(cmd, "amount")
    nonce = arg(cmd, "nonce", bytes)
    if len(nonce) < p.min_nonce_bytes:
        raise Rejected(
            "nonce_too_short",
            f"field 'nonce' must be at least {p.min_nonce_bytes} bytes on lot {lot.id}, not {len(nonce)} bytes",
        )
    if commitment(lot.id, bidder, amount, nonce) != mine.hash:
        raise Rejected(
            "commitment_mismatch",
            f"fields 'amount' and 'nonce' do not open {bidder}'s commitment on lot {lot.id}; reveal again "
            f"with the exact amount in fen and nonce committed, before {at(lot, s.reveal_end)}",
        )
    ctx.accept("sealed.reveal", valid=amount >= p.min_price)
    mine.amount = amount
    s.revealed += 1


def _next_deadline(lot: Lot) -> Ms | None:
    if lot.phase == "commit":
        return lot.state.commit_end
    if lot.phase == "reveal":
        return lot.state.reveal_end
    return None


def _on_deadline(ctx: Ctx, lot: Lot) -> None:
    s: SealedState = lot.state
    if lot.phase == "commit" and s.commits:
        lot.phase = "reveal"
        ctx.emit("phase", lot=lot.id, phase="reveal", until=s.reveal_end, commitments=len(s.commits))
        return
    _close(ctx, lot)


def _close(ctx: Ctx, lot: Lot) -> None:
    """Publish the revealed bids, void the rest, and pick the winner and the price."""
    p: SealedParams = lot.params
    s: SealedState = lot.state
    lot.phase = "closed"
    by_priority = sorted(s.commits.items(), key=lambda kv: (-(kv[1].amount or 0), kv[1].t, kv[1].order))
    revealed = [
        {"bidder": b, "amount": c.amount, "committed_t": c.t, "valid": c.amount >= p.min_price}
        for b, c in by_priority
        if c.amount is not None
    ]
    unrevealed = [b for b, c in sorted(s.commits.items(), key=lambda kv: kv[1].order) if c.amount is None]
    ctx.emit("close", lot=lot.id, commitments=len(s.commits), revealed=revealed, unrevealed=unrevealed)
    ranking = [
        Ranked(b, c.amount, c.t, c.order) for b, c in by_priority if c.amount is not None and c.amount >= p.min_price
    ]
    if p.unrevealed == "forfeit":
        for bidder, c in sorted(s.commits.items(), key=lambda kv: kv[1].order):
            if c.amount is not None and c.amount >= p.min_price:
                continue
            held = lot.deposits.get(bidder, 0)
            if held:
                lot.deposits[bidder] = 0
                reason = "unrevealed" if c.amount is None else "below_min_price"
                ctx.emit("forfeit", lot=lot.id, party=bidder, amount=held, reason=reason)
    if not s.commits:
        ctx.no_sale(lot, "no_bids")
        return
    if not ranking:
        ctx.no_sale(lot, "no_valid_bids")
        return
    winner = ranking[0]
    if p.reserve is not None and winner.amount < p.reserve:
        ctx.no_sale(lot, "reserve_not_met")
        return
    if p.price_rule == "first":
        price = winner.amount
    else:
        second = ranking[1].amount if len(ranking) > 1 else 0
        price = max(second, p.min_price, p.reserve or 0)
    ctx.deal(lot, winner.bidder, price, f"sealed.{p.price_rule}_price", ranking)


def _view(lot: Lot, viewer: str | None) -> dict[str, Any]:
    """Counts and windows only, for everyone (operator included); a bidder also sees its own status."""
    p: SealedParams = lot.params
    s: SealedState = lot.state
    out: dict[str, Any] = {
        "price_rule": p.price_rule,
        "min_price": p.min_price,
        "commit_until": s.commit_end,
        "reveal_until": s.reveal_end,
        "deadline": s.commit_end if lot.phase == "commit" else s.reveal_end,
        "commitments": len(s.commits),
        "revealed": s.revealed,
    }
    mine = s.commits.get(viewer) if viewer is not None else None
    if viewer is not None:
        out["my_commitment"] = (
            None
            if mine is None
            else {
                "hash": mine.hash.hex(),
                "t": mine.t,
                "revealed": mine.amount is not None,
            }
        )
    return out


MODE = Mode(
    name="sealed",
    params=SealedParams,
    open=_open,
    commands={"commit": _commit, "reveal": _reveal},
    secret_fields={"reveal": ("amount", "nonce")},
    # While bids are sealed, a refused buyer's command of any op (a `bid` or `offer` sent here by mistake, a
    # `proxy`) does not publish an amount: its entry withholds these fields (docs/rules.md §10).
    private_fields=("amount", "down", "max", "nonce", "price", "schedule"),
    next_deadline=_next_deadline,
    on_deadline=_on_deadline,
    opening_price=lambda params: params.min_price,
    view=_view,
)
